#include "tools/cli/render_command.h"

#include <string>

#include "kube/render.h"
#include "nlohmann/json.hpp"
#include "sync/tree.h"
#include "tools/cli/exit_codes.h"
#include "yaml-cpp/yaml.h"

namespace tether::cli {
namespace {

// Where deploy/ installs tetherd and which image carries the agent bundle.
constexpr char kDefaultTetherdAddress[] = "tetherd.tether-system.svc:7700";
constexpr char kDefaultAgentImage[] = "tether-agent:latest";

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

int RunRender(const CommandSpec& command, const ParsedArgs& args,
              Context& ctx) {
  if (!args.Has("file")) {
    return UsageError(ctx, command, "missing --file FILE (the service YAML)");
  }
  absl::StatusOr<bool> json = WantJson(args);
  if (!json.ok()) return UsageError(ctx, command, json.status().message());
  int exit_code = 0;
  std::optional<ServiceInputs> inputs =
      LoadServiceInputs(command, args, ctx, &exit_code);
  if (!inputs.has_value()) return exit_code;
  // The revision a deploy of this directory would create, computed locally.
  absl::StatusOr<tether::v1::Tree> tree =
      sync::ScanTree(inputs->code_dir, sync::ScanOptions());
  if (!tree.ok()) {
    Fail(ctx, tree.status());
    return kExitUsage;
  }
  kube::RenderOptions options;
  options.kube_namespace = args.Get("namespace", "default");
  options.agent_image = args.Get("agent-image", kDefaultAgentImage);
  options.tetherd_address = args.Get("tetherd-address", kDefaultTetherdAddress);
  options.token_secret = args.Get("token-secret");
  options.revision = sync::TreeId(*tree);
  absl::StatusOr<std::vector<nlohmann::json>> objects =
      kube::RenderService(inputs->file.spec, options);
  if (!objects.ok()) {
    Fail(ctx, objects.status());
    return kExitUsage;
  }
  if (*json) {
    nlohmann::json list = {
        {"apiVersion", "v1"}, {"kind", "List"}, {"items", *objects}};
    *ctx.out << list.dump(2) << std::endl;
    return kExitOk;
  }
  for (const nlohmann::json& object : *objects) {
    YAML::Emitter out;
    EmitYaml(object, out);
    *ctx.out << "---\n" << out.c_str() << "\n";
  }
  ctx.out->flush();
  return kExitOk;
}

}  // namespace

Command RenderCommand() {
  Command command;
  CommandSpec& spec = command.spec;
  spec.name = "render";
  spec.summary = "Print the Kubernetes manifests of a service file.";
  spec.description =
      "Renders what the Kubernetes backend applies for the service: the\n"
      "Deployment (a StatefulSet for distributed workers), Services, HPA and\n"
      "PodDisruptionBudget, as YAML documents (or a JSON List with -o json),\n"
      "labelled with the revision the code directory would upload as.\n"
      "Nothing is sent to tetherd. Cluster PodTemplates are not read.\n";
  spec.flags = {
      {"file", 'f', "FILE", "service YAML (required)"},
      {"code", '\0', "DIR", "code directory (default: the file's)"},
      {"namespace", '\0', "NS", "namespace of the objects (default: default)"},
      {"agent-image", '\0', "IMAGE",
       std::string("image with the agent bundle (default: ") +
           kDefaultAgentImage + ")"},
      {"tetherd-address", '\0', "HOST:PORT",
       std::string("where agents dial tetherd (default: ") +
           kDefaultTetherdAddress + ")"},
      {"token-secret", '\0', "NAME", "Secret holding the service token"},
      OutputFlag(),
  };
  command.run = [spec](const ParsedArgs& args, Context& ctx) {
    return RunRender(spec, args, ctx);
  };
  return command;
}

}  // namespace tether::cli
