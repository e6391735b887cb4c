#include "servicespec/validate.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/diagnostics.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "kube/names.h"
#include "servicespec/quantity.h"

namespace tether::servicespec {
namespace {

using tether::v1::App;
using tether::v1::Callable;
using tether::v1::Codec;
using tether::v1::Compute;
using tether::v1::ServiceSpec;

constexpr size_t kMaxNameLength = 63;

constexpr absl::string_view kNameRule =
    "service names are RFC 1035 labels (lowercase letters, digits and '-', "
    "starting with a letter and ending with a letter or digit, at most 63 "
    "characters) because they name Kubernetes objects and DNS records";

absl::Status Invalid(absl::string_view path, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", reason));
}

std::string DescribeChar(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  if (u < 0x20 || u >= 0x7F) return absl::StrFormat("byte 0x%02x", u);
  return absl::StrCat("'", std::string(1, c), "'");
}

bool IsCIdentifier(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return false;
    }
  }
  return true;
}

// Python 3 accepts non-ASCII identifiers (PEP 3131), so bytes >= 0x80 pass
// here; the runner's import reports any remaining problem precisely.
bool IsPythonIdentifier(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!absl::ascii_isalnum(u) && c != '_' && u < 0x80) return false;
  }
  return true;
}

bool IsPythonKeyword(absl::string_view s) {
  static constexpr absl::string_view kKeywords[] = {
      "False",  "None",   "True",    "and",      "as",       "assert", "async",
      "await",  "break",  "class",   "continue", "def",      "del",    "elif",
      "else",   "except", "finally", "for",      "from",     "global", "if",
      "import", "in",     "is",      "lambda",   "nonlocal", "not",    "or",
      "pass",   "raise",  "return",  "try",      "while",    "with",   "yield"};
  for (absl::string_view keyword : kKeywords) {
    if (s == keyword) return true;
  }
  return false;
}

