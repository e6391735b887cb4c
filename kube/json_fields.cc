#include "kube/json_fields.h"

namespace tether::kube {

const nlohmann::json& Field(const nlohmann::json& object,
                            absl::string_view key) {
  static const nlohmann::json& kNull = *new nlohmann::json();
  if (!object.is_object()) return kNull;
  const auto it = object.find(key);
  return it != object.end() ? *it : kNull;
}

std::string StringField(const nlohmann::json& object, absl::string_view key) {
  const nlohmann::json& field = Field(object, key);
  return field.is_string() ? field.get<std::string>() : "";
}

}  // namespace tether::kube
