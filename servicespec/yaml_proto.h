#ifndef TETHER_SERVICESPEC_YAML_PROTO_H_
#define TETHER_SERVICESPEC_YAML_PROTO_H_

// Descriptor-driven YAML → protobuf conversion: the "YAML → proto" step of
// "YAML → proto → validate → Status" for every config Tether reads.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

// Forward declarations keep yaml-cpp and protobuf headers out of includers.
namespace YAML {
class Node;
}  // namespace YAML
namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace tether::servicespec {

/// Merges the YAML mapping `node` into `message`, field by field, guided by
/// the message's descriptor.
///
/// Field names may be written in snake_case (the proto name) or lowerCamelCase
/// (the JSON name). Scalars are converted by field type:
///  - int32/int64/uint32/uint64: decimal or 0x-hex integers, range-checked;
///  - bool: true/false/yes/no (any case);
///  - double/float: decimal or exponent form, .inf/.nan;
///  - string: the scalar text; bytes: the text, or base64 when tagged !!binary;
///  - enums: the full value name ("CODEC_JSON") or, case-insensitively, the
///    name without the enum's type prefix ("json" → CODEC_JSON);
///  - google.protobuf.Struct/ListValue/Value: any YAML; plain scalars are
///    typed as YAML 1.2 does (ints and floats → number, true/false → bool,
///    null/~ → null, everything else and every quoted scalar → string);
///  - google.protobuf.Duration ("1.5s") and Timestamp (RFC 3339) as in JSON;
///  - wrapper types (google.protobuf.Int32Value, ...) as their scalar.
/// Repeated fields take YAML sequences, map fields YAML mappings, message
/// fields YAML mappings. A YAML null (`key:` or `key: ~`) leaves a field unset.
///
/// Errors are INVALID_ARGUMENT and start with the full path of the offending
/// field as written in the YAML, prefixed with `path_prefix` ("compute.cpus",
/// "compute.allowed_serialization[1]", "compute.env.HOME"), then the reason:
///   compute.replicas: expected an integer, got "two"
///   compute.cpu: unknown field (did you mean "cpus"?)
///   callable: expected a mapping, got a list
/// Duplicate keys (including `foo_bar` next to `fooBar`) and two fields of
/// one oneof are errors too. On error `message` may be partly filled.
///
/// Thread-safe: a pure function of its inputs.
absl::Status YamlToProto(const YAML::Node& node,
                         google::protobuf::Message* message,
                         absl::string_view path_prefix = "");

/// YAML::LoadAll, except that on text where yaml-cpp 0.7's LoadAll loops for
/// ever (a stray ",": jbeder/yaml-cpp#1040) it throws YAML::ParserException.
std::vector<YAML::Node> LoadAllYaml(const std::string& yaml);

/// Parses `yaml` (one document) and converts it with `YamlToProto`. YAML
/// syntax errors are INVALID_ARGUMENT with "line L, column C" (1-based).
absl::Status YamlTextToProto(absl::string_view yaml,
                             google::protobuf::Message* message,
                             absl::string_view path_prefix = "");

}  // namespace tether::servicespec

#endif  // TETHER_SERVICESPEC_YAML_PROTO_H_
