#ifndef TETHER_SERVICESPEC_VALIDATE_H_
#define TETHER_SERVICESPEC_VALIDATE_H_

// The authoritative checks on a ServiceSpec: tetherd runs them on every
// Deploy, the CLI runs them early for friendlier errors.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "tether/v1/service.pb.h"

namespace tether::servicespec {

/// OK when `spec` can be deployed as written. Otherwise INVALID_ARGUMENT for
/// the first problem found, starting with the field path as it is written in
/// YAML (snake_case), then the reason, e.g.
///   name: "Hello" is not a valid service name: ...
///   compute.memory: "-1Gi" is negative
///   compute.allowed_serialization[1]: duplicate of [0] (json)
///   callable.module: "hello.py" looks like a file name; ...
/// Checks: name is an RFC 1035 label; namespace, when set, an RFC 1123
/// label; cpus/memory are quantities > 0 when set
/// (memory a whole number of bytes); gpus, replicas, workers >= 0; image has no
/// whitespace; env names are C identifiers; allowed_serialization has no
/// unspecified, unknown or repeated codecs; preload entries are dotted Python
/// module names; the callable is set: python needs a dotted module and an
/// identifier name, native a relative library path without "..", and only
/// python callables take init arguments; or instead of a callable an app
/// (sidecar mode) with a port, a different proxy port if any, and commands
/// whose program is not empty. A workload is an apps/v1 Deployment or
/// StatefulSet or a batch/v1 Job or CronJob with a name; its compute holds
/// only what the agent and the TTL use, and a Job's no inactivity_ttl.
/// Kubernetes fields: pull policy is Always/IfNotPresent/Never; secrets, config
/// maps, claims, classes and accounts are DNS subdomains; each secret sets
/// exactly one of env (with a key) and mount_path; mount paths are absolute and
/// unique (with /dev/shm when shm_size is set); label/annotation/selector keys
/// are qualified names outside tether.dev/ and app.kubernetes.io/; tolerations
/// use known operators and effects; affinity has only the three affinity keys;
/// durations parse with `ParseDurationSeconds`; autoscaling has
/// 1 <= min <= max, a target backed by a request, no distributed and no
/// replicas;
/// distributed has workers >= 1 and a valid port; gpu_type needs gpus;
/// limits are at least their requests. Zero values meaning "default" are
/// accepted: validate before or after `WithDefaults`. Thread-safe.
absl::Status ValidateServiceSpec(const tether::v1::ServiceSpec& spec);

/// Whole seconds in a duration written with integer h/m/s parts ("90s",
/// "30m", "1h30m"), as used by `inactivity_ttl` and the autoscaling windows.
/// INVALID_ARGUMENT (quoting `text`, no field path) for anything else, zero
/// included. Thread-safe.
absl::StatusOr<int64_t> ParseDurationSeconds(absl::string_view text);

/// `spec` with the documented defaults filled in: replicas 1 when 0 (except
/// with autoscaling or distributed, which set the count), workers 1 when 0,
/// runtime python when unspecified (without an app), allowed_serialization
/// [JSON, RAW] when empty. Everything else is copied unchanged.
tether::v1::ServiceSpec WithDefaults(tether::v1::ServiceSpec spec);

/// How many replicas a deploy of `compute` brings up and waits for: the
/// distributed workers, else autoscaling's floor, else `replicas`; at least
/// 1 (a zero means the default). Thread-safe.
int InitialReplicas(const tether::v1::Compute& compute);

/// Whether the service's replica count can change: false for a Job or
/// CronJob workload (ServiceSpec.workload). Thread-safe.
bool Scalable(const tether::v1::ServiceSpec& spec);
/// The kind of `spec.workload.object` ("Deployment"); "" without one.
std::string WorkloadKind(const tether::v1::ServiceSpec& spec);

/// `compute.inactivity_ttl` as a duration; nullopt when empty (never idle).
/// `compute` must be valid. Thread-safe.
std::optional<absl::Duration> InactivityTtl(const tether::v1::Compute& compute);

/// `compute.launch_timeout` as a duration, 15 minutes when empty (as long as
/// a cold GPU node may take to join). `compute` must be valid. Thread-safe.
absl::Duration LaunchTimeout(const tether::v1::Compute& compute);

/// The codec a call runs with: CODEC_UNSPECIFIED means JSON. Thread-safe.
tether::v1::Codec EffectiveCodec(tether::v1::Codec codec);

/// Whether a call with `codec` may run on a service that allows `allowed`
/// (its compute.allowed_serialization after `WithDefaults`, which fills in
/// JSON and RAW). CODEC_UNSPECIFIED counts as JSON; an empty list allows
/// nothing (an agent that has loaded no spec yet). The one check both tetherd
/// and the agents run. Thread-safe.
bool CodecAllowed(absl::Span<const tether::v1::Codec> allowed,
                  tether::v1::Codec codec);

/// The name users write for a codec: "json", "pickle", "raw".
std::string CodecName(tether::v1::Codec codec);

/// OK when `name` is a valid service name: an RFC 1035 label (lowercase
/// letters, digits and '-', starting with a letter, ending with a letter or
/// digit, at most 63 characters). Otherwise INVALID_ARGUMENT saying what is
/// wrong, without a field path (callers add it). For every place that takes a
/// service name: specs, RPC requests, CLI arguments.
absl::Status ValidateServiceName(absl::string_view name);

/// OK when `ns` is a valid namespace (ServiceSpec.namespace, API token
/// scopes): an RFC 1123 label. Otherwise INVALID_ARGUMENT saying why, without
/// a field path.
absl::Status ValidateNamespace(absl::string_view ns);

}  // namespace tether::servicespec

#endif  // TETHER_SERVICESPEC_VALIDATE_H_
