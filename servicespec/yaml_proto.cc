#include "servicespec/yaml_proto.h"

#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/diagnostics.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace tether::servicespec {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::OneofDescriptor;
using google::protobuf::Reflection;

// Tags yaml-cpp reports: "?" for plain scalars, "!" for quoted ones, the
// resolved URI for explicit `!!type` tags.
constexpr absl::string_view kPlainTag = "?";
constexpr absl::string_view kQuotedTag = "!";
constexpr absl::string_view kStrTag = "tag:yaml.org,2002:str";
constexpr absl::string_view kIntTag = "tag:yaml.org,2002:int";
constexpr absl::string_view kFloatTag = "tag:yaml.org,2002:float";
constexpr absl::string_view kBoolTag = "tag:yaml.org,2002:bool";
constexpr absl::string_view kNullTag = "tag:yaml.org,2002:null";
constexpr absl::string_view kBinaryTag = "tag:yaml.org,2002:binary";

// Largest integer a JSON number (a double) holds exactly.
constexpr uint64_t kMaxExactDoubleInt = uint64_t{1} << 53;

absl::Status Error(absl::string_view path, absl::string_view reason) {
  if (path.empty()) return absl::InvalidArgumentError(reason);
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", reason));
}

// Proto strings must be UTF-8 (a parse drops a message whose strings are
// not), and YAML passes other bytes through.
absl::Status CheckUtf8(absl::string_view path, absl::string_view text) {
  if (google::protobuf::internal::IsStructurallyValidUTF8(
          text.data(), static_cast<int>(text.size()))) {
    return absl::OkStatus();
  }
  return Error(path, "not valid UTF-8");
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

absl::Status Mismatch(absl::string_view path, absl::string_view expected,
                      const YAML::Node& node) {
  return Error(path,
               absl::StrCat("expected ", expected, ", got ", Describe(node)));
}

std::string ChildPath(absl::string_view path, absl::string_view name) {
  if (path.empty()) return std::string(name);
  return absl::StrCat(path, ".", name);
}

std::string IndexPath(absl::string_view path, size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

// Map keys read as path segments when they look like names ("compute.env.HOME")
// and are quoted otherwise ("labels[\"a b\"]").
std::string KeyPath(absl::string_view path, absl::string_view key) {
  bool simple = !key.empty();
  for (char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '-') {
      simple = false;
      break;
    }
  }
  if (simple) return ChildPath(path, key);
  return absl::StrCat(path, "[", Quote(key, 1024), "]");
}

// ---- Scalars -------------------------------------------------------------

struct ParsedInt {
  bool negative = false;
  absl::uint128 magnitude = 0;
  bool overflow = false;  // More than 128 bits: out of range for any field.
};

// YAML 1.2 core schema integers: [-+]?[0-9]+, 0x[0-9a-fA-F]+, 0o[0-7]+.
std::optional<ParsedInt> ParseInt(absl::string_view s) {
  ParsedInt result;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    result.negative = s[0] == '-';
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
    base = 8;
    s.remove_prefix(2);
  }
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    if (digit >= base) return std::nullopt;
    if (result.overflow) continue;
    if (result.magnitude > (absl::Uint128Max() - digit) / base) {
      result.overflow = true;
    } else {
      result.magnitude = result.magnitude * base + digit;
    }
  }
  return result;
}

// YAML 1.2 core schema floats (besides .inf/.nan):
// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool IsDecimalFloat(absl::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() &&
         absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) {
    ++i;
    ++int_digits;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() &&
           absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) {
      ++i;
      ++frac_digits;
    }
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() &&
           absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) {
      ++i;
      ++exp_digits;
    }
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

// A YAML number as a double: integers, decimal floats, .inf and .nan.
std::optional<double> ParseDouble(absl::string_view s) {
  absl::string_view body = s;
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (IsDecimalFloat(s)) {
    double value;
    // SimpleAtod returns ±inf for literals beyond double's range.
    if (absl::SimpleAtod(s, &value)) return value;
    return std::nullopt;
  }
  if (std::optional<ParsedInt> parsed = ParseInt(s)) {
    if (parsed->overflow) return std::nullopt;
    const double magnitude = static_cast<double>(parsed->magnitude);
    return parsed->negative ? -magnitude : magnitude;
  }
  return std::nullopt;
}

