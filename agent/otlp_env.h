#ifndef TETHER_AGENT_OTLP_ENV_H_
#define TETHER_AGENT_OTLP_ENV_H_

// The OpenTelemetry SDK environment conventions for the agent's metrics
// exporter, parsed without touching the process environment.

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/otlp_exporter.h"

namespace tether::agent {

/// What the agent knows before reading the environment.
struct OtlpEnvDefaults {
  /// The receiver when no OTEL_EXPORTER_OTLP_*ENDPOINT is set: tetherd's
  /// address (the agent's gateway).
  std::string endpoint;
  /// The Tether service and replica: tether.service, tether.replica, and
  /// service.name unless the environment names it.
  std::string service;
  std::string replica;
};

/// Reads one variable; null when unset (getenv's contract, so tests pass a
/// map instead of the process environment).
using GetEnvFunction = std::function<const char*(const char*)>;

/// Exporter options from the environment, the OpenTelemetry SDK way. Empty
/// values count as unset.
///
///   OTEL_SDK_DISABLED=true, OTEL_METRICS_EXPORTER=none: off (nullopt).
///     OTEL_METRICS_EXPORTER otherwise must be "otlp".
///   OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT,
///     else `defaults.endpoint` (see ParseOtlpEndpoint for the forms).
///   OTEL_EXPORTER_OTLP_METRICS_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL:
///     only "grpc".
///   OTEL_METRIC_EXPORT_INTERVAL, OTEL_METRIC_EXPORT_TIMEOUT: positive
///     integer milliseconds.
///   OTEL_EXPORTER_OTLP_METRICS_HEADERS, else OTEL_EXPORTER_OTLP_HEADERS:
///     k=v,k=v (percent-decoded, keys lowercased) as gRPC metadata.
///   OTEL_RESOURCE_ATTRIBUTES: k=v,k=v (percent-decoded; a later duplicate
///     wins). OTEL_SERVICE_NAME: service.name.
///   POD_NAME, POD_NAMESPACE (the downward API): k8s.pod.name and
///     k8s.namespace.name unless OTEL_RESOURCE_ATTRIBUTES sets them.
///
/// Resource attributes, in order: service.name (OTEL_SERVICE_NAME, else
/// OTEL_RESOURCE_ATTRIBUTES, else the Tether service), tether.service and
/// tether.replica (always the agent's own: the receiver relies on them),
/// k8s.namespace.name and k8s.pod.name when known, then the rest of
/// OTEL_RESOURCE_ATTRIBUTES.
///
/// Leaves `clock` and `counters` at their defaults and adds no token: the
/// agent fills those in. INVALID_ARGUMENT naming the variable for a bad
/// value. Pure and thread-safe (as far as `getenv` is).
absl::StatusOr<std::optional<OtlpExporter::Options>> OtlpExporterOptionsFromEnv(
    const GetEnvFunction& getenv, const OtlpEnvDefaults& defaults);

}  // namespace tether::agent

#endif  // TETHER_AGENT_OTLP_ENV_H_
