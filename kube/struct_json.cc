#include "kube/struct_json.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "servicespec/yaml_proto.h"
#include "yaml-cpp/yaml.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

json ValueToJson(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue: {
      const double number = value.number_value();
      if (std::trunc(number) == number && std::fabs(number) < 9.0e15) {
        return static_cast<int64_t>(number);
      }
      return number;
    }
    case google::protobuf::Value::kStringValue:
      return value.string_value();
    case google::protobuf::Value::kBoolValue:
      return value.bool_value();
    case google::protobuf::Value::kStructValue:
      return StructToJson(value.struct_value());
    case google::protobuf::Value::kListValue: {
      json list = json::array();
      for (const google::protobuf::Value& item : value.list_value().values()) {
        list.push_back(ValueToJson(item));
      }
      return list;
    }
    default:
      return nullptr;
  }
}

}  // namespace

nlohmann::json StructToJson(const google::protobuf::Struct& value) {
  json object = json::object();
  for (const auto& [key, item] : value.fields()) {
    object[key] = ValueToJson(item);
  }
  return object;
}

absl::StatusOr<nlohmann::json> YamlObjectToJson(absl::string_view yaml) {
  google::protobuf::Struct object;
  RETURN_IF_ERROR(servicespec::YamlTextToProto(yaml, &object));
  return StructToJson(object);
}

absl::StatusOr<std::vector<nlohmann::json>> YamlDocumentsToJson(
    absl::string_view yaml) {
  std::vector<YAML::Node> documents;
  try {
    documents = servicespec::LoadAllYaml(std::string(yaml));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) {
      return absl::InvalidArgumentError(
          absl::StrCat("YAML syntax error: ", e.msg));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("YAML syntax error at line ", e.mark.line + 1, ", column ",
                     e.mark.column + 1, ": ", e.msg));
  }
  std::vector<nlohmann::json> objects;
  for (size_t i = 0; i < documents.size(); ++i) {
    if (documents[i].IsNull()) continue;
    google::protobuf::Struct object;
    RETURN_IF_ERROR(servicespec::YamlToProto(documents[i], &object,
                                             absl::StrCat("document ", i + 1)));
    objects.push_back(StructToJson(object));
  }
  return objects;
}

}  // namespace tether::kube
