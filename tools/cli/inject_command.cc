#include "tools/cli/inject_command.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_context.h"
#include "kube/json_fields.h"
#include "kube/struct_json.h"
#include "nlohmann/json.hpp"
#include "sidecar/injector.h"
#include "sidecar/workload.h"
#include "tools/cli/exit_codes.h"
#include "tools/cli/manifests.h"

namespace tether::cli {
namespace {

using json = nlohmann::json;

// Injects the pod of `object` in place; prints what happened to `err`.
absl::Status InjectObject(json& object, const sidecar::InjectorConfig& config,
                          std::ostream& err) {
  const std::optional<std::string> pointer = sidecar::PodPointer(object);
  if (!pointer.has_value()) return absl::OkStatus();
  const std::string name =
      absl::StrCat(kube::StringField(object, "kind"), "/",
                   kube::StringField(kube::Field(object, "metadata"), "name"));
  const json::json_pointer at(*pointer);
  if (!object.contains(at) || !object[at].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", sidecar::PointerPath(*pointer), ": required"));
  }
  absl::StatusOr<sidecar::Injection> injection =
      sidecar::InjectPod(object[at], config);
  if (!injection.ok()) {
    return absl::Status(injection.status().code(),
                        absl::StrCat(name, ": ", sidecar::PointerPath(*pointer),
                                     pointer->empty() ? "" : ".",
                                     injection.status().message()));
  }
  for (const std::string& warning : injection->warnings) {
    err << "warning: " << name << ": " << warning << "\n";
  }
  if (!injection->injected) {
    err << name << ": not injected: " << injection->skipped << "\n";
    return absl::OkStatus();
  }
  object[at] = std::move(injection->pod);
  err << name << ": injected (" << sidecar::kStatusAnnotation << " "
      << object[at]["metadata"]["annotations"][sidecar::kStatusAnnotation]
             .get<std::string>()
      << ")\n";
  return absl::OkStatus();
}

int RunInject(const CommandSpec& command, const ParsedArgs& args,
              Context& ctx) {
  if (!args.Has("file")) {
    return UsageError(ctx, command, "missing --file FILE (the manifest)");
  }
  absl::StatusOr<bool> json_output = WantJson(args);
  if (!json_output.ok()) {
    return UsageError(ctx, command, json_output.status().message());
  }
  sidecar::InjectorConfig config;
  config.agent_image = args.Get("agent-image", kDefaultAgentImage);
  config.tetherd_address = args.Get("tetherd-address", kDefaultTetherdAddress);
  config.native_sidecars = !args.Has("no-native-sidecars");
  const std::string file = args.Get("file");
  absl::StatusOr<std::string> text = ReadFile(file);
  absl::StatusOr<std::vector<json>> objects =
      text.ok() ? kube::YamlDocumentsToJson(*text) : text.status();
  if (!objects.ok()) {
    Fail(ctx, WithContext(absl::StrCat("--file ", file), objects.status()));
    return kExitUsage;
  }
  for (json& object : *objects) {
    const absl::Status status = InjectObject(object, config, *ctx.err);
    if (!status.ok()) {
      Fail(ctx, status);
      return kExitUsage;
    }
  }
  PrintManifests(*objects, *json_output, *ctx.out);
  return kExitOk;
}

}  // namespace

Command InjectCommand() {
  Command command;
  CommandSpec& spec = command.spec;
  spec.name = "inject";
  spec.summary =
      "Print a manifest with the agent injected, as the webhook would.";
  spec.description =
      "Runs tether-injector's own decision on every pod of a manifest (Pods,\n"
      "and the pod templates of Deployments, StatefulSets, DaemonSets,\n"
      "ReplicaSets, Jobs and CronJobs) and prints the manifest with the agent\n"
      "injected where a pod asks for it (label tether.dev/inject: \"true\";\n"
      "annotations in sidecar/README.md). What was done, or why not, goes to\n"
      "stderr; a pod the webhook would deny is an error naming the field.\n"
      "Nothing is sent anywhere: pipe the output to `kubectl apply -f -`\n"
      "on clusters without the webhook.\n";
  spec.flags = {
      {"file", 'f', "FILE", "manifest YAML, one or more documents (required)"},
      {"agent-image", '\0', "IMAGE",
       std::string("image with the agent bundle (default: ") +
           kDefaultAgentImage + ")"},
      {"tetherd-address", '\0', "HOST:PORT",
       std::string("where agents dial tetherd (default: ") +
           kDefaultTetherdAddress + ")"},
      {"no-native-sidecars", '\0', "",
       "the cluster runs Kubernetes < 1.29: sidecar mode\n"
       "adds a classic sidecar container"},
      OutputFlag(),
  };
  command.run = [spec](const ParsedArgs& args, Context& ctx) {
    return RunInject(spec, args, ctx);
  };
  return command;
}

}  // namespace tether::cli
