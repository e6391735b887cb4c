#include "tools/cli/render_command.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_context.h"
#include "kube/pod_template.h"
#include "kube/render.h"
#include "kube/struct_json.h"
#include "nlohmann/json.hpp"
#include "sync/tree.h"
#include "tools/cli/exit_codes.h"
#include "tools/cli/manifests.h"

namespace tether::cli {
namespace {

// Puts the PodTemplates of --pod-template FILE into `options` as the
// cluster would: the one named compute.pod_template_name is the named
// template, any other the cluster default (tetherd's
// --default_pod_template).
absl::Status LoadPodTemplates(const std::vector<std::string>& files,
                              const std::string& named,
                              kube::RenderOptions& options) {
  std::string default_file;
  std::string named_file;
  for (const std::string& file : files) {
    absl::StatusOr<std::string> text = ReadFile(file);
    absl::StatusOr<nlohmann::json> object =
        text.ok() ? kube::YamlObjectToJson(*text) : text.status();
    absl::StatusOr<nlohmann::json> spec =
        object.ok() ? kube::PodTemplateSpecOf(*object) : object.status();
    if (!spec.ok()) {
      return WithContext(absl::StrCat("--pod-template ", file), spec.status());
    }
    const bool is_named =
        !named.empty() &&
        object->value(nlohmann::json::json_pointer("/metadata/name"),
                      std::string()) == named;
    std::string& seen = is_named ? named_file : default_file;
    if (!seen.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--pod-template ", file, ": ", seen, " is already the ",
          is_named ? absl::StrCat("PodTemplate \"", named, "\"")
                   : std::string("cluster default (only a PodTemplate named "
                                 "like compute.pod_template_name may join "
                                 "it)")));
    }
    seen = file;
    (is_named ? options.named_pod_template
              : options.namespace_default_pod_template) = *std::move(spec);
  }
  if (!named.empty() && named_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "compute.pod_template_name: names PodTemplate \"", named,
        "\"; pass it with --pod-template FILE (kubectl get podtemplate ", named,
        " -o yaml)"));
  }
  return absl::OkStatus();
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
  const absl::Status templates = LoadPodTemplates(
      args.GetAll("pod-template"),
      inputs->file.spec.compute().pod_template_name(), options);
  if (!templates.ok()) {
    Fail(ctx, templates);
    return kExitUsage;
  }
  absl::StatusOr<std::vector<nlohmann::json>> objects =
      kube::RenderService(inputs->file.spec, options);
  if (!objects.ok()) {
    Fail(ctx, objects.status());
    return kExitUsage;
  }
  PrintManifests(*objects, *json, *ctx.out);
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
      "Nothing is sent to tetherd, and the cluster is not read: give the\n"
      "PodTemplates tetherd would layer under the service with\n"
      "--pod-template FILE (as `kubectl get podtemplate NAME -o yaml`\n"
      "prints them), once for the cluster default and once for the one\n"
      "compute.pod_template_name names, which is recognized by its name.\n";
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
      {"pod-template", '\0', "FILE",
       "a PodTemplate: the cluster default, or the one\n"
       "compute.pod_template_name names (repeatable)",
       /*repeated=*/true},
      OutputFlag(),
  };
  command.run = [spec](const ParsedArgs& args, Context& ctx) {
    return RunRender(spec, args, ctx);
  };
  return command;
}

}  // namespace tether::cli
