#include "agent/otlp_env.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace tether::agent {
namespace {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

constexpr char kServiceName[] = "service.name";
constexpr char kTetherService[] = "tether.service";
constexpr char kTetherReplica[] = "tether.replica";
constexpr char kPodNamespace[] = "k8s.namespace.name";
constexpr char kPodName[] = "k8s.pod.name";

// The variable's value; nullopt when unset or empty (the SDKs' rule).
std::optional<std::string> Get(const GetEnvFunction& getenv, const char* name) {
  const char* value = getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

// The first of the variables that is set; `*source` names it.
std::optional<std::string> GetFirst(const GetEnvFunction& getenv,
                                    std::initializer_list<const char*> names,
                                    const char** source) {
  for (const char* name : names) {
    if (std::optional<std::string> value = Get(getenv, name)) {
      *source = name;
      return value;
    }
  }
  return std::nullopt;
}

absl::Status Invalid(const char* variable, absl::string_view value,
                     absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(variable, "=\"", value, "\": ", why));
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// %XX escapes, as in W3C baggage (what the SDKs use for these lists).
absl::StatusOr<std::string> PercentDecode(const char* variable,
                                          absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    const int high = i + 2 < text.size() ? HexDigit(text[i + 1]) : -1;
    const int low = i + 2 < text.size() ? HexDigit(text[i + 2]) : -1;
    if (high < 0 || low < 0) {
      return Invalid(variable, text, "bad percent escape");
    }
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

// "k=v, k2=v2" (empty entries skipped).
absl::StatusOr<KeyValues> ParseList(const char* variable,
                                    const std::string& value) {
  KeyValues out;
  for (absl::string_view entry : absl::StrSplit(value, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) continue;
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) {
      return Invalid(variable, value,
                     absl::StrCat("\"", entry, "\" is not key=value"));
    }
    ASSIGN_OR_RETURN(std::string key,
                     PercentDecode(variable, absl::StripAsciiWhitespace(
                                                 entry.substr(0, eq))));
    ASSIGN_OR_RETURN(std::string val,
                     PercentDecode(variable, absl::StripAsciiWhitespace(
                                                 entry.substr(eq + 1))));
    if (key.empty()) {
      return Invalid(variable, value,
                     absl::StrCat("\"", entry, "\" has an empty key"));
    }
    out.emplace_back(std::move(key), std::move(val));
  }
  return out;
}

absl::StatusOr<std::optional<absl::Duration>> Milliseconds(
    const GetEnvFunction& getenv, const char* variable) {
  std::optional<std::string> value = Get(getenv, variable);
  if (!value.has_value()) return std::nullopt;
  int64_t ms = 0;
  if (!absl::SimpleAtoi(*value, &ms) || ms <= 0) {
    return Invalid(variable, *value, "expected positive milliseconds");
  }
  return absl::Milliseconds(ms);
}

// Whether the environment turns the exporter off.
absl::StatusOr<bool> Disabled(const GetEnvFunction& getenv) {
  if (std::optional<std::string> disabled = Get(getenv, "OTEL_SDK_DISABLED")) {
    const std::string lower = absl::AsciiStrToLower(*disabled);
    if (lower == "true") return true;
    if (lower != "false") {
      return Invalid("OTEL_SDK_DISABLED", *disabled, "expected true or false");
    }
  }
  if (std::optional<std::string> exporter =
          Get(getenv, "OTEL_METRICS_EXPORTER")) {
    const std::string lower =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(*exporter));
    if (lower == "none") return true;
    // Not silently off: tetherd scales an unreported service to zero.
    if (lower != "otlp") {
      return Invalid("OTEL_METRICS_EXPORTER", *exporter,
                     "tether-agent exports otlp (or none)");
    }
  }
  return false;
}

absl::StatusOr<KeyValues> Headers(const GetEnvFunction& getenv) {
  const char* source = nullptr;
  std::optional<std::string> value = GetFirst(
      getenv,
      {"OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"},
      &source);
  if (!value.has_value()) return KeyValues{};
  ASSIGN_OR_RETURN(KeyValues headers, ParseList(source, *value));
  // gRPC metadata keys are lowercase; HTTP header names are not.
  for (auto& [key, val] : headers) {
    key = absl::AsciiStrToLower(key);
    for (char c : key) {
      if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') {
        return Invalid(source, *value,
                       absl::StrCat("\"", key, "\" is not a header name"));
      }
    }
  }
  return headers;
}