// Checks a dotted module path ("pkg.mod"); `what` names it in messages.
absl::Status CheckModulePath(absl::string_view path, absl::string_view module,
                             absl::string_view what) {
  const std::string example =
      absl::StrCat("dotted identifiers such as \"", what, "\" or \"pkg.mod\"");
  for (absl::string_view part : absl::StrSplit(module, '.')) {
    if (IsPythonKeyword(part)) {
      return Invalid(
          path, absl::StrCat(Quote(module), " is not a Python module path: ",
                             Quote(part), " is a Python keyword"));
    }
    if (!IsPythonIdentifier(part)) {
      return Invalid(path, absl::StrCat(Quote(module),
                                        " is not a Python module path "
                                        "(expected ",
                                        example, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckQuantity(absl::string_view path, const std::string& text,
                           absl::string_view zero_hint, bool whole) {
  absl::StatusOr<Quantity> quantity = ParseQuantity(text);
  if (!quantity.ok()) return Invalid(path, quantity.status().message());
  if (quantity->IsZero()) {
    return Invalid(path, absl::StrCat(Quote(text), " is zero; ", zero_hint));
  }
  if (whole && !quantity->IsWhole()) {
    std::string hint;
    if (absl::EndsWith(text, "m")) {
      hint = absl::StrCat(
          " (\"m\" means milli; did you mean ",
          Quote(absl::StrCat(text.substr(0, text.size() - 1), "Mi")), "?)");
    }
    return Invalid(path, absl::StrCat(Quote(text),
                                      " is not a whole number of bytes", hint));
  }
  return absl::OkStatus();
}

absl::Status CheckNotNegative(absl::string_view path, int64_t value,
                              absl::string_view note) {
  if (value >= 0) return absl::OkStatus();
  return Invalid(path, absl::StrCat("must not be negative, got ", value, note));
}

// Struct values become JSON for the Python runner, which has no NaN/Inf.
absl::Status CheckJsonValue(absl::string_view path,
                            const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      if (!std::isfinite(value.number_value())) {
        return Invalid(path, absl::StrCat(value.number_value(),
                                          " has no JSON representation"));
      }
      return absl::OkStatus();
    case google::protobuf::Value::kStructValue: {
      // Sorted keys: the first error does not depend on map order.
      std::vector<std::string> keys;
      for (const auto& [key, unused] : value.struct_value().fields()) {
        keys.push_back(key);
      }
      std::sort(keys.begin(), keys.end());
      for (const std::string& key : keys) {
        RETURN_IF_ERROR(CheckJsonValue(absl::StrCat(path, ".", key),
                                       value.struct_value().fields().at(key)));
      }
      return absl::OkStatus();
    }
    case google::protobuf::Value::kListValue:
      for (int i = 0; i < value.list_value().values_size(); ++i) {
        RETURN_IF_ERROR(CheckJsonValue(absl::StrCat(path, "[", i, "]"),
                                       value.list_value().values(i)));
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

// ---- Kubernetes names and paths ---------------------------------------------

absl::Status CheckDnsSubdomain(absl::string_view path, absl::string_view name,
                               absl::string_view what) {
  if (name.empty()) return Invalid(path, absl::StrCat("required: ", what));
  if (kube::IsDnsSubdomain(name)) return absl::OkStatus();
  return Invalid(path, absl::StrCat(Quote(name), " is not a valid ", what,
                                    " (lowercase letters, digits, '-' and '.', "
                                    "at most 253 characters)"));
}

// Mount paths are absolute and normalized so two of them can be compared.
absl::Status CheckMountPath(absl::string_view path, absl::string_view mount) {
  if (mount.empty()) return Invalid(path, "required: an absolute path");
  if (mount.front() != '/') {
    return Invalid(path, absl::StrCat(Quote(mount), " must be absolute"));
  }
  for (absl::string_view part : absl::StrSplit(mount.substr(1), '/')) {
    if (part == ".." || part == ".") {
      return Invalid(path, absl::StrCat(Quote(mount), " must not contain \"",
                                        part, "\" components"));
    }
  }
  if (absl::StrContains(mount, ':') || absl::StrContains(mount, '\0')) {
    return Invalid(path, absl::StrCat(Quote(mount), " contains ':' or NUL"));
  }
  return absl::OkStatus();
}

// Sorted keys of a string map: the first error does not depend on map order.
std::vector<std::string> SortedKeys(
    const google::protobuf::Map<std::string, std::string>& map) {
  std::vector<std::string> keys;
  for (const auto& [key, unused] : map) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

// Labels, annotations and node selectors share the key syntax; values are
// checked for labels and selectors only (annotation values are free text).
absl::Status CheckStringMap(
    absl::string_view path,
    const google::protobuf::Map<std::string, std::string>& map,
    bool check_values, bool reserve_tether_keys) {
  for (const std::string& key : SortedKeys(map)) {
    if (!kube::IsQualifiedName(key)) {
      return Invalid(
          path, absl::StrCat(Quote(key),
                             " is not a valid key (an optional DNS prefix "
                             "and '/', then at most 63 of letters, digits, "
                             "'-', '_' and '.', alphanumeric at both ends)"));
    }
    if (reserve_tether_keys && (absl::StartsWith(key, "tether.dev/") ||
                                absl::StartsWith(key, "app.kubernetes.io/"))) {
      return Invalid(path, absl::StrCat(Quote(key),
                                        " is reserved: Tether sets the "
                                        "tether.dev/ and app.kubernetes.io/ "
                                        "keys itself"));
    }
    if (check_values && !kube::IsLabelValue(map.at(key))) {
      return Invalid(absl::StrCat(path, ".", key),
                     absl::StrCat(Quote(map.at(key)),
                                  " is not a valid label value (at most 63 of "
                                  "letters, digits, '-', '_' and '.', "
                                  "alphanumeric at both ends)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDuration(absl::string_view path, const std::string& text,
                           int64_t max_seconds) {
  absl::StatusOr<int64_t> seconds = ParseDurationSeconds(text);
  if (!seconds.ok()) return Invalid(path, seconds.status().message());
  if (*seconds > max_seconds) {
    return Invalid(path, absl::StrCat(Quote(text), " is longer than the limit ",
                                      "of ", max_seconds, "s"));
  }
  return absl::OkStatus();
}

// Quantity `limit` (when set) must be at least `request` (when set).
absl::Status CheckLimit(absl::string_view path, const std::string& limit,
                        absl::string_view request_path,
                        const std::string& request, bool whole) {
  if (limit.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(
      CheckQuantity(path, limit, "leave the field out for no limit", whole));
  if (request.empty()) return absl::OkStatus();
  // Both parsed before: the request by the caller, the limit just now.
  if (ParseQuantity(limit)->MilliValue() <
      ParseQuantity(request)->MilliValue()) {
    return Invalid(path, absl::StrCat(Quote(limit), " is less than ",
                                      request_path, " ", Quote(request)));
  }
  return absl::OkStatus();
}

absl::Status ValidateSecrets(const Compute& compute) {
  for (int i = 0; i < compute.secrets_size(); ++i) {
    const tether::v1::SecretRef& secret = compute.secrets(i);
    const std::string path = absl::StrCat("compute.secrets[", i, "]");
    RETURN_IF_ERROR(CheckDnsSubdomain(absl::StrCat(path, ".name"),
                                      secret.name(), "Secret name"));
    if (secret.env().empty() == secret.mount_path().empty()) {
      return Invalid(path,
                     "set exactly one of env (expose one key as an "
                     "environment variable) and mount_path (mount the Secret "
                     "read-only)");
    }
    if (!secret.key().empty() && !kube::IsConfigKey(secret.key())) {
      return Invalid(absl::StrCat(path, ".key"),
                     absl::StrCat(Quote(secret.key()),
                                  " is not a valid Secret key (letters, "
                                  "digits, '-', '_' and '.')"));
    }
    if (!secret.env().empty()) {
      if (secret.key().empty()) {
        return Invalid(absl::StrCat(path, ".key"),
                       "required with env: the key whose value the variable "
                       "receives");
      }
      if (!IsCIdentifier(secret.env())) {
        return Invalid(absl::StrCat(path, ".env"),
                       absl::StrCat(Quote(secret.env()),
                                    " is not a valid environment variable "
                                    "name"));
      }
      if (compute.env().contains(secret.env())) {
        return Invalid(
            absl::StrCat(path, ".env"),
            absl::StrCat(Quote(secret.env()), " is also set in compute.env"));
      }
    } else {
      RETURN_IF_ERROR(CheckMountPath(absl::StrCat(path, ".mount_path"),
                                     secret.mount_path()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateVolumes(const Compute& compute) {
  absl::flat_hash_map<std::string, int> names;  // volume name → index
  for (int i = 0; i < compute.volumes_size(); ++i) {
    const tether::v1::Volume& volume = compute.volumes(i);
    const std::string path = absl::StrCat("compute.volumes[", i, "]");
    RETURN_IF_ERROR(CheckDnsSubdomain(absl::StrCat(path, ".claim_name"),
                                      volume.claim_name(),
                                      "PersistentVolumeClaim name"));
    const std::string& name =
        volume.name().empty() ? volume.claim_name() : volume.name();
    if (!kube::IsDnsLabel(name)) {
      return Invalid(
          absl::StrCat(path, volume.name().empty() ? ".claim_name" : ".name"),
          absl::StrCat(Quote(name),
                       " is not a valid volume name (lowercase letters, "
                       "digits and '-', at most 63 characters); set name"));
    }
    if (absl::StartsWith(name, "tether-")) {
      return Invalid(absl::StrCat(path, ".name"),
                     absl::StrCat(Quote(name),
                                  " is reserved: Tether names its own volumes "
                                  "tether-*"));
    }
    auto [it, inserted] = names.emplace(name, i);
    if (!inserted) {
      return Invalid(absl::StrCat(path, ".name"),
                     absl::StrCat(Quote(name), " is also the name of volumes[",
                                  it->second, "]"));
    }
    RETURN_IF_ERROR(
        CheckMountPath(absl::StrCat(path, ".mount_path"), volume.mount_path()));
  }
  return absl::OkStatus();
}

// Two mounts at one path fail at pod creation; say which fields collide.
absl::Status CheckMountPathsUnique(const Compute& compute) {
  absl::flat_hash_map<std::string, std::string> seen;  // path → field
  if (!compute.shm_size().empty()) seen.emplace("/dev/shm", "compute.shm_size");
  std::vector<std::pair<std::string, std::string>> mounts;
  for (int i = 0; i < compute.secrets_size(); ++i) {
    if (compute.secrets(i).mount_path().empty()) continue;
    mounts.emplace_back(absl::StrCat("compute.secrets[", i, "].mount_path"),
                        compute.secrets(i).mount_path());
  }
  for (int i = 0; i < compute.volumes_size(); ++i) {
    mounts.emplace_back(absl::StrCat("compute.volumes[", i, "].mount_path"),
                        compute.volumes(i).mount_path());
  }
  for (const auto& [field, mount] : mounts) {
    std::string normalized = mount;
    while (normalized.size() > 1 && normalized.back() == '/') {
      normalized.pop_back();
    }
    auto [it, inserted] = seen.emplace(normalized, field);
    if (!inserted) {
      return Invalid(field, absl::StrCat(Quote(mount), " is also mounted by ",
                                         it->second));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTolerations(const Compute& compute) {
  for (int i = 0; i < compute.tolerations_size(); ++i) {
    const tether::v1::Toleration& t = compute.tolerations(i);
    const std::string path = absl::StrCat("compute.tolerations[", i, "]");
    if (t.operator_() != "" && t.operator_() != "Equal" &&
        t.operator_() != "Exists") {
      return Invalid(absl::StrCat(path, ".operator"),
                     absl::StrCat(Quote(t.operator_()),
                                  " is not an operator (use Equal or Exists)"));
    }
    const bool exists = t.operator_() == "Exists";
    if (!t.key().empty() && !kube::IsQualifiedName(t.key())) {
      return Invalid(absl::StrCat(path, ".key"),
                     absl::StrCat(Quote(t.key()), " is not a valid taint key"));
    }
    if (t.key().empty() && !exists) {
      return Invalid(absl::StrCat(path, ".key"),
                     "required unless operator is Exists (which then "
                     "tolerates every taint)");
    }
    if (exists && !t.value().empty()) {
      return Invalid(absl::StrCat(path, ".value"),
                     "must be empty when operator is Exists");
    }
    if (!kube::IsLabelValue(t.value())) {
      return Invalid(
          absl::StrCat(path, ".value"),
          absl::StrCat(Quote(t.value()), " is not a valid taint value"));
    }
    if (t.effect() != "" && t.effect() != "NoSchedule" &&
        t.effect() != "PreferNoSchedule" && t.effect() != "NoExecute") {
      return Invalid(absl::StrCat(path, ".effect"),
                     absl::StrCat(Quote(t.effect()),
                                  " is not a taint effect (use NoSchedule, "
                                  "PreferNoSchedule or NoExecute)"));
    }
    if (t.has_toleration_seconds() && t.effect() != "NoExecute") {
      return Invalid(absl::StrCat(path, ".toleration_seconds"),
                     "only applies when effect is NoExecute");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAutoscaling(const Compute& compute) {
  if (!compute.has_autoscaling()) return absl::OkStatus();
  const tether::v1::Autoscaling& a = compute.autoscaling();
  constexpr absl::string_view kPath = "compute.autoscaling";
  if (a.min_replicas() < 0) {
    return Invalid(absl::StrCat(kPath, ".min_replicas"),
                   absl::StrCat("must not be negative, got ", a.min_replicas(),
                                " (0 means 1)"));
  }
  if (a.max_replicas() < 1) {
    return Invalid(
        absl::StrCat(kPath, ".max_replicas"),
        absl::StrCat("required and at least 1, got ", a.max_replicas()));
  }
  const int min_replicas = std::max(a.min_replicas(), 1);
  if (min_replicas > a.max_replicas()) {
    return Invalid(absl::StrCat(kPath, ".min_replicas"),
                   absl::StrCat(a.min_replicas(), " is greater than ",
                                "max_replicas ", a.max_replicas()));
  }
  if (a.target_cpu_utilization() < 0 || a.target_memory_utilization() < 0) {
    return Invalid(a.target_cpu_utilization() < 0
                       ? absl::StrCat(kPath, ".target_cpu_utilization")
                       : absl::StrCat(kPath, ".target_memory_utilization"),
                   "must not be negative (percent of the request)");
  }
  if (a.target_cpu_utilization() == 0 && a.target_memory_utilization() == 0) {
    return Invalid(kPath,
                   "needs target_cpu_utilization or target_memory_utilization "
                   "(percent of the request to keep, e.g. 70)");
  }
  // Utilization is a share of the request: without one the HPA cannot act.
  if (a.target_cpu_utilization() > 0 && compute.cpus().empty()) {
    return Invalid(absl::StrCat(kPath, ".target_cpu_utilization"),
                   "needs compute.cpus: utilization is a percentage of the "
                   "CPU request");
  }
  if (a.target_memory_utilization() > 0 && compute.memory().empty()) {
    return Invalid(absl::StrCat(kPath, ".target_memory_utilization"),
                   "needs compute.memory: utilization is a percentage of the "
                   "memory request");
  }
  // The API server's limit on stabilizationWindowSeconds is one hour.
  for (const auto& [field, text] :
       {std::make_pair("scale_up_stabilization", &a.scale_up_stabilization()),
        std::make_pair("scale_down_stabilization",
                       &a.scale_down_stabilization())}) {
    if (text->empty()) continue;
    RETURN_IF_ERROR(
        CheckDuration(absl::StrCat(kPath, ".", field), *text, 3600));
  }
  // The HorizontalPodAutoscaler owns the count; a fixed one would be
  // dropped from the workload without a word.
  if (compute.replicas() != 0) {
    return Invalid("compute.replicas",
                   absl::StrCat("not allowed with compute.autoscaling, which "
                                "sets the count between min_replicas and "
                                "max_replicas; leave replicas out (a deploy "
                                "starts at min_replicas, ",
                                min_replicas, ")"));
  }
  if (compute.has_distributed()) {
    return Invalid(kPath,
                   "cannot be combined with compute.distributed: the world "
                   "size of distributed workers is fixed");
  }
  return absl::OkStatus();
}

absl::Status ValidateDistributed(const Compute& compute) {
  if (!compute.has_distributed()) return absl::OkStatus();
  const tether::v1::Distributed& d = compute.distributed();
  if (d.workers() < 1) {
    return Invalid("compute.distributed.workers",
                   absl::StrCat("required and at least 1 (the world size), "
                                "got ",
                                d.workers()));
  }
  if (d.master_port() < 0 || d.master_port() > 65535) {
    return Invalid("compute.distributed.master_port",
                   absl::StrCat(d.master_port(),
                                " is not a port (1-65535; 0 means 29500)"));
  }
  if (compute.replicas() != 0 && compute.replicas() != d.workers()) {
    return Invalid("compute.replicas",
                   absl::StrCat(compute.replicas(), " differs from ",
                                "compute.distributed.workers ", d.workers(),
                                "; leave replicas out"));
  }
  return absl::OkStatus();
}

absl::Status CheckStructField(absl::string_view path,
                              const google::protobuf::Struct& value) {
  google::protobuf::Value wrapped;
  *wrapped.mutable_struct_value() = value;
  return CheckJsonValue(path, wrapped);
}

// The fields that only shape Kubernetes objects.
absl::Status ValidateKubernetesFields(const Compute& compute) {
  const std::string& policy = compute.image_pull_policy();
  if (!policy.empty() && policy != "Always" && policy != "IfNotPresent" &&
      policy != "Never") {
    return Invalid("compute.image_pull_policy",
                   absl::StrCat(Quote(policy),
                                " is not a pull policy (use Always, "
                                "IfNotPresent or Never)"));
  }
  RETURN_IF_ERROR(ValidateSecrets(compute));
  for (int i = 0; i < compute.config_maps_size(); ++i) {
    RETURN_IF_ERROR(
        CheckDnsSubdomain(absl::StrCat("compute.config_maps[", i, "]"),
                          compute.config_maps(i), "ConfigMap name"));
  }
  RETURN_IF_ERROR(ValidateVolumes(compute));
  if (!compute.shm_size().empty()) {
    RETURN_IF_ERROR(
        CheckQuantity("compute.shm_size", compute.shm_size(),
                      "leave the field out for the container default", true));
  }
  RETURN_IF_ERROR(CheckMountPathsUnique(compute));
  RETURN_IF_ERROR(
      CheckStringMap("compute.node_selector", compute.node_selector(),
                     /*check_values=*/true, /*reserve_tether_keys=*/false));
  RETURN_IF_ERROR(ValidateTolerations(compute));
  if (compute.has_affinity()) {
    for (const auto& [key, unused] : compute.affinity().fields()) {
      if (key != "nodeAffinity" && key != "podAffinity" &&
          key != "podAntiAffinity") {
        return Invalid(absl::StrCat("compute.affinity.", key),
                       "unknown; use nodeAffinity, podAffinity or "
                       "podAntiAffinity");
      }
    }
    RETURN_IF_ERROR(CheckStructField("compute.affinity", compute.affinity()));
  }
  if (!compute.priority_class().empty()) {
    RETURN_IF_ERROR(CheckDnsSubdomain("compute.priority_class",
                                      compute.priority_class(),
                                      "PriorityClass name"));
  }
  if (!compute.service_account().empty()) {
    RETURN_IF_ERROR(CheckDnsSubdomain("compute.service_account",
                                      compute.service_account(),
                                      "ServiceAccount name"));
  }
  RETURN_IF_ERROR(CheckStringMap("compute.labels", compute.labels(),
                                 /*check_values=*/true,
                                 /*reserve_tether_keys=*/true));
  RETURN_IF_ERROR(CheckStringMap("compute.annotations", compute.annotations(),
                                 /*check_values=*/false,
                                 /*reserve_tether_keys=*/true));
  if (!compute.inactivity_ttl().empty()) {
    // A year is far beyond any idle timeout and keeps arithmetic in range.
    RETURN_IF_ERROR(CheckDuration("compute.inactivity_ttl",
                                  compute.inactivity_ttl(), 366 * 24 * 3600));
  }
  if (!tether::v1::TtlAction_IsValid(compute.ttl_action())) {
    return Invalid("compute.ttl_action",
                   absl::StrCat(compute.ttl_action(), " is not a TtlAction"));
  }
  if (compute.ttl_action() != tether::v1::TTL_ACTION_UNSPECIFIED &&
      compute.inactivity_ttl().empty()) {
    return Invalid("compute.ttl_action",
                   "needs compute.inactivity_ttl: it says when the action "
                   "happens");
  }
  if (!compute.launch_timeout().empty()) {
    RETURN_IF_ERROR(CheckDuration("compute.launch_timeout",
                                  compute.launch_timeout(), 24 * 3600));
  }
  RETURN_IF_ERROR(ValidateAutoscaling(compute));
  RETURN_IF_ERROR(ValidateDistributed(compute));
  if (!compute.gpu_type().empty()) {
    if (compute.gpus() == 0) {
      return Invalid("compute.gpu_type",
                     "needs compute.gpus > 0: the type selects GPU nodes");
    }
    if (!kube::IsLabelValue(compute.gpu_type())) {
      return Invalid("compute.gpu_type",
                     absl::StrCat(Quote(compute.gpu_type()),
                                  " is not a valid node label value"));
    }
  }
  if (!compute.pod_template_name().empty()) {
    RETURN_IF_ERROR(CheckDnsSubdomain("compute.pod_template_name",
                                      compute.pod_template_name(),
                                      "PodTemplate name"));
  }
  if (compute.has_pod_template()) {
    RETURN_IF_ERROR(
        CheckStructField("compute.pod_template", compute.pod_template()));
  }
  if (compute.has_service_template()) {
    RETURN_IF_ERROR(CheckStructField("compute.service_template",
                                     compute.service_template()));
  }
  if (!tether::v1::PodSecurity_IsValid(compute.pod_security())) {
    return Invalid(
        "compute.pod_security",
        absl::StrCat(compute.pod_security(), " is not a PodSecurity"));
  }
  RETURN_IF_ERROR(CheckLimit("compute.cpus_limit", compute.cpus_limit(),
                             "compute.cpus", compute.cpus(), false));
  return CheckLimit("compute.memory_limit", compute.memory_limit(),
                    "compute.memory", compute.memory(), true);
}

absl::Status ValidateCompute(const Compute& compute) {
  if (!compute.cpus().empty()) {
    RETURN_IF_ERROR(CheckQuantity("compute.cpus", compute.cpus(),
                                  "leave the field out to request no CPU",
                                  false));
  }
  if (!compute.memory().empty()) {
    RETURN_IF_ERROR(CheckQuantity("compute.memory", compute.memory(),
                                  "leave the field out to request no memory",
                                  true));
  }
  for (const auto& [path, value, note] :
       {std::make_tuple("compute.gpus", compute.gpus(), ""),
        std::make_tuple("compute.replicas", compute.replicas(),
                        " (0 means the default, 1)"),
        std::make_tuple("compute.workers", compute.workers(),
                        " (0 means the default, 1)")}) {
    RETURN_IF_ERROR(CheckNotNegative(path, value, note));
  }
  for (char c : compute.image()) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '\0') {
      return Invalid("compute.image",
                     absl::StrCat(Quote(compute.image()),
                                  " is not an image reference (it contains ",
                                  DescribeChar(c), ")"));
    }
  }
  // Sorted: the first error does not depend on map order.
  std::vector<std::string> names;
  for (const auto& [name, unused] : compute.env()) names.push_back(name);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (!IsCIdentifier(name)) {
      return Invalid("compute.env",
                     absl::StrCat(Quote(name),
                                  " is not a valid environment variable name "
                                  "(use letters, digits and '_', not starting "
                                  "with a digit)"));
    }
    if (absl::StrContains(compute.env().at(name), '\0')) {
      return Invalid(absl::StrCat("compute.env.", name),
                     "contains a NUL character, which environment variables "
                     "cannot hold");
    }
  }
  absl::flat_hash_map<int, int> first_index;  // codec → index
  for (int i = 0; i < compute.allowed_serialization_size(); ++i) {
    const int codec = compute.allowed_serialization(i);
    const std::string path =
        absl::StrCat("compute.allowed_serialization[", i, "]");
    if (codec == tether::v1::CODEC_UNSPECIFIED) {
      return Invalid(path,
                     "CODEC_UNSPECIFIED is not a codec (use json, pickle or "
                     "raw)");
    }
    if (!tether::v1::Codec_IsValid(codec)) {
      return Invalid(path, absl::StrCat("unknown codec ", codec,
                                        " (use json, pickle or raw)"));
    }
    auto [it, inserted] = first_index.emplace(codec, i);
    if (!inserted) {
      return Invalid(path,
                     absl::StrCat("duplicate of [", it->second, "] (",
                                  CodecName(static_cast<Codec>(codec)), ")"));
    }
  }
  for (int i = 0; i < compute.preload_size(); ++i) {
    const std::string path = absl::StrCat("compute.preload[", i, "]");
    if (compute.preload(i).empty()) return Invalid(path, "empty module name");
    RETURN_IF_ERROR(CheckModulePath(path, compute.preload(i), "torch"));
  }
  return ValidateKubernetesFields(compute);
}

absl::Status ValidatePythonCallable(const Callable& callable) {
  const std::string& module = callable.module();
  if (module.empty()) {
    return Invalid("callable.module",
                   "required: the Python module that defines the callable, "
                   "e.g. \"hello\" or \"pkg.mod\"");
  }
  // Paths and file names are the usual mistakes; suggest the module path.
  if (absl::StrContains(module, '/') || absl::EndsWith(module, ".py")) {
    absl::string_view stem = module;
    absl::ConsumeSuffix(&stem, ".py");
    absl::ConsumePrefix(&stem, "./");
    const std::string suggestion = absl::StrReplaceAll(stem, {{"/", "."}});
    return Invalid("callable.module",
                   absl::StrCat(Quote(module), " looks like a file path; ",
                                "write the module path ", Quote(suggestion)));
  }
  RETURN_IF_ERROR(CheckModulePath("callable.module", module, "hello"));
  const std::string& name = callable.name();
  if (name.empty()) {
    return Invalid("callable.name",
                   "required: the function or class in callable.module");
  }
  if (IsPythonKeyword(name)) {
    return Invalid("callable.name",
                   absl::StrCat(Quote(name), " is a Python keyword"));
  }
  if (!IsPythonIdentifier(name)) {
    return Invalid("callable.name",
                   absl::StrCat(Quote(name),
                                " is not a Python identifier (the name of a "
                                "function or class in callable.module)"));
  }
  if (callable.has_init_args()) {
    google::protobuf::Value args;
    *args.mutable_list_value() = callable.init_args();
    RETURN_IF_ERROR(CheckJsonValue("callable.init_args", args));
  }
  if (callable.has_init_kwargs()) {
    google::protobuf::Value kwargs;
    *kwargs.mutable_struct_value() = callable.init_kwargs();
    RETURN_IF_ERROR(CheckJsonValue("callable.init_kwargs", kwargs));
  }
  return absl::OkStatus();
}

absl::Status ValidateNativeCallable(const Callable& callable) {
  const std::string& module = callable.module();
  if (module.empty()) {
    return Invalid("callable.module",
                   "required: the shared library's path relative to the code "
                   "root, e.g. \"lib/libecho.so\"");
  }
  if (module[0] == '/') {
    return Invalid(
        "callable.module",
        absl::StrCat(Quote(module), " must be relative to the code root"));
  }
  if (module.back() == '/') {
    return Invalid("callable.module", absl::StrCat(Quote(module),
                                                   " names a directory, not a "
                                                   "shared library"));
  }
  for (absl::string_view part : absl::StrSplit(module, '/')) {
    if (part == "..") {
      return Invalid("callable.module",
                     absl::StrCat(Quote(module),
                                  " must stay inside the code root (no \"..\" "
                                  "components)"));
    }
  }
  if (absl::StrContains(module, '\0')) {
    return Invalid("callable.module", "contains a NUL character");
  }
  if (callable.init_args().values_size() > 0) {
    return Invalid("callable.init_args",
                   "only python callables take constructor arguments");
  }
  if (callable.init_kwargs().fields_size() > 0) {
    return Invalid("callable.init_kwargs",
                   "only python callables take constructor arguments");
  }
  return absl::OkStatus();
}

absl::Status CheckPort(absl::string_view path, int32_t port) {
  if (port < 1 || port > 65535) {
    return Invalid(path, absl::StrCat(port, " is not a port (1-65535)"));
  }
  return absl::OkStatus();
}

absl::Status CheckCommand(
    absl::string_view path,
    const google::protobuf::RepeatedPtrField<std::string>& command) {
  if (!command.empty() && command[0].empty()) {
    return Invalid(absl::StrCat(path, "[0]"), "the program is empty");
  }
  for (int i = 0; i < command.size(); ++i) {
    if (absl::StrContains(command[i], '\0')) {
      return Invalid(absl::StrCat(path, "[", i, "]"),
                     "contains a NUL character");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateApp(const App& app) {
  RETURN_IF_ERROR(CheckCommand("app.command", app.command()));
  RETURN_IF_ERROR(CheckPort("app.port", app.port()));
  if (app.proxy_port() != 0) {
    RETURN_IF_ERROR(CheckPort("app.proxy_port", app.proxy_port()));
    if (app.proxy_port() == app.port()) {
      return Invalid("app.proxy_port",
                     "must differ from app.port: the proxy forwards to it");
    }
  }
  return CheckCommand("app.reload_command", app.reload_command());
}

// A string field of a Struct; "" when absent or not a string.
std::string StructString(const google::protobuf::Struct& object,
                         const std::string& key) {
  const auto it = object.fields().find(key);
  return it == object.fields().end() ? "" : it->second.string_value();
}

bool IsScalableWorkload(const google::protobuf::Struct& object) {
  const std::string kind = StructString(object, "kind");
  return StructString(object, "apiVersion") == "apps/v1" &&
         (kind == "Deployment" || kind == "StatefulSet");
}

absl::Status ValidateWorkload(const ServiceSpec& spec) {
  const google::protobuf::Struct& object = spec.workload().object();
  const std::string api_version = StructString(object, "apiVersion");
  const std::string kind = StructString(object, "kind");
  const bool job =
      api_version == "batch/v1" && (kind == "Job" || kind == "CronJob");
  const std::string& path = spec.workload().pod_template_path();
  if (kind.empty() || api_version.empty()) {
    return Invalid("workload.object", "apiVersion and kind are required");
  }
  if (!IsScalableWorkload(object) && !job && path.empty()) {
    return Invalid("workload.pod_template_path",
                   absl::StrCat("required for a ", kind, " in ", api_version,
                                ": where its pod template is, like "
                                "spec.pytorchReplicaSpecs.Worker.template "
                                "(known: apps/v1 Deployment and StatefulSet, "
                                "batch/v1 Job and CronJob)"));
  }
  if (!path.empty()) {
    for (absl::string_view step : absl::StrSplit(path, '.')) {
      if (step.empty() || absl::StrContains(step, '/')) {
        return Invalid(
            "workload.pod_template_path",
            absl::StrCat("\"", path, "\" is not a dotted path of field names"));
      }
    }
  }
  const auto metadata = object.fields().find("metadata");
  if (metadata == object.fields().end() ||
      StructString(metadata->second.struct_value(), "name").empty()) {
    return Invalid("workload.object.metadata.name", "required");
  }
  // What the manifest decides is not Tether's to set as well.
  Compute rest = spec.compute();
  for (const char* kept :
       {"replicas", "workers", "allowed_serialization", "preload", "freeze",
        "inactivity_ttl", "ttl_action", "launch_timeout"}) {
    rest.GetReflection()->ClearField(
        &rest, Compute::descriptor()->FindFieldByName(kept));
  }
  std::vector<const google::protobuf::FieldDescriptor*> set;
  rest.GetReflection()->ListFields(rest, &set);
  if (!set.empty()) {
    return Invalid(absl::StrCat("compute.", set[0]->name()),
                   "comes from the workload's manifest; set it there");
  }
  if (!IsScalableWorkload(object) && !spec.compute().inactivity_ttl().empty()) {
    return Invalid("compute.inactivity_ttl",
                   absl::StrCat("a ", kind,
                                " cannot scale to zero (only Deployments and "
                                "StatefulSets do)"));
  }
  if (spec.has_app() && !spec.app().command().empty()) {
    return Invalid("app.command",
                   "the workload's own container is the app; leave it empty");
  }
  return absl::OkStatus();
}

absl::Status ValidateCallable(const ServiceSpec& spec) {
  if (spec.has_app()) {
    if (spec.has_callable() && (!spec.callable().module().empty() ||
                                !spec.callable().name().empty())) {
      return Invalid("app",
                     "set either callable (Tether runs your function) or app "
                     "(your own server, sidecar mode), not both");
    }
    return ValidateApp(spec.app());
  }
  if (!spec.has_callable()) {
    return Invalid("callable",
                   "required: the module and name of the function or class "
                   "to serve");
  }
  const Callable& callable = spec.callable();
  switch (callable.runtime()) {
    case tether::v1::RUNTIME_UNSPECIFIED:
    case tether::v1::RUNTIME_PYTHON:
      return ValidatePythonCallable(callable);
    case tether::v1::RUNTIME_NATIVE:
      return ValidateNativeCallable(callable);
    default:
      return Invalid("callable.runtime",
                     absl::StrCat("unknown runtime ", callable.runtime(),
                                  " (use python or native)"));
  }
}

}  // namespace

absl::StatusOr<int64_t> ParseDurationSeconds(absl::string_view text) {
  absl::Duration duration;
  // absl also takes "inf", "ms" and fractions; Kubernetes wants whole
  // seconds, so only h/m/s with integers are accepted.
  const bool simple =
      !text.empty() &&
      text.find_first_not_of("0123456789hms") == absl::string_view::npos;
  if (!simple || !absl::ParseDuration(text, &duration) ||
      absl::StrContains(text, "ms")) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(text),
        " is not a duration (write e.g. \"90s\", \"30m\" or \"1h30m\")"));
  }
  if (duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " must be longer than zero"));
  }
  return absl::ToInt64Seconds(duration);
}

absl::Status ValidateServiceName(absl::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("service name is empty; ", kNameRule));
  }
  std::string problem;
  if (name.size() > kMaxNameLength) {
    problem = absl::StrCat("it is ", name.size(), " characters long");
  } else {
    for (char c : name) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (absl::ascii_isupper(u)) {
        problem = absl::StrCat("it contains uppercase ", DescribeChar(c));
        break;
      }
      if (!absl::ascii_islower(u) && !absl::ascii_isdigit(u) && c != '-') {
        problem = absl::StrCat("it contains ", DescribeChar(c));
        break;
      }
    }
    if (problem.empty() &&
        !absl::ascii_islower(static_cast<unsigned char>(name.front()))) {
      problem = absl::StrCat("it starts with ", DescribeChar(name.front()));
    }
    if (problem.empty() && name.back() == '-') problem = "it ends with '-'";
  }
  if (problem.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      Quote(name), " is not a valid service name: ", problem, "; ", kNameRule));
}

absl::Status ValidateNamespace(absl::string_view ns) {
  if (kube::IsDnsLabel(ns)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      Quote(ns),
      " is not a valid namespace: namespaces are RFC 1123 labels (lowercase "
      "letters, digits and '-', starting and ending with a letter or digit, "
      "at most 63 characters)"));
}

absl::Status ValidateServiceSpec(const ServiceSpec& spec) {
  if (spec.name().empty()) {
    return Invalid("name", absl::StrCat("required; ", kNameRule));
  }
  absl::Status status = ValidateServiceName(spec.name());
  if (!status.ok()) return Invalid("name", status.message());
  if (!spec.namespace_().empty()) {
    status = ValidateNamespace(spec.namespace_());
    if (!status.ok()) return Invalid("namespace", status.message());
  }
  RETURN_IF_ERROR(ValidateCompute(spec.compute()));
  if (spec.has_workload()) RETURN_IF_ERROR(ValidateWorkload(spec));
  return ValidateCallable(spec);
}

bool Scalable(const ServiceSpec& spec) {
  return !spec.has_workload() || IsScalableWorkload(spec.workload().object());
}

std::string WorkloadKind(const ServiceSpec& spec) {
  return StructString(spec.workload().object(), "kind");
}

ServiceSpec WithDefaults(ServiceSpec spec) {
  Compute* compute = spec.mutable_compute();
  // Autoscaled and distributed services take their count from elsewhere
  // and refuse a replicas field.
  if (compute->replicas() == 0 && !compute->has_autoscaling() &&
      !compute->has_distributed()) {
    compute->set_replicas(1);
  }
  if (compute->workers() == 0) compute->set_workers(1);
  if (compute->allowed_serialization_size() == 0) {
    compute->add_allowed_serialization(tether::v1::CODEC_JSON);
    compute->add_allowed_serialization(tether::v1::CODEC_RAW);
  }
  // A sidecar-mode service runs no callable.
  if (!spec.has_app() &&
      spec.callable().runtime() == tether::v1::RUNTIME_UNSPECIFIED) {
    spec.mutable_callable()->set_runtime(tether::v1::RUNTIME_PYTHON);
  }
  return spec;
}

std::optional<absl::Duration> InactivityTtl(
    const tether::v1::Compute& compute) {
  if (compute.inactivity_ttl().empty()) return std::nullopt;
  return absl::Seconds(*ParseDurationSeconds(compute.inactivity_ttl()));
}

absl::Duration LaunchTimeout(const tether::v1::Compute& compute) {
  if (compute.launch_timeout().empty()) return absl::Minutes(15);
  return absl::Seconds(*ParseDurationSeconds(compute.launch_timeout()));
}

int InitialReplicas(const tether::v1::Compute& compute) {
  if (compute.has_distributed()) {
    return std::max(compute.distributed().workers(), 1);
  }
  if (compute.has_autoscaling()) {
    return std::max(compute.autoscaling().min_replicas(), 1);
  }
  return std::max(compute.replicas(), 1);
}

Codec EffectiveCodec(Codec codec) {
  return codec == tether::v1::CODEC_UNSPECIFIED ? tether::v1::CODEC_JSON
                                                : codec;
}

bool CodecAllowed(absl::Span<const Codec> allowed, Codec codec) {
  return std::find(allowed.begin(), allowed.end(), EffectiveCodec(codec)) !=
         allowed.end();
}

std::string CodecName(Codec codec) {
  if (!tether::v1::Codec_IsValid(codec))
    return absl::StrCat(static_cast<int>(codec));
  absl::string_view name = tether::v1::Codec_Name(codec);
  absl::ConsumePrefix(&name, "CODEC_");
  return absl::AsciiStrToLower(name);
}

}  // namespace tether::servicespec