std::optional<bool> ParseBool(absl::string_view s) {
  const std::string lower = absl::AsciiStrToLower(s);
  if (lower == "true" || lower == "yes") return true;
  if (lower == "false" || lower == "no") return false;
  return std::nullopt;
}

// Checks `parsed` against [min, max] and names the type when it is outside.
absl::StatusOr<absl::int128> IntInRange(const ParsedInt& parsed,
                                        absl::string_view text,
                                        absl::string_view type_name,
                                        int64_t min, uint64_t max,
                                        absl::string_view path) {
  const absl::uint128 limit = absl::uint128(1) << 64;
  if (!parsed.overflow && parsed.magnitude <= limit) {
    const absl::int128 value = parsed.negative ? -absl::int128(parsed.magnitude)
                                               : absl::int128(parsed.magnitude);
    if (value >= absl::int128(min) && value <= absl::int128(max)) return value;
  }
  return Error(path, absl::StrCat(text, " is out of range for ", type_name,
                                  " (", min, " to ", max, ")"));
}

// "Codec" → "CODEC", "HttpMethod" → "HTTP_METHOD": the prefix protobuf style
// puts on enum value names.
std::string EnumPrefix(const EnumDescriptor* e) {
  const std::string& name = e->name();
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (i > 0 && absl::ascii_isupper(c)) {
      const unsigned char prev = static_cast<unsigned char>(name[i - 1]);
      const bool next_lower =
          i + 1 < name.size() &&
          absl::ascii_islower(static_cast<unsigned char>(name[i + 1]));
      if (!absl::ascii_isupper(prev) || next_lower) out.push_back('_');
    }
    out.push_back(absl::ascii_toupper(c));
  }
  return out + "_";
}

std::string ShortEnumName(const EnumValueDescriptor* value,
                          absl::string_view prefix) {
  absl::string_view name = value->name();
  absl::ConsumePrefix(&name, prefix);
  return absl::AsciiStrToLower(name);
}

// The names users should write: short names, without the *_UNSPECIFIED
// placeholder (still accepted by full name).
std::vector<std::string> EnumChoices(const EnumDescriptor* e) {
  const std::string prefix = EnumPrefix(e);
  std::vector<std::string> out;
  for (int i = 0; i < e->value_count(); ++i) {
    const EnumValueDescriptor* value = e->value(i);
    if (value->number() == 0 && absl::EndsWith(value->name(), "_UNSPECIFIED")) {
      continue;
    }
    out.push_back(ShortEnumName(value, prefix));
  }
  return out;
}

const EnumValueDescriptor* FindEnumValue(const EnumDescriptor* e,
                                         absl::string_view text) {
  if (const EnumValueDescriptor* exact =
          e->FindValueByName(std::string(text))) {
    return exact;
  }
  const std::string prefix = EnumPrefix(e);
  for (int i = 0; i < e->value_count(); ++i) {
    const EnumValueDescriptor* value = e->value(i);
    if (absl::EqualsIgnoreCase(value->name(), text) ||
        absl::EqualsIgnoreCase(ShortEnumName(value, prefix), text)) {
      return value;
    }
  }
  return nullptr;
}

bool IsWrapper(absl::string_view full_name) {
  static const auto* const kWrappers = new absl::flat_hash_set<std::string>{
      "google.protobuf.DoubleValue", "google.protobuf.FloatValue",
      "google.protobuf.Int64Value",  "google.protobuf.UInt64Value",
      "google.protobuf.Int32Value",  "google.protobuf.UInt32Value",
      "google.protobuf.BoolValue",   "google.protobuf.StringValue",
      "google.protobuf.BytesValue"};
  return kWrappers->contains(full_name);
}

