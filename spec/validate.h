#ifndef TETHER_SPEC_VALIDATE_H_
#define TETHER_SPEC_VALIDATE_H_

// The authoritative checks on a ServiceSpec: tetherd runs them on every
// Deploy, the CLI runs them early for friendlier errors.

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tether/v1/service.pb.h"

namespace tether::spec {

/// OK when `spec` can be deployed as written. Otherwise INVALID_ARGUMENT for
/// the first problem found, starting with the field path as it is written in
/// YAML (snake_case), then the reason, e.g.
///   name: "Hello" is not a valid service name: ...
///   compute.memory: "-1Gi" is negative
///   compute.allowed_serialization[1]: duplicate of [0] (json)
///   callable.module: "hello.py" looks like a file name; ...
/// Checks: name is an RFC 1035 label; cpus/memory are quantities > 0 when set
/// (memory a whole number of bytes); gpus, replicas, workers >= 0; image has no
/// whitespace; env names are C identifiers; allowed_serialization has no
/// unspecified, unknown or repeated codecs; preload entries are dotted Python
/// module names; the callable is set: python needs a dotted module and an
/// identifier name, native a relative library path without "..", and only
/// python callables take init arguments. Zero values meaning "default" are
/// accepted: validate before or after `WithDefaults`. Thread-safe.
absl::Status ValidateServiceSpec(const tether::v1::ServiceSpec& spec);

/// `spec` with the documented defaults filled in: replicas 1 and workers 1
/// when 0, runtime python when unspecified, allowed_serialization
/// [JSON, RAW] when empty. Everything else is copied unchanged.
tether::v1::ServiceSpec WithDefaults(tether::v1::ServiceSpec spec);

/// Whether callers may use `codec` for the service (CODEC_UNSPECIFIED counts
/// as JSON; an empty allowed_serialization allows JSON and RAW).
bool CodecAllowed(const tether::v1::ServiceSpec& spec, tether::v1::Codec codec);

/// The name users write for a codec: "json", "pickle", "raw".
std::string CodecName(tether::v1::Codec codec);

/// OK when `name` is a valid service name: an RFC 1035 label (lowercase
/// letters, digits and '-', starting with a letter, ending with a letter or
/// digit, at most 63 characters). Otherwise INVALID_ARGUMENT saying what is
/// wrong, without a field path (callers add it). For every place that takes a
/// service name: specs, RPC requests, CLI arguments.
absl::Status ValidateServiceName(absl::string_view name);

}  // namespace tether::spec

#endif  // TETHER_SPEC_VALIDATE_H_
