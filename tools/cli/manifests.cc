#include "tools/cli/manifests.h"

#include <string>

#include "yaml-cpp/yaml.h"

namespace tether::cli {
namespace {

void EmitYaml(const nlohmann::json& value, YAML::Emitter& out) {
  switch (value.type()) {
    case nlohmann::json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        out << YAML::Key << key << YAML::Value;
        EmitYaml(item, out);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& item : value) EmitYaml(item, out);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string:
      // Quoted, so "1" or "true" stay strings for the API server.
      out << YAML::DoubleQuoted << value.get<std::string>();
      break;
    case nlohmann::json::value_t::null:
      out << YAML::Null;
      break;
    default:  // Numbers and booleans print as JSON does.
      out << value.dump();
  }
}

}  // namespace

void PrintManifests(const std::vector<nlohmann::json>& objects, bool json,
                    std::ostream& out) {
  if (json) {
    nlohmann::json list = {
        {"apiVersion", "v1"}, {"kind", "List"}, {"items", objects}};
    out << list.dump(2) << std::endl;
    return;
  }
  for (const nlohmann::json& object : objects) {
    YAML::Emitter emitter;
    EmitYaml(object, emitter);
    out << "---\n" << emitter.c_str() << "\n";
  }
  out.flush();
}

}  // namespace tether::cli