// What a field accepts, for "expected X, got Y".
std::string Expected(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
      return "an integer";
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return "a non-negative integer";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "true or false";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "a number";
    case FieldDescriptor::CPPTYPE_STRING:
      return "a string";
    case FieldDescriptor::CPPTYPE_ENUM:
      return absl::StrCat("a ", field->enum_type()->name(), " (one of: ",
                          absl::StrJoin(EnumChoices(field->enum_type()), ", "),
                          ")");
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const std::string& type = field->message_type()->full_name();
      if (type == "google.protobuf.ListValue") return "a list";
      if (type == "google.protobuf.Value") return "a value";
      if (type == "google.protobuf.Duration") {
        return "a duration such as \"1.5s\"";
      }
      if (type == "google.protobuf.Timestamp") {
        return "an RFC 3339 timestamp such as \"2024-01-02T03:04:05Z\"";
      }
      if (IsWrapper(type)) {
        return Expected(field->message_type()->FindFieldByNumber(1));
      }
      return "a mapping";
    }
  }
  return "a value";
}

// ---- Conversion ----------------------------------------------------------

absl::Status ConvertMessage(const YAML::Node& node, Message* message,
                            const std::string& path);
absl::Status ConvertMessageValue(const YAML::Node& node, Message* message,
                                 const std::string& path);

// Sets (or, for repeated fields, appends) one scalar or message value.
absl::Status ConvertOne(const YAML::Node& node, Message* message,
                        const FieldDescriptor* field, const std::string& path,
                        bool add) {
  const Reflection* reflection = message->GetReflection();
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    const bool is_value =
        field->message_type()->full_name() == "google.protobuf.Value";
    if (node.IsNull() && !is_value) {
      return Mismatch(path, Expected(field), node);
    }
    Message* sub = add ? reflection->AddMessage(message, field)
                       : reflection->MutableMessage(message, field);
    return ConvertMessageValue(node, sub, path);
  }
  if (!node.IsScalar()) return Mismatch(path, Expected(field), node);
  const std::string& text = node.Scalar();

  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: {
      std::optional<ParsedInt> parsed = ParseInt(text);
      if (!parsed.has_value()) return Mismatch(path, Expected(field), node);
      const bool is_signed =
          field->cpp_type() == FieldDescriptor::CPPTYPE_INT32 ||
          field->cpp_type() == FieldDescriptor::CPPTYPE_INT64;
      if (!is_signed && parsed->negative && parsed->magnitude != 0) {
        return Mismatch(path, Expected(field), node);
      }
      int64_t min = 0;
      uint64_t max = 0;
      const char* type_name = "";
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          min = std::numeric_limits<int32_t>::min();
          max = std::numeric_limits<int32_t>::max();
          type_name = "int32";
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          min = std::numeric_limits<int64_t>::min();
          max = std::numeric_limits<int64_t>::max();
          type_name = "int64";
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          max = std::numeric_limits<uint32_t>::max();
          type_name = "uint32";
          break;
        default:
          max = std::numeric_limits<uint64_t>::max();
          type_name = "uint64";
          break;
      }
      ASSIGN_OR_RETURN(absl::int128 value,
                       IntInRange(*parsed, text, type_name, min, max, path));
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          add ? reflection->AddInt32(message, field,
                                     static_cast<int32_t>(value))
              : reflection->SetInt32(message, field,
                                     static_cast<int32_t>(value));
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          add ? reflection->AddInt64(message, field,
                                     static_cast<int64_t>(value))
              : reflection->SetInt64(message, field,
                                     static_cast<int64_t>(value));
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          add ? reflection->AddUInt32(message, field,
                                      static_cast<uint32_t>(value))
              : reflection->SetUInt32(message, field,
                                      static_cast<uint32_t>(value));
          break;
        default:
          add ? reflection->AddUInt64(message, field,
                                      static_cast<uint64_t>(value))
              : reflection->SetUInt64(message, field,
                                      static_cast<uint64_t>(value));
          break;
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      std::optional<bool> value = ParseBool(text);
      if (!value.has_value()) return Mismatch(path, Expected(field), node);
      add ? reflection->AddBool(message, field, *value)
          : reflection->SetBool(message, field, *value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      std::optional<double> value = ParseDouble(text);
      if (!value.has_value()) return Mismatch(path, Expected(field), node);
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        if (std::isinf(*value) && IsDecimalFloat(text)) {
          return Error(path, absl::StrCat(text, " is out of range for double"));
        }
        add ? reflection->AddDouble(message, field, *value)
            : reflection->SetDouble(message, field, *value);
      } else {
        if (std::isfinite(*value) &&
            std::fabs(*value) > std::numeric_limits<float>::max()) {
          return Error(path, absl::StrCat(text, " is out of range for float"));
        }
        add ? reflection->AddFloat(message, field, static_cast<float>(*value))
            : reflection->SetFloat(message, field, static_cast<float>(*value));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string value = text;
      if (field->type() == FieldDescriptor::TYPE_BYTES &&
          node.Tag() == kBinaryTag) {
        std::string stripped;
        for (char c : text) {
          if (!absl::ascii_isspace(static_cast<unsigned char>(c))) {
            stripped.push_back(c);
          }
        }
        if (!absl::Base64Unescape(stripped, &value)) {
          return Error(path, "invalid base64 in !!binary value");
        }
      } else if (field->type() == FieldDescriptor::TYPE_STRING) {
        RETURN_IF_ERROR(CheckUtf8(path, value));
      }
      add ? reflection->AddString(message, field, std::move(value))
          : reflection->SetString(message, field, std::move(value));
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const EnumDescriptor* type = field->enum_type();
      const EnumValueDescriptor* value = FindEnumValue(type, text);
      if (value == nullptr) {
        return Error(path,
                     absl::StrCat("unknown ", type->name(), " ", Quote(text),
                                  " (expected one of: ",
                                  absl::StrJoin(EnumChoices(type), ", "), ")"));
      }
      add ? reflection->AddEnumValue(message, field, value->number())
          : reflection->SetEnumValue(message, field, value->number());
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;  // Handled above.
  }
  return Error(path, "unsupported field type");
}

