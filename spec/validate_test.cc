#include "spec/validate.h"

#include <cmath>
#include <string>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace tether::spec {
namespace {

using tether::v1::ServiceSpec;

constexpr char kNameRule[] =
    "service names are RFC 1035 labels (lowercase letters, digits and '-', "
    "starting with a letter and ending with a letter or digit, at most 63 "
    "characters) because they name Kubernetes objects and DNS records";

// A valid spec with `text` merged over it.
ServiceSpec Spec(const std::string& text = "") {
  ServiceSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "hello"
        callable { module: "hello" name: "greet" }
      )pb",
      &spec));
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(text, &spec))
      << text;
  return spec;
}

std::string Error(const ServiceSpec& spec) {
  absl::Status status = ValidateServiceSpec(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
      << spec.DebugString();
  return std::string(status.message());
}

TEST(ValidateServiceSpecTest, AcceptsMinimalAndFullSpecs) {
  EXPECT_TRUE(ValidateServiceSpec(Spec()).ok());
  EXPECT_TRUE(ValidateServiceSpec(Spec(R"pb(
                name: "a0-b-9"
                compute {
                  cpus: "500m"
                  memory: "1.5Gi"
                  gpus: 2
                  image: "ghcr.io/org/img:1.0@sha256:abc"
                  env { key: "_PRIVATE" value: "x" }
                  env { key: "PATH2" value: "" }
                  replicas: 0
                  workers: 4
                  allowed_serialization: [ CODEC_JSON, CODEC_PICKLE ]
                  preload: [ "torch", "numpy.linalg", "_private" ]
                  freeze: true
                }
                callable {
                  runtime: RUNTIME_PYTHON
                  module: "pkg.sub_mod"
                  name: "Model"
                  init_args { values { number_value: 1 } }
                  init_kwargs {
                    fields {
                      key: "lr"
                      value { number_value: 0.1 }
                    }
                  }
                }
              )pb"))
                  .ok());
  EXPECT_TRUE(
      ValidateServiceSpec(Spec(R"pb(
        callable { runtime: RUNTIME_NATIVE module: "lib/libecho.so" name: "" }
      )pb"))
          .ok());
  EXPECT_TRUE(ValidateServiceSpec(Spec(R"pb(name: "a")pb")).ok());
  EXPECT_TRUE(
      ValidateServiceSpec(Spec("name: \"" + std::string(63, 'a') + "\"")).ok());
  // Python 3 identifiers may be non-ASCII.
  EXPECT_TRUE(
      ValidateServiceSpec(Spec(R"pb(callable { name: "grüß" })pb")).ok());
}

TEST(ValidateServiceSpecTest, DefaultsPassValidation) {
  EXPECT_TRUE(ValidateServiceSpec(WithDefaults(Spec())).ok());
}

TEST(ValidateServiceSpecTest, Name) {
  EXPECT_EQ(Error(Spec(R"pb(name: "")pb")),
            std::string("name: required; ") + kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "Hello")pb")),
            std::string("name: \"Hello\" is not a valid service name: it "
                        "contains uppercase 'H'; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "my_svc")pb")),
            std::string("name: \"my_svc\" is not a valid service name: it "
                        "contains '_'; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "a.b")pb")),
            std::string("name: \"a.b\" is not a valid service name: it "
                        "contains '.'; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "a b")pb")),
            std::string("name: \"a b\" is not a valid service name: it "
                        "contains ' '; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "a\tb")pb")),
            std::string("name: \"a\\tb\" is not a valid service name: it "
                        "contains byte 0x09; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "1abc")pb")),
            std::string("name: \"1abc\" is not a valid service name: it "
                        "starts with '1'; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "-abc")pb")),
            std::string("name: \"-abc\" is not a valid service name: it "
                        "starts with '-'; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "abc-")pb")),
            std::string("name: \"abc-\" is not a valid service name: it "
                        "ends with '-'; ") +
                kNameRule);
  const std::string long_name(64, 'a');
  EXPECT_EQ(Error(Spec("name: \"" + long_name + "\"")),
            "name: \"" + long_name +
                "\" is not a valid service name: it is 64 characters long; " +
                kNameRule);
}

