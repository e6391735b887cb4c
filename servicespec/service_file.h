#ifndef TETHER_SERVICESPEC_SERVICE_FILE_H_
#define TETHER_SERVICESPEC_SERVICE_FILE_H_

// service.yaml: what `tether deploy -f` reads.
//
//   name: hello
//   code: .              # optional; directory to upload, relative to this file
//   compute: {cpus: "1", memory: 1Gi, replicas: 2}
//   callable: {module: hello, name: greet}

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tether/v1/service.pb.h"

namespace tether::servicespec {

struct ServiceFile {
  /// The spec as written (validated; defaults not filled in).
  tether::v1::ServiceSpec spec;
  /// Directory whose tree is uploaded as the service's code.
  std::string code_dir;
};

/// Reads, converts (see YamlToProto) and validates (see ValidateServiceSpec)
/// a service file. Its top level holds ServiceSpec's fields plus an optional
/// `code:` directory, relative to the file's directory (default: the file's
/// directory); `code_dir` is returned as an absolute, symlink-free path and
/// must be an existing directory.
///
/// Every error message starts with `path` as given: NOT_FOUND
/// "service.yaml: no such file"; INVALID_ARGUMENT
/// "service.yaml:3:7: YAML syntax error: ..." (1-based line and column),
/// "service.yaml: compute.replicas: expected an integer, got \"two\"",
/// "service.yaml: code: directory \"src\" does not exist (...)".
absl::StatusOr<ServiceFile> LoadServiceFile(const std::string& path);

/// The pure part of LoadServiceFile: `yaml` is the file's contents, `path`
/// names it in messages and anchors `code`. `code_dir` is joined lexically
/// (relative when `path` is) and not checked against the file system.
absl::StatusOr<ServiceFile> ParseServiceFile(absl::string_view yaml,
                                             const std::string& path);

}  // namespace tether::servicespec

#endif  // TETHER_SERVICESPEC_SERVICE_FILE_H_