// A field's whole YAML value: a null leaves it unset, maps and repeated fields
// take collections.
absl::Status ConvertField(const YAML::Node& node, Message* message,
                          const FieldDescriptor* field,
                          const std::string& path) {
  if (node.IsNull()) {
    // `key:` with nothing after it is common while editing; treat it as unset.
    // A google.protobuf.Value is the exception: there null is a value.
    if (!field->is_repeated() &&
        field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        field->message_type()->full_name() == "google.protobuf.Value") {
      return ConvertOne(node, message, field, path, /*add=*/false);
    }
    return absl::OkStatus();
  }
  if (field->is_map()) {
    if (!node.IsMap()) return Mismatch(path, "a mapping", node);
    const Reflection* reflection = message->GetReflection();
    const Descriptor* entry_type = field->message_type();
    const FieldDescriptor* key_field = entry_type->FindFieldByNumber(1);
    const FieldDescriptor* value_field = entry_type->FindFieldByNumber(2);
    absl::flat_hash_set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // A copy: `it->first` lives in a temporary that dies with this line.
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        return Error(path, absl::StrCat("map keys must be scalars, got ",
                                        Describe(key)));
      }
      const std::string entry_path = KeyPath(path, key.Scalar());
      if (!seen.insert(key.Scalar()).second) {
        return Error(entry_path, "duplicate key");
      }
      Message* entry = reflection->AddMessage(message, field);
      RETURN_IF_ERROR(
          ConvertOne(key, entry, key_field, entry_path, /*add=*/false));
      RETURN_IF_ERROR(ConvertOne(it->second, entry, value_field, entry_path,
                                 /*add=*/false));
    }
    return absl::OkStatus();
  }
  if (field->is_repeated()) {
    if (!node.IsSequence()) {
      return Mismatch(path, "a list", node);
    }
    for (size_t i = 0; i < node.size(); ++i) {
      RETURN_IF_ERROR(ConvertOne(node[i], message, field, IndexPath(path, i),
                                 /*add=*/true));
    }
    return absl::OkStatus();
  }
  return ConvertOne(node, message, field, path, /*add=*/false);
}

// ---- google.protobuf.Struct / ListValue / Value ---------------------------

absl::Status ConvertStruct(const YAML::Node& node, Message* message,
                           const std::string& path);
absl::Status ConvertListValue(const YAML::Node& node, Message* message,
                              const std::string& path);

absl::Status SetNumberValue(Message* value, double number) {
  const Reflection* reflection = value->GetReflection();
  reflection->SetDouble(
      value, value->GetDescriptor()->FindFieldByName("number_value"), number);
  return absl::OkStatus();
}

