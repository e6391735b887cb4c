#include "kube/struct_json.h"

#include <cmath>
#include <cstdint>

#include "common/status_macros.h"
#include "servicespec/yaml_proto.h"

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

}  // namespace tether::kube
