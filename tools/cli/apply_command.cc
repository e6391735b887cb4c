#include "tools/cli/apply_command.h"

#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "kube/json_fields.h"
#include "kube/struct_json.h"
#include "servicespec/validate.h"
#include "sidecar/injector.h"
#include "sidecar/workload.h"
#include "tools/cli/deploy_command.h"
#include "tools/cli/exit_codes.h"

namespace tether::cli {
namespace {

using json = nlohmann::json;
using kube::Field;
using kube::StringField;

// What a pod template can say for `tether apply` beyond the injector's own
// annotations.
constexpr char kCallableAnnotation[] = "tether.dev/callable";
constexpr char kTtlAnnotation[] = "tether.dev/inactivity-ttl";

// The flag when given, else the template's annotation, else "".
std::string Setting(const ParsedArgs& args, const char* flag,
                    const json& annotations, const char* annotation) {
  return args.Has(flag) ? args.Get(flag) : StringField(annotations, annotation);
}

absl::Status SetCallable(const std::string& text,
                         tether::v1::ServiceSpec& spec) {
  const size_t colon = text.find(':');
  if (text.empty() || colon == std::string::npos || colon == 0 ||
      colon + 1 == text.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--callable: ",
        text.empty() ? "required"
                     : absl::StrCat("\"", text, "\" is not MODULE:NAME"),
        ": the Python function or class to serve, like hello:greet (or the "
        "pod template's annotation ",
        kCallableAnnotation, "; sidecar mode serves the pod's own server)"));
  }
  spec.mutable_callable()->set_module(text.substr(0, colon));
  spec.mutable_callable()->set_name(text.substr(colon + 1));
  return absl::OkStatus();
}

absl::Status SetApp(const json& annotations, tether::v1::ServiceSpec& spec) {
  ASSIGN_OR_RETURN(
      const int port,
      sidecar::PortAnnotation(annotations, sidecar::kAppPortAnnotation));
  if (port == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the pod template's annotation ", sidecar::kAppPortAnnotation,
        ": required in sidecar mode (the port of the server the agent "
        "proxies)"));
  }
  tether::v1::App& app = *spec.mutable_app();
  app.set_port(port);
  ASSIGN_OR_RETURN(
      const int proxy_port,
      sidecar::PortAnnotation(annotations, sidecar::kProxyPortAnnotation));
  app.set_proxy_port(proxy_port);
  ASSIGN_OR_RETURN(const std::vector<std::string> reload,
                   sidecar::ReloadCommandAnnotation(annotations));
  for (const std::string& word : reload) app.add_reload_command(word);
  return absl::OkStatus();
}

// How many pods a deploy of `workload` waits for: its replicas (a Job's
// parallelism), 1 when unset.
int InitialPods(const json& workload) {
  const json& spec = Field(workload, "spec");
  const json& count =
      Field(spec, StringField(workload, "kind") == "Job" ? "parallelism"
                                                         : "replicas");
  return count.is_number_integer() && count.get<int>() > 0 ? count.get<int>()
                                                           : 1;
}

// The one workload of the manifest in `file`.
absl::StatusOr<json> ReadWorkload(const std::string& file) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(file));
  ASSIGN_OR_RETURN(std::vector<json> objects, kube::YamlDocumentsToJson(text));
  if (objects.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tether apply takes one workload; the file has ", objects.size(),
        " objects (apply the others with kubectl)"));
  }
  return std::move(objects[0]);
}

int RunApply(const CommandSpec& command, const ParsedArgs& args, Context& ctx) {
  if (!args.Has("file")) {
    return UsageError(ctx, command,
                      "missing --file FILE (the workload's manifest)");
  }
  const std::string file = args.Get("file");
  absl::StatusOr<json> workload = ReadWorkload(file);
  if (!workload.ok()) {
    Fail(ctx, WithContext(absl::StrCat("--file ", file), workload.status()));
    return kExitUsage;
  }
  absl::StatusOr<tether::v1::ServiceSpec> spec =
      WorkloadServiceSpec(*workload, args);
  if (!spec.ok()) {
    Fail(ctx, spec.status());
    return kExitUsage;
  }
  // The code is the project the command runs in, not the manifest's folder
  // (manifests usually live in a deploy/ or k8s/ directory of their own).
  char cwd[4096];
  absl::StatusOr<std::string> code_dir =
      getcwd(cwd, sizeof(cwd)) != nullptr
          ? CodeDir(args, cwd)
          : absl::FailedPreconditionError("cannot read the current directory");
  if (!code_dir.ok()) {
    Fail(ctx, code_dir.status());
    return kExitUsage;
  }
  ServiceInputs inputs;
  inputs.file.spec = *std::move(spec);
  inputs.file.code_dir = *code_dir;
  inputs.code_dir = *code_dir;
  return DeployInputs(command, args, ctx, inputs);
}

}  // namespace