// A scalar inside a Value, typed the way YAML 1.2 (and JSON) would.
absl::Status ConvertScalarValue(const YAML::Node& node, Message* value,
                                const std::string& path) {
  const Reflection* reflection = value->GetReflection();
  const Descriptor* type = value->GetDescriptor();
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  auto set_string = [&] {
    RETURN_IF_ERROR(CheckUtf8(path, text));
    reflection->SetString(value, type->FindFieldByName("string_value"), text);
    return absl::OkStatus();
  };
  auto set_bool = [&](bool b) {
    reflection->SetBool(value, type->FindFieldByName("bool_value"), b);
    return absl::OkStatus();
  };
  auto set_int = [&](const ParsedInt& parsed) {
    if (parsed.overflow || parsed.magnitude > kMaxExactDoubleInt) {
      return Error(path,
                   absl::StrCat("integer ", text,
                                " is too large for a JSON number (at most 2^53 "
                                "in magnitude); quote it to pass a string"));
    }
    const double magnitude = static_cast<double>(parsed.magnitude);
    return SetNumberValue(value, parsed.negative ? -magnitude : magnitude);
  };
  auto set_float = [&](double d) {
    if (!std::isfinite(d)) {
      return Error(path, absl::StrCat(text,
                                      " has no JSON representation; "
                                      "use a finite number"));
    }
    return SetNumberValue(value, d);
  };

  if (tag == kQuotedTag || tag == kStrTag) return set_string();
  if (tag == kPlainTag) {
    if (text == "true" || text == "True" || text == "TRUE") {
      return set_bool(true);
    }
    if (text == "false" || text == "False" || text == "FALSE") {
      return set_bool(false);
    }
    if (std::optional<ParsedInt> parsed = ParseInt(text)) {
      return set_int(*parsed);
    }
    const std::optional<double> number = ParseDouble(text);
    if (number.has_value() &&
        (IsDecimalFloat(text) || absl::StrContains(text, '.'))) {
      return set_float(*number);
    }
    return set_string();
  }
  if (tag == kIntTag) {
    if (std::optional<ParsedInt> parsed = ParseInt(text)) {
      return set_int(*parsed);
    }
    return Mismatch(path, "an integer (tagged !!int)", node);
  }
  if (tag == kFloatTag) {
    if (std::optional<double> number = ParseDouble(text)) {
      return set_float(*number);
    }
    return Mismatch(path, "a number (tagged !!float)", node);
  }
  if (tag == kBoolTag) {
    if (absl::EqualsIgnoreCase(text, "true")) return set_bool(true);
    if (absl::EqualsIgnoreCase(text, "false")) return set_bool(false);
    return Mismatch(path, "true or false (tagged !!bool)", node);
  }
  if (tag == kNullTag) {
    reflection->SetEnumValue(value, type->FindFieldByName("null_value"), 0);
    return absl::OkStatus();
  }
  return Error(path, absl::StrCat("unsupported YAML tag ", Quote(tag)));
}

absl::Status ConvertValue(const YAML::Node& node, Message* value,
                          const std::string& path) {
  const Reflection* reflection = value->GetReflection();
  const Descriptor* type = value->GetDescriptor();
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return ConvertStruct(node,
                           reflection->MutableMessage(
                               value, type->FindFieldByName("struct_value")),
                           path);
    case YAML::NodeType::Sequence:
      return ConvertListValue(node,
                              reflection->MutableMessage(
                                  value, type->FindFieldByName("list_value")),
                              path);
    case YAML::NodeType::Scalar:
      return ConvertScalarValue(node, value, path);
    default:
      reflection->SetEnumValue(value, type->FindFieldByName("null_value"), 0);
      return absl::OkStatus();
  }
}

