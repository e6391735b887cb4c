"""cc_proto: C++ (and optionally gRPC) code for .proto files, using Debian's protoc.

Native proto_library needs @com_google_protobuf, which cannot be fetched offline,
so a genrule runs the system protoc and grpc_cpp_plugin instead.
"""

def cc_proto(name, srcs, deps = [], grpc = False, visibility = None):
    """Generates and compiles srcs into cc_library `name`.

    Args:
      name: the cc_library to create.
      srcs: .proto files in this package.
      deps: other cc_proto targets whose .proto files srcs import.
      grpc: also generate gRPC service stubs.
      visibility: of the cc_library.
    """
    bases = [s[:-len(".proto")] for s in srcs]
    hdrs = [b + ".pb.h" for b in bases]
    cc_srcs = [b + ".pb.cc" for b in bases]
    if grpc:
        hdrs += [b + ".grpc.pb.h" for b in bases]
        cc_srcs += [b + ".grpc.pb.cc" for b in bases]
    proto_deps = [d + "_protos" for d in deps]
    native.filegroup(
        name = name + "_protos",
        srcs = srcs + proto_deps,
        visibility = visibility,
    )
    # Used from //proto only: import paths are rooted there ("tether/v1/x.proto"),
    # as clients in other languages see them, and C++ includes
    # "tether/v1/x.pb.h" likewise.
    out = "$(GENDIR)/proto"
    cmd = "protoc -Iproto -I/usr/include --cpp_out=" + out
    if grpc:
        cmd += " --grpc_out=%s --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin" % out
    native.genrule(
        name = name + "_gen",
        srcs = srcs + proto_deps,
        outs = hdrs + cc_srcs,
        cmd = cmd + " " + " ".join(["$(location %s)" % s for s in srcs]),
    )
    native.cc_library(
        name = name,
        srcs = cc_srcs,
        hdrs = hdrs,
        includes = ["."],
        deps = deps + ["//third_party:protobuf"] + (["//third_party:grpc"] if grpc else []),
        visibility = visibility,
    )
