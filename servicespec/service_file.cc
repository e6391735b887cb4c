#include "servicespec/service_file.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/diagnostics.h"
#include "common/files.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "servicespec/validate.h"
#include "servicespec/yaml_proto.h"
#include "yaml-cpp/yaml.h"

namespace tether::servicespec {
namespace {

constexpr absl::string_view kCodeKey = "code";

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string JoinPath(const std::string& dir, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  if (dir == ".") return path;
  if (path == ".") return dir;
  if (!dir.empty() && dir.back() == '/') return dir + path;
  return absl::StrCat(dir, "/", path);
}

// Top-level keys that are neither ServiceSpec fields nor `code`, reported
// with `code` among the suggestions (YamlToProto does not know about it).
absl::Status CheckTopLevelKeys(const YAML::Node& root) {
  const google::protobuf::Descriptor* type =
      tether::v1::ServiceSpec::descriptor();
  std::vector<std::string> names;
  for (int i = 0; i < type->field_count(); ++i) {
    names.push_back(type->field(i)->name());
  }
  names.push_back(std::string(kCodeKey));
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (!it->first.IsScalar()) continue;  // YamlToProto reports it.
    const std::string& key = it->first.Scalar();
    bool known = key == kCodeKey;
    for (int i = 0; i < type->field_count() && !known; ++i) {
      known =
          key == type->field(i)->name() || key == type->field(i)->json_name();
    }
    if (known) continue;
    const std::string suggestion = ClosestMatch(key, names);
    if (!suggestion.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          key, ": unknown field (did you mean ", Quote(suggestion), "?)"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        key, ": unknown field (expected one of: ", absl::StrJoin(names, ", "),
        ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ServiceFile> Parse(absl::string_view yaml,
                                  const std::string& path) {
  std::vector<YAML::Node> documents;
  try {
    documents = LoadAllYaml(std::string(yaml));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": YAML syntax error: ", e.msg));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e.mark.line + 1, ":", e.mark.column + 1,
                     ": YAML syntax error: ", e.msg));
  }
  if (documents.empty() || documents[0].IsNull()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        ": the file is empty; expected a service spec with at least "
        "name and callable"));
  }
  if (documents.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected one YAML document, found ",
                     documents.size(), " (separated by ---)"));
  }
  const YAML::Node& root = documents[0];
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": expected a mapping of fields (name, compute, callable, "
                     "code) at the top level, got ",
                     root.IsSequence() ? "a list" : Quote(root.Scalar())));
  }
  absl::Status status = CheckTopLevelKeys(root);
  if (!status.ok()) return WithContext(path, status);

  // Everything but `code` is ServiceSpec; force_insert keeps duplicate keys
  // so YamlToProto still reports them.
  YAML::Node spec_node(YAML::NodeType::Map);
  std::string code = ".";
  bool code_seen = false;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == kCodeKey) {
      if (code_seen) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": code: duplicate key"));
      }
      code_seen = true;
      // A copy: `it->second` lives in a temporary that dies with this line.
      const YAML::Node value = it->second;
      if (value.IsNull()) continue;
      if (!value.IsScalar() || value.Scalar().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": code: expected a directory path, got ",
            value.IsScalar() ? "\"\""
                             : (value.IsSequence() ? "a list" : "a mapping")));
      }
      code = value.Scalar();
      continue;
    }
    spec_node.force_insert(it->first, it->second);
  }
  ServiceFile file;
  status = YamlToProto(spec_node, &file.spec);
  if (!status.ok()) return WithContext(path, status);
  status = ValidateServiceSpec(file.spec);
  if (!status.ok()) return WithContext(path, status);
  file.code_dir = JoinPath(DirName(path), code);
  return file;
}

}  // namespace

absl::StatusOr<ServiceFile> ParseServiceFile(absl::string_view yaml,
                                             const std::string& path) {
  // yaml-cpp reports misuse by throwing; no exception leaves this function.
  try {
    return Parse(yaml, path);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": invalid YAML: ", e.msg));
  }
}

absl::StatusOr<ServiceFile> LoadServiceFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) {
    if (absl::IsNotFound(contents.status())) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    }
    return contents.status();
  }
  ASSIGN_OR_RETURN(ServiceFile file, ParseServiceFile(*contents, path));
  struct stat st;
  if (stat(file.code_dir.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": code: directory ",
                                                   Quote(file.code_dir, 4096),
                                                   " does not exist"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": code: ", Quote(file.code_dir, 4096), " is not a directory"));
  }
  char resolved[PATH_MAX];
  if (realpath(file.code_dir.c_str(), resolved) == nullptr) {
    return ErrnoStatus(errno, "realpath", file.code_dir);
  }
  file.code_dir = resolved;
  return file;
}

}  // namespace tether::servicespec