absl::Status ConvertStruct(const YAML::Node& node, Message* message,
                           const std::string& path) {
  if (!node.IsMap()) return Mismatch(path, "a mapping", node);
  const Reflection* reflection = message->GetReflection();
  const FieldDescriptor* fields =
      message->GetDescriptor()->FindFieldByName("fields");
  const FieldDescriptor* key_field =
      fields->message_type()->FindFieldByNumber(1);
  const FieldDescriptor* value_field =
      fields->message_type()->FindFieldByNumber(2);
  absl::flat_hash_set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // A copy: `it->first` lives in a temporary that dies with this line.
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      return Error(path,
                   absl::StrCat("keys must be strings, got ", Describe(key)));
    }
    const std::string entry_path = KeyPath(path, key.Scalar());
    if (!seen.insert(key.Scalar()).second) {
      return Error(entry_path, "duplicate key");
    }
    RETURN_IF_ERROR(CheckUtf8(entry_path, key.Scalar()));
    Message* entry = reflection->AddMessage(message, fields);
    entry->GetReflection()->SetString(entry, key_field, key.Scalar());
    RETURN_IF_ERROR(ConvertValue(
        it->second, entry->GetReflection()->MutableMessage(entry, value_field),
        entry_path));
  }
  return absl::OkStatus();
}

absl::Status ConvertListValue(const YAML::Node& node, Message* message,
                              const std::string& path) {
  if (!node.IsSequence()) return Mismatch(path, "a list", node);
  const Reflection* reflection = message->GetReflection();
  const FieldDescriptor* values =
      message->GetDescriptor()->FindFieldByName("values");
  for (size_t i = 0; i < node.size(); ++i) {
    RETURN_IF_ERROR(ConvertValue(
        node[i], reflection->AddMessage(message, values), IndexPath(path, i)));
  }
  return absl::OkStatus();
}

// ---- Messages ------------------------------------------------------------

const FieldDescriptor* FindField(const Descriptor* type,
                                 absl::string_view name) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    if (field->name() == name || field->json_name() == name) return field;
  }
  return nullptr;
}

absl::Status UnknownField(const Descriptor* type, const std::string& path,
                          absl::string_view name) {
  std::vector<std::string> names, candidates;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    names.push_back(field->name());
    candidates.push_back(field->name());
    if (field->json_name() != field->name()) {
      candidates.push_back(field->json_name());
    }
  }
  const std::string suggestion = ClosestMatch(name, candidates);
  if (!suggestion.empty()) {
    return Error(path, absl::StrCat("unknown field (did you mean ",
                                    Quote(suggestion), "?)"));
  }
  if (names.empty()) return Error(path, "unknown field (none are allowed)");
  return Error(path, absl::StrCat("unknown field (expected one of: ",
                                  absl::StrJoin(names, ", "), ")"));
}

absl::Status ConvertMessage(const YAML::Node& node, Message* message,
                            const std::string& path) {
  if (!node.IsMap()) return Mismatch(path, "a mapping", node);
  const Descriptor* type = message->GetDescriptor();
  absl::flat_hash_map<int, std::string> seen;        // field number → key
  absl::flat_hash_map<int, std::string> oneof_seen;  // oneof index → key
  for (auto it = node.begin(); it != node.end(); ++it) {
    // A copy: `it->first` lives in a temporary that dies with this line.
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      return Error(
          path, absl::StrCat("keys must be field names, got ", Describe(key)));
    }
    const std::string& name = key.Scalar();
    const std::string field_path = ChildPath(path, name);
    const FieldDescriptor* field = FindField(type, name);
    if (field == nullptr) return UnknownField(type, field_path, name);
    auto [previous, inserted] = seen.emplace(field->number(), name);
    if (!inserted) {
      if (previous->second == name) return Error(field_path, "duplicate key");
      return Error(field_path,
                   absl::StrCat("duplicate key: ", Quote(previous->second),
                                " already sets this field"));
    }
    if (const OneofDescriptor* oneof = field->real_containing_oneof();
        oneof != nullptr && !it->second.IsNull()) {
      auto [other, first] = oneof_seen.emplace(oneof->index(), name);
      if (!first) {
        std::vector<std::string> members;
        for (int i = 0; i < oneof->field_count(); ++i) {
          members.push_back(oneof->field(i)->name());
        }
        return Error(field_path,
                     absl::StrCat("conflicts with ", Quote(other->second),
                                  " (set at most one of: ",
                                  absl::StrJoin(members, ", "), ")"));
      }
    }
    RETURN_IF_ERROR(ConvertField(it->second, message, field, field_path));
  }
  return absl::OkStatus();
}