absl::StatusOr<KeyValues> ResourceAttributes(const GetEnvFunction& getenv,
                                             const OtlpEnvDefaults& defaults) {
  KeyValues from_env;
  if (std::optional<std::string> value =
          Get(getenv, "OTEL_RESOURCE_ATTRIBUTES")) {
    ASSIGN_OR_RETURN(from_env, ParseList("OTEL_RESOURCE_ATTRIBUTES", *value));
  }
  // The last value of `key` in from_env, if any.
  auto env_value = [&from_env](absl::string_view key) {
    std::optional<std::string> found;
    for (const auto& [k, v] : from_env) {
      if (k == key) found = v;
    }
    return found;
  };
  KeyValues out;
  std::optional<std::string> service_name = Get(getenv, "OTEL_SERVICE_NAME");
  if (!service_name.has_value()) service_name = env_value(kServiceName);
  out.emplace_back(kServiceName, service_name.value_or(defaults.service));
  out.emplace_back(kTetherService, defaults.service);
  out.emplace_back(kTetherReplica, defaults.replica);
  std::optional<std::string> pod_namespace = env_value(kPodNamespace);
  if (!pod_namespace.has_value()) {
    pod_namespace = Get(getenv, "POD_NAMESPACE");
  }
  if (pod_namespace.has_value()) {
    out.emplace_back(kPodNamespace, *pod_namespace);
  }
  std::optional<std::string> pod_name = env_value(kPodName);
  if (!pod_name.has_value()) pod_name = Get(getenv, "POD_NAME");
  if (pod_name.has_value()) out.emplace_back(kPodName, *pod_name);
  for (const auto& entry : from_env) {
    const std::string& key = entry.first;
    const bool taken =
        std::any_of(out.begin(), out.end(),
                    [&key](const auto& kv) { return kv.first == key; });
    if (taken) continue;
    out.emplace_back(key, *env_value(key));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::optional<OtlpExporter::Options>> OtlpExporterOptionsFromEnv(
    const GetEnvFunction& getenv, const OtlpEnvDefaults& defaults) {
  ASSIGN_OR_RETURN(const bool disabled, Disabled(getenv));
  if (disabled) return std::nullopt;

  OtlpExporter::Options options;
  const char* source = nullptr;
  if (std::optional<std::string> protocol =
          GetFirst(getenv,
                   {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
                    "OTEL_EXPORTER_OTLP_PROTOCOL"},
                   &source);
      protocol.has_value() && *protocol != "grpc") {
    return Invalid(source, *protocol, "tether-agent exports OTLP over grpc");
  }
  std::optional<std::string> endpoint = GetFirst(
      getenv,
      {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"},
      &source);
  if (endpoint.has_value()) {
    if (absl::Status parsed = ParseOtlpEndpoint(*endpoint).status();
        !parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ", parsed.message()));
    }
    options.endpoint = *endpoint;
  } else {
    options.endpoint = defaults.endpoint;
  }
  ASSIGN_OR_RETURN(std::optional<absl::Duration> interval,
                   Milliseconds(getenv, "OTEL_METRIC_EXPORT_INTERVAL"));
  if (interval.has_value()) options.interval = *interval;
  ASSIGN_OR_RETURN(std::optional<absl::Duration> timeout,
                   Milliseconds(getenv, "OTEL_METRIC_EXPORT_TIMEOUT"));
  if (timeout.has_value()) options.timeout = *timeout;
  ASSIGN_OR_RETURN(options.headers, Headers(getenv));
  ASSIGN_OR_RETURN(options.resource_attributes,
                   ResourceAttributes(getenv, defaults));
  return options;
}

}  // namespace tether::agent