absl::StatusOr<tether::v1::ServiceSpec> WorkloadServiceSpec(
    const json& workload, const ParsedArgs& args) {
  const std::optional<std::string> pointer =
      sidecar::WorkloadPodPointer(workload, args.Get("pod-template-path"));
  const json::json_pointer at(pointer.value_or(""));
  json annotations = json::object();
  if (pointer.has_value() && !pointer->empty() && workload.contains(at)) {
    annotations = Field(Field(workload[at], "metadata"), "annotations");
  }
  tether::v1::ServiceSpec spec;
  spec.set_name(
      Setting(args, "service", annotations, sidecar::kServiceAnnotation));
  if (spec.name().empty()) {
    spec.set_name(StringField(Field(workload, "metadata"), "name"));
  }
  if (StringField(annotations, sidecar::kModeAnnotation) == "sidecar") {
    RETURN_IF_ERROR(SetApp(annotations, spec));
  } else {
    RETURN_IF_ERROR(SetCallable(
        Setting(args, "callable", annotations, kCallableAnnotation), spec));
  }
  spec.mutable_compute()->set_inactivity_ttl(
      Setting(args, "ttl", annotations, kTtlAnnotation));
  spec.mutable_compute()->set_replicas(InitialPods(workload));
  spec.mutable_workload()->set_pod_template_path(args.Get("pod-template-path"));
  if (!google::protobuf::util::JsonStringToMessage(
           workload.dump(), spec.mutable_workload()->mutable_object())
           .ok()) {
    return absl::InvalidArgumentError("--file: not a Kubernetes object");
  }
  RETURN_IF_ERROR(servicespec::ValidateServiceSpec(spec));
  return spec;
}

Command ApplyCommand() {
  Command command;
  CommandSpec& spec = command.spec;
  spec.name = "apply";
  spec.summary = "Run a workload you already have through Tether (Kubernetes).";
  spec.description =
      "Deploys one Deployment, StatefulSet, Job or CronJob (or any kind,\n"
      "with --pod-template-path: a PyTorchJob, a RayCluster) as a Tether\n"
      "service: tetherd injects the agent into its pod template (as\n"
      "tether-injector would), labels it and its pods, and applies it, so\n"
      "calls, code sync, hot reload and the inactivity TTL work on it. The\n"
      "current directory (or --code) is uploaded as the service's code.\n"
      "Needs tetherd's Kubernetes backend.\n"
      "\n"
      "Wrap mode (default) serves a Python function or class from the\n"
      "pod's own image: --callable MODULE:NAME, or the pod template's\n"
      "annotation tether.dev/callable. Sidecar mode (annotation\n"
      "tether.dev/inject-mode: sidecar) keeps the pod's own server, needs\n"
      "tether.dev/app-port, and takes tether.dev/reload-command and\n"
      "tether.dev/proxy-port (sidecar/README.md). The service is named by\n"
      "--service, else tether.dev/service, else the object's name; the TTL\n"
      "comes from --ttl or tether.dev/inactivity-ttl (Deployments and\n"
      "StatefulSets only: Jobs end with their work).\n";
  spec.flags = {
      {"file", 'f', "FILE", "the workload's manifest (required)"},
      {"service", '\0', "NAME", "the service's name"},
      {"callable", '\0', "MODULE:NAME", "wrap mode: what to serve"},
      {"ttl", '\0', "DURATION", "scale to zero after DURATION without calls"},
      {"pod-template-path", '\0', "PATH",
       "where the pod template is, for other kinds\n(a PyTorchJob: "
       "spec.pytorchReplicaSpecs.Worker.template)"},
      {"code", '\0', "DIR", "upload DIR instead of the current directory"},
      DeployTimeoutFlag(),
      OutputFlag(),
  };
  for (FlagSpec& flag : ConnectionFlags()) spec.flags.push_back(flag);
  command.run = [spec](const ParsedArgs& args, Context& ctx) {
    return RunApply(spec, args, ctx);
  };
  return command;
}

}  // namespace tether::cli