// A message-typed value: well-known types have their JSON-like YAML forms,
// every other message is a mapping of its fields.
absl::Status ConvertMessageValue(const YAML::Node& node, Message* message,
                                 const std::string& path) {
  const Descriptor* type = message->GetDescriptor();
  const std::string& name = type->full_name();
  const Reflection* reflection = message->GetReflection();
  if (name == "google.protobuf.Value") return ConvertValue(node, message, path);
  if (name == "google.protobuf.Struct") {
    return ConvertStruct(node, message, path);
  }
  if (name == "google.protobuf.ListValue") {
    return ConvertListValue(node, message, path);
  }
  if (name == "google.protobuf.Duration") {
    google::protobuf::Duration duration;
    if (!node.IsScalar() || !google::protobuf::util::TimeUtil::FromString(
                                node.Scalar(), &duration)) {
      return Mismatch(path, "a duration such as \"1.5s\"", node);
    }
    reflection->SetInt64(message, type->FindFieldByName("seconds"),
                         duration.seconds());
    reflection->SetInt32(message, type->FindFieldByName("nanos"),
                         duration.nanos());
    return absl::OkStatus();
  }
  if (name == "google.protobuf.Timestamp") {
    google::protobuf::Timestamp timestamp;
    if (!node.IsScalar() || !google::protobuf::util::TimeUtil::FromString(
                                node.Scalar(), &timestamp)) {
      return Mismatch(
          path, "an RFC 3339 timestamp such as \"2024-01-02T03:04:05Z\"", node);
    }
    reflection->SetInt64(message, type->FindFieldByName("seconds"),
                         timestamp.seconds());
    reflection->SetInt32(message, type->FindFieldByName("nanos"),
                         timestamp.nanos());
    return absl::OkStatus();
  }
  if (IsWrapper(name)) {
    return ConvertOne(node, message, type->FindFieldByNumber(1), path,
                      /*add=*/false);
  }
  if (name == "google.protobuf.Any") {
    return Error(path, "google.protobuf.Any is not supported in YAML");
  }
  return ConvertMessage(node, message, path);
}

}  // namespace

absl::Status YamlToProto(const YAML::Node& node,
                         google::protobuf::Message* message,
                         absl::string_view path_prefix) {
  // yaml-cpp reports misuse by throwing; no exception leaves this function.
  try {
    if (!node.IsDefined() || node.IsNull()) return absl::OkStatus();
    return ConvertMessageValue(node, message, std::string(path_prefix));
  } catch (const YAML::Exception& e) {
    return Error(path_prefix, absl::StrCat("invalid YAML: ", e.msg));
  }
}

namespace {

// Reads documents and drops them: LoadAllYaml only counts them.
class IgnoreEvents final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

std::vector<YAML::Node> LoadAllYaml(const std::string& yaml) {
  // Each document after the first takes a "---" or "...": more documents
  // than bytes means the parser is stuck repeating an empty one.
  std::stringstream in(yaml);
  YAML::Parser parser(in);
  IgnoreEvents ignore;
  for (size_t documents = 0; parser.HandleNextDocument(ignore); ++documents) {
    if (documents > yaml.size()) {
      throw YAML::ParserException(YAML::Mark::null_mark(),
                                  "no document can be read");
    }
  }
  return YAML::LoadAll(yaml);
}

absl::Status YamlTextToProto(absl::string_view yaml,
                             google::protobuf::Message* message,
                             absl::string_view path_prefix) {
  std::vector<YAML::Node> documents;
  try {
    documents = LoadAllYaml(std::string(yaml));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) {
      return Error(path_prefix, absl::StrCat("YAML syntax error: ", e.msg));
    }
    return Error(path_prefix,
                 absl::StrCat("YAML syntax error at line ", e.mark.line + 1,
                              ", column ", e.mark.column + 1, ": ", e.msg));
  }
  if (documents.size() > 1) {
    return Error(path_prefix, absl::StrCat("expected one YAML document, found ",
                                           documents.size()));
  }
  if (documents.empty()) return absl::OkStatus();
  return YamlToProto(documents[0], message, path_prefix);
}

}  // namespace tether::servicespec