TEST(ValidateServiceNameTest, MessagesHaveNoFieldPath) {
  EXPECT_TRUE(ValidateServiceName("hello-2").ok());
  EXPECT_EQ(std::string(ValidateServiceName("").message()),
            std::string("service name is empty; ") + kNameRule);
  EXPECT_EQ(std::string(ValidateServiceName("X").message()),
            std::string("\"X\" is not a valid service name: it contains "
                        "uppercase 'X'; ") +
                kNameRule);
  EXPECT_EQ(ValidateServiceName("X").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidateServiceSpecTest, Quantities) {
  EXPECT_EQ(Error(Spec(R"pb(compute { memory: "-1Gi" })pb")),
            "compute.memory: \"-1Gi\" is negative");
  EXPECT_EQ(Error(Spec(R"pb(compute { cpus: "-1" })pb")),
            "compute.cpus: \"-1\" is negative");
  EXPECT_EQ(Error(Spec(R"pb(compute { cpus: "two" })pb")),
            "compute.cpus: \"two\" is not a quantity (expected a number with "
            "an optional suffix, such as \"500m\", \"2\", \"1.5Gi\" or "
            "\"1e3\")");
  EXPECT_EQ(Error(Spec(R"pb(compute { cpus: "0" })pb")),
            "compute.cpus: \"0\" is zero; leave the field out to request no "
            "CPU");
  EXPECT_EQ(Error(Spec(R"pb(compute { memory: "0Gi" })pb")),
            "compute.memory: \"0Gi\" is zero; leave the field out to request "
            "no memory");
  EXPECT_EQ(Error(Spec(R"pb(compute { memory: "4GB" })pb")),
            "compute.memory: \"4GB\" has an unknown suffix \"GB\"; did you "
            "mean \"G\" (10^9) or \"Gi\" (2^30)?");
  EXPECT_EQ(Error(Spec(R"pb(compute { memory: "512m" })pb")),
            "compute.memory: \"512m\" is not a whole number of bytes (\"m\" "
            "means milli; did you mean \"512Mi\"?)");
  EXPECT_EQ(Error(Spec(R"pb(compute { memory: "0.5" })pb")),
            "compute.memory: \"0.5\" is not a whole number of bytes");
  // Fractional CPUs are normal.
  EXPECT_TRUE(
      ValidateServiceSpec(Spec(R"pb(compute { cpus: "0.25" })pb")).ok());
  EXPECT_TRUE(ValidateServiceSpec(Spec(R"pb(compute { cpus: "1n" })pb")).ok());
}

TEST(ValidateServiceSpecTest, Counts) {
  EXPECT_EQ(Error(Spec(R"pb(compute { gpus: -1 })pb")),
            "compute.gpus: must not be negative, got -1");
  EXPECT_EQ(Error(Spec(R"pb(compute { replicas: -3 })pb")),
            "compute.replicas: must not be negative, got -3 (0 means the "
            "default, 1)");
  EXPECT_EQ(Error(Spec(R"pb(compute { workers: -1 })pb")),
            "compute.workers: must not be negative, got -1 (0 means the "
            "default, 1)");
}

TEST(ValidateServiceSpecTest, Image) {
  EXPECT_EQ(Error(Spec(R"pb(compute { image: "python 3" })pb")),
            "compute.image: \"python 3\" is not an image reference (it "
            "contains ' ')");
  EXPECT_EQ(Error(Spec(R"pb(compute { image: "python\n" })pb")),
            "compute.image: \"python\\n\" is not an image reference (it "
            "contains byte 0x0a)");
}

TEST(ValidateServiceSpecTest, Env) {
  EXPECT_EQ(Error(Spec(R"pb(compute { env { key: "MY-VAR" value: "1" } })pb")),
            "compute.env: \"MY-VAR\" is not a valid environment variable name "
            "(use letters, digits and '_', not starting with a digit)");
  EXPECT_EQ(Error(Spec(R"pb(compute { env { key: "1X" value: "1" } })pb")),
            "compute.env: \"1X\" is not a valid environment variable name "
            "(use letters, digits and '_', not starting with a digit)");
  EXPECT_EQ(Error(Spec(R"pb(compute { env { key: "" value: "1" } })pb")),
            "compute.env: \"\" is not a valid environment variable name "
            "(use letters, digits and '_', not starting with a digit)");
  EXPECT_EQ(Error(Spec(R"pb(compute { env { key: "A" value: "x\0y" } })pb")),
            "compute.env.A: contains a NUL character, which environment "
            "variables cannot hold");
  // The first bad name in sorted order, whatever the map order.
  EXPECT_EQ(Error(Spec(R"pb(compute {
                              env { key: "b-" value: "" }
                              env { key: "a-" value: "" }
                            })pb")),
            "compute.env: \"a-\" is not a valid environment variable name "
            "(use letters, digits and '_', not starting with a digit)");
}

TEST(ValidateServiceSpecTest, AllowedSerialization) {
  EXPECT_EQ(
      Error(Spec(R"pb(compute {
                        allowed_serialization: [ CODEC_JSON, CODEC_UNSPECIFIED ]
                      })pb")),
      "compute.allowed_serialization[1]: CODEC_UNSPECIFIED is not a "
      "codec (use json, pickle or raw)");
  EXPECT_EQ(
      Error(Spec(
          R"pb(compute {
                 allowed_serialization: [ CODEC_RAW, CODEC_JSON, CODEC_RAW ]
               })pb")),
      "compute.allowed_serialization[2]: duplicate of [0] (raw)");
  ServiceSpec spec = Spec();
  spec.mutable_compute()->add_allowed_serialization(
      static_cast<tether::v1::Codec>(7));
  EXPECT_EQ(Error(spec),
            "compute.allowed_serialization[0]: unknown codec 7 (use json, "
            "pickle or raw)");
}

TEST(ValidateServiceSpecTest, Preload) {
  EXPECT_EQ(Error(Spec(R"pb(compute { preload: [ "torch", "" ] })pb")),
            "compute.preload[1]: empty module name");
  EXPECT_EQ(Error(Spec(R"pb(compute { preload: [ "torch-nn" ] })pb")),
            "compute.preload[0]: \"torch-nn\" is not a Python module path "
            "(expected dotted identifiers such as \"torch\" or \"pkg.mod\")");
  EXPECT_EQ(Error(Spec(R"pb(compute { preload: [ "torch..nn" ] })pb")),
            "compute.preload[0]: \"torch..nn\" is not a Python module path "
            "(expected dotted identifiers such as \"torch\" or \"pkg.mod\")");
  EXPECT_EQ(Error(Spec(R"pb(compute { preload: [ "torch." ] })pb")),
            "compute.preload[0]: \"torch.\" is not a Python module path "
            "(expected dotted identifiers such as \"torch\" or \"pkg.mod\")");
  EXPECT_EQ(Error(Spec(R"pb(compute { preload: [ "2d" ] })pb")),
            "compute.preload[0]: \"2d\" is not a Python module path "
            "(expected dotted identifiers such as \"torch\" or \"pkg.mod\")");
  EXPECT_EQ(Error(Spec(R"pb(compute { preload: [ "pkg.import" ] })pb")),
            "compute.preload[0]: \"pkg.import\" is not a Python module path: "
            "\"import\" is a Python keyword");
}

TEST(ValidateServiceSpecTest, CallableRequired) {
  ServiceSpec spec = Spec();
  spec.clear_callable();
  EXPECT_EQ(Error(spec),
            "callable: required: the module and name of the function or class "
            "to serve");
  ServiceSpec bad_runtime = Spec();
  bad_runtime.mutable_callable()->set_runtime(
      static_cast<tether::v1::Runtime>(9));
  EXPECT_EQ(Error(bad_runtime),
            "callable.runtime: unknown runtime 9 (use python or native)");
}

TEST(ValidateServiceSpecTest, PythonCallable) {
  EXPECT_EQ(Error(Spec(R"pb(callable { module: "" })pb")),
            "callable.module: required: the Python module that defines the "
            "callable, e.g. \"hello\" or \"pkg.mod\"");
  EXPECT_EQ(Error(Spec(R"pb(callable { module: "hello.py" })pb")),
            "callable.module: \"hello.py\" looks like a file path; write the "
            "module path \"hello\"");
  EXPECT_EQ(Error(Spec(R"pb(callable { module: "./pkg/mod.py" })pb")),
            "callable.module: \"./pkg/mod.py\" looks like a file path; write "
            "the module path \"pkg.mod\"");
  EXPECT_EQ(Error(Spec(R"pb(callable { module: "pkg/mod" })pb")),
            "callable.module: \"pkg/mod\" looks like a file path; write the "
            "module path \"pkg.mod\"");
  EXPECT_EQ(Error(Spec(R"pb(callable { module: "my-mod" })pb")),
            "callable.module: \"my-mod\" is not a Python module path "
            "(expected dotted identifiers such as \"hello\" or \"pkg.mod\")");
  EXPECT_EQ(Error(Spec(R"pb(callable { module: "class" })pb")),
            "callable.module: \"class\" is not a Python module path: "
            "\"class\" is a Python keyword");
  EXPECT_EQ(Error(Spec(R"pb(callable { name: "" })pb")),
            "callable.name: required: the function or class in "
            "callable.module");
  EXPECT_EQ(Error(Spec(R"pb(callable { name: "greet()" })pb")),
            "callable.name: \"greet()\" is not a Python identifier (the name "
            "of a function or class in callable.module)");
  EXPECT_EQ(Error(Spec(R"pb(callable { name: "Model.predict" })pb")),
            "callable.name: \"Model.predict\" is not a Python identifier (the "
            "name of a function or class in callable.module)");
  EXPECT_EQ(Error(Spec(R"pb(callable { name: "def" })pb")),
            "callable.name: \"def\" is a Python keyword");
  EXPECT_EQ(
      Error(Spec(R"pb(callable { runtime: RUNTIME_PYTHON name: "9x" })pb")),
      "callable.name: \"9x\" is not a Python identifier (the name of a "
      "function or class in callable.module)");
}

TEST(ValidateServiceSpecTest, InitArgumentsMustBeJson) {
  ServiceSpec spec = Spec();
  auto* kwargs =
      spec.mutable_callable()->mutable_init_kwargs()->mutable_fields();
  (*kwargs)["ok"].set_number_value(1);
  (*kwargs)["lr"].mutable_list_value()->add_values()->set_number_value(
      std::nan(""));
  EXPECT_EQ(Error(spec),
            "callable.init_kwargs.lr[0]: nan has no JSON "
            "representation");
  ServiceSpec args = Spec();
  auto* nested = args.mutable_callable()
                     ->mutable_init_args()
                     ->add_values()
                     ->mutable_struct_value()
                     ->mutable_fields();
  (*nested)["x"].set_number_value(INFINITY);
  EXPECT_EQ(Error(args),
            "callable.init_args[0].x: inf has no JSON "
            "representation");
}

TEST(ValidateServiceSpecTest, NativeCallable) {
  EXPECT_EQ(
      Error(Spec(R"pb(callable { runtime: RUNTIME_NATIVE module: "" })pb")),
      "callable.module: required: the shared library's path relative to "
      "the code root, e.g. \"lib/libecho.so\"");
  EXPECT_EQ(Error(Spec(R"pb(callable {
                              runtime: RUNTIME_NATIVE
                              module: "/lib/x.so"
                            })pb")),
            "callable.module: \"/lib/x.so\" must be relative to the code root");
  EXPECT_EQ(
      Error(Spec(
          R"pb(callable { runtime: RUNTIME_NATIVE module: "../x.so" })pb")),
      "callable.module: \"../x.so\" must stay inside the code root (no \"..\" "
      "components)");
  EXPECT_EQ(Error(Spec(R"pb(callable {
                              runtime: RUNTIME_NATIVE
                              module: "lib/../../x.so"
                            })pb")),
            "callable.module: \"lib/../../x.so\" must stay inside the code "
            "root (no \"..\" components)");
  EXPECT_EQ(
      Error(Spec(R"pb(callable { runtime: RUNTIME_NATIVE module: "lib/" })pb")),
      "callable.module: \"lib/\" names a directory, not a shared "
      "library");
  EXPECT_EQ(Error(Spec(R"pb(callable {
                              runtime: RUNTIME_NATIVE
                              module: "lib/x.so"
                              init_args { values { number_value: 1 } }
                            })pb")),
            "callable.init_args: only python callables take constructor "
            "arguments");
  EXPECT_EQ(Error(Spec(R"pb(callable {
                              runtime: RUNTIME_NATIVE
                              module: "lib/x.so"
                              init_kwargs {
                                fields {
                                  key: "a"
                                  value { number_value: 1 }
                                }
                              }
                            })pb")),
            "callable.init_kwargs: only python callables take constructor "
            "arguments");
  // "..x" is a name, not a parent reference.
  EXPECT_TRUE(ValidateServiceSpec(Spec(R"pb(callable {
                                              runtime: RUNTIME_NATIVE
                                              module: "..x/a.so"
                                            })pb"))
                  .ok());
}

TEST(ValidateServiceSpecTest, ReportsTheFirstProblemInFieldOrder) {
  EXPECT_EQ(Error(Spec(R"pb(name: "X"
                            compute { gpus: -1 }
                            callable { module: "" })pb"))
                .substr(0, 5),
            "name:");
  EXPECT_EQ(Error(Spec(R"pb(compute { gpus: -1 }
                            callable { module: "" })pb")),
            "compute.gpus: must not be negative, got -1");
}

TEST(WithDefaultsTest, FillsZeroValues) {
  ServiceSpec spec = WithDefaults(Spec());
  EXPECT_EQ(spec.compute().replicas(), 1);
  EXPECT_EQ(spec.compute().workers(), 1);
  EXPECT_EQ(spec.callable().runtime(), tether::v1::RUNTIME_PYTHON);
  ASSERT_EQ(spec.compute().allowed_serialization_size(), 2);
  EXPECT_EQ(spec.compute().allowed_serialization(0), tether::v1::CODEC_JSON);
  EXPECT_EQ(spec.compute().allowed_serialization(1), tether::v1::CODEC_RAW);
  EXPECT_EQ(spec.name(), "hello");
  EXPECT_EQ(spec.callable().module(), "hello");
}

TEST(WithDefaultsTest, KeepsSetValues) {
  ServiceSpec spec = WithDefaults(Spec(R"pb(
    compute {
      replicas: 3
      workers: 2
      allowed_serialization: [ CODEC_PICKLE ]
    }
    callable { runtime: RUNTIME_NATIVE }
  )pb"));
  EXPECT_EQ(spec.compute().replicas(), 3);
  EXPECT_EQ(spec.compute().workers(), 2);
  EXPECT_EQ(spec.callable().runtime(), tether::v1::RUNTIME_NATIVE);
  ASSERT_EQ(spec.compute().allowed_serialization_size(), 1);
  EXPECT_EQ(spec.compute().allowed_serialization(0), tether::v1::CODEC_PICKLE);
}

TEST(CodecAllowedTest, DefaultsToJsonAndRaw) {
  const ServiceSpec spec = Spec();
  EXPECT_TRUE(CodecAllowed(spec, tether::v1::CODEC_JSON));
  EXPECT_TRUE(CodecAllowed(spec, tether::v1::CODEC_UNSPECIFIED));
  EXPECT_TRUE(CodecAllowed(spec, tether::v1::CODEC_RAW));
  EXPECT_FALSE(CodecAllowed(spec, tether::v1::CODEC_PICKLE));
}

TEST(CodecAllowedTest, ExplicitListIsExact) {
  const ServiceSpec spec =
      Spec(R"pb(compute { allowed_serialization: [ CODEC_PICKLE ] })pb");
  EXPECT_TRUE(CodecAllowed(spec, tether::v1::CODEC_PICKLE));
  EXPECT_FALSE(CodecAllowed(spec, tether::v1::CODEC_JSON));
  EXPECT_FALSE(CodecAllowed(spec, tether::v1::CODEC_UNSPECIFIED));
  EXPECT_FALSE(CodecAllowed(spec, tether::v1::CODEC_RAW));
  const ServiceSpec json =
      Spec(R"pb(compute { allowed_serialization: [ CODEC_JSON ] })pb");
  EXPECT_TRUE(CodecAllowed(json, tether::v1::CODEC_UNSPECIFIED));
}

}  // namespace
}  // namespace tether::spec
