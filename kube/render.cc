#include "kube/render.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kube/pod_security.h"
#include "kube/pod_template.h"
#include "kube/struct_json.h"
#include "servicespec/validate.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;
using tether::v1::Compute;
using tether::v1::ServiceSpec;

constexpr int kDefaultMasterPort = 29500;
constexpr size_t kMaxDistributedName = 52;
// Shown to users in `kubectl get pods -L`; the full id is an annotation
// because label values stop at 63 characters and revisions are 64 hex digits.
constexpr size_t kShortRevision = 12;

// Autoscaling behaviour from the same seed: up fast (+50% a minute after a
// 60 s window), down slowly (one pod a minute after 5 minutes).
constexpr int kScaleUpWindow = 60;
constexpr int kScaleDownWindow = 300;

absl::Status InvalidOption(absl::string_view field, absl::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat("RenderOptions.", field, ": ", reason));
}

absl::Status CheckPort(absl::string_view field, int port) {
  if (port >= 1 && port <= 65535) return absl::OkStatus();
  return InvalidOption(field, absl::StrCat(port, " is not a port (1-65535)"));
}

bool IsHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
}

absl::Status CheckOptions(const RenderOptions& options) {
  if (options.kube_namespace.empty()) {
    return InvalidOption("kube_namespace", "required");
  }
  if (options.agent_image.empty()) {
    return InvalidOption("agent_image", "required: the image with the agent");
  }
  if (options.tetherd_address.empty()) {
    return InvalidOption("tetherd_address", "required: host:port of tetherd");
  }
  for (const auto& [field, port] :
       {std::make_pair("agent_port", options.agent_port),
        std::make_pair("health_port", options.health_port),
        std::make_pair("service_port", options.service_port)}) {
    RETURN_IF_ERROR(CheckPort(field, port));
  }
  if (options.agent_port == options.health_port) {
    return InvalidOption("health_port", "must differ from agent_port");
  }
  if (!options.revision.empty() && !IsHex(options.revision)) {
    return InvalidOption(
        "revision",
        absl::StrCat("\"", options.revision, "\" is not a hex revision id"));
  }
  return absl::OkStatus();
}

AgentOptions AgentOptionsOf(const ServiceSpec& spec,
                            const RenderOptions& options) {
  AgentOptions agent;
  agent.agent_image = options.agent_image;
  agent.agent_source_dir = options.agent_source_dir;
  agent.tetherd_address = options.tetherd_address;
  agent.service = spec.name();
  agent.agent_port = options.agent_port;
  agent.health_port = options.health_port;
  agent.token_secret = options.token_secret;
  agent.tls_secret = options.agent_tls_secret;
  return agent;
}

json StringMap(const google::protobuf::Map<std::string, std::string>& map) {
  json object = json::object();
  for (const auto& [key, value] : map) object[key] = value;
  return object;
}

int MasterPort(const Compute& compute) {
  return compute.distributed().master_port() == 0
             ? kDefaultMasterPort
             : compute.distributed().master_port();
}

// Labels that select the service's pods. Kept to one immutable key: a
// Deployment's selector can never change once applied.
json SelectorLabels(const ServiceSpec& spec) {
  return json{{"tether.dev/service", spec.name()}};
}

// The standard labels plus the user's (the validator reserved our keys).
json Labels(const ServiceSpec& spec, absl::string_view component) {
  json labels = StringMap(spec.compute().labels());
  labels["app.kubernetes.io/name"] = spec.name();
  labels["app.kubernetes.io/instance"] = spec.name();
  labels["app.kubernetes.io/managed-by"] = "tether";
  labels["app.kubernetes.io/component"] = std::string(component);
  labels["tether.dev/service"] = spec.name();
  return labels;
}

// Metadata of a top-level object: these also carry the revision, which the
// pod template must not (a new revision is hot-reloaded, not rolled out).
json ObjectMeta(const ServiceSpec& spec, const RenderOptions& options,
                const std::string& name, absl::string_view component) {
  json meta = {{"name", name},
               {"namespace", options.kube_namespace},
               {"labels", Labels(spec, component)}};
  json annotations = StringMap(spec.compute().annotations());
  if (!options.revision.empty()) {
    meta["labels"]["tether.dev/revision"] =
        options.revision.substr(0, kShortRevision);
    annotations["tether.dev/revision"] = options.revision;
  }
  if (!annotations.empty()) meta["annotations"] = std::move(annotations);
  return meta;
}

json Resources(const Compute& compute) {
  json requests = json::object();
  json limits = json::object();
  if (!compute.cpus().empty()) requests["cpu"] = compute.cpus();
  if (!compute.memory().empty()) requests["memory"] = compute.memory();
  if (!compute.cpus_limit().empty()) limits["cpu"] = compute.cpus_limit();
  if (!compute.memory_limit().empty()) {
    limits["memory"] = compute.memory_limit();
  }
  if (compute.gpus() > 0) {
    // Extended resources cannot be overcommitted: Kubernetes requires the
    // limit, and a request equal to it.
    const std::string gpus = absl::StrCat(compute.gpus());
    requests["nvidia.com/gpu"] = gpus;
    limits["nvidia.com/gpu"] = gpus;
  }
  json resources = json::object();
  if (!requests.empty()) resources["requests"] = std::move(requests);
  if (!limits.empty()) resources["limits"] = std::move(limits);
  return resources;
}

// The user's variables; WrapContainer puts the agent's before them (and
// leaves out POD_NAME/POD_NAMESPACE when the user sets them: not reserved).
json Env(const ServiceSpec& spec, const RenderOptions& options,
         const std::string& headless_name) {
  const Compute& compute = spec.compute();
  json env = json::array();
  // Sorted so the render is stable (proto maps have no order).
  std::map<std::string, std::string> user_env(compute.env().begin(),
                                              compute.env().end());
  for (const auto& [name, value] : user_env) {
    env.push_back({{"name", name}, {"value", value}});
  }
  for (const tether::v1::SecretRef& secret : compute.secrets()) {
    if (secret.env().empty()) continue;
    env.push_back({{"name", secret.env()},
                   {"valueFrom",
                    {{"secretKeyRef",
                      {{"name", secret.name()}, {"key", secret.key()}}}}}});
  }
  if (compute.has_distributed()) {
    const tether::v1::Distributed& distributed = compute.distributed();
    env.push_back({{"name", "WORLD_SIZE"},
                   {"value", absl::StrCat(distributed.workers())}});
    // StatefulSets label each pod with its ordinal (Kubernetes >= 1.28).
    env.push_back(
        {{"name", "RANK"},
         {"valueFrom",
          {{"fieldRef",
            {{"fieldPath",
              "metadata.labels['apps.kubernetes.io/pod-index']"}}}}}});
    env.push_back(
        {{"name", "MASTER_ADDR"},
         {"value", absl::StrCat(spec.name(), "-0.", headless_name, ".",
                                options.kube_namespace, ".svc")}});
    env.push_back({{"name", "MASTER_PORT"},
                   {"value", absl::StrCat(MasterPort(compute))}});
  }
  return env;
}

// The user's volumes and the main container's mounts, in a stable order:
// shared memory, then secrets, then claims as listed (WrapContainer puts
// Tether's own first).
std::pair<json, json> VolumesAndMounts(const Compute& compute) {
  json volumes = json::array();
  json mounts = json::array();
  if (!compute.shm_size().empty()) {
    volumes.push_back(
        {{"name", "tether-shm"},
         {"emptyDir",
          {{"medium", "Memory"}, {"sizeLimit", compute.shm_size()}}}});
    mounts.push_back({{"name", "tether-shm"}, {"mountPath", "/dev/shm"}});
  }
  for (int i = 0; i < compute.secrets_size(); ++i) {
    const tether::v1::SecretRef& secret = compute.secrets(i);
    if (secret.mount_path().empty()) continue;
    const std::string name = absl::StrCat("tether-secret-", i);
    json source = {{"secretName", secret.name()}};
    if (!secret.key().empty()) {
      source["items"] =
          json::array({{{"key", secret.key()}, {"path", secret.key()}}});
    }
    volumes.push_back({{"name", name}, {"secret", std::move(source)}});
    mounts.push_back({{"name", name},
                      {"mountPath", secret.mount_path()},
                      {"readOnly", true}});
  }
  for (const tether::v1::Volume& volume : compute.volumes()) {
    const std::string& name =
        volume.name().empty() ? volume.claim_name() : volume.name();
    json claim = {{"claimName", volume.claim_name()}};
    if (volume.read_only()) claim["readOnly"] = true;
    volumes.push_back(
        {{"name", name}, {"persistentVolumeClaim", std::move(claim)}});
    json mount = {{"name", name}, {"mountPath", volume.mount_path()}};
    if (volume.read_only()) mount["readOnly"] = true;
    mounts.push_back(std::move(mount));
  }
  return {std::move(volumes), std::move(mounts)};
}

// The pod template rendered from `Compute` alone, before templates layer.
json PodTemplate(const ServiceSpec& spec, const RenderOptions& options,
                 const std::string& headless_name,
                 absl::string_view component) {
  const Compute& compute = spec.compute();
  auto [volumes, mounts] = VolumesAndMounts(compute);

  json container = {
      {"name", kMainContainer},
      {"image", compute.image()},
      {"env", Env(spec, options, headless_name)},
      {"volumeMounts", std::move(mounts)},
  };
  if (compute.has_distributed()) {
    container["ports"] = json::array({{{"name", "master"},
                                       {"containerPort", MasterPort(compute)},
                                       {"protocol", "TCP"}}});
  }
  if (!compute.image_pull_policy().empty()) {
    container["imagePullPolicy"] = compute.image_pull_policy();
  }
  if (compute.config_maps_size() > 0) {
    json env_from = json::array();
    for (const std::string& name : compute.config_maps()) {
      env_from.push_back({{"configMapRef", {{"name", name}}}});
    }
    container["envFrom"] = std::move(env_from);
  }
  json resources = Resources(compute);
  if (!resources.empty()) container["resources"] = std::move(resources);

  json pod_spec = {{"containers", json::array({std::move(container)})}};
  if (!volumes.empty()) pod_spec["volumes"] = std::move(volumes);
  WrapContainer(pod_spec, 0, AgentOptionsOf(spec, options));
  json node_selector = StringMap(compute.node_selector());
  if (!compute.gpu_type().empty()) {
    node_selector[options.gpu_node_label] = compute.gpu_type();
  }
  if (!node_selector.empty()) pod_spec["nodeSelector"] = node_selector;
  json tolerations = json::array();
  if (compute.gpus() > 0) {
    // GPU node pools are tainted so CPU pods stay off them (GKE, the NVIDIA
    // GPU operator); GPU pods tolerate that taint.
    tolerations.push_back({{"key", "nvidia.com/gpu"},
                           {"operator", "Exists"},
                           {"effect", "NoSchedule"}});
  }
  for (const tether::v1::Toleration& t : compute.tolerations()) {
    json toleration = json::object();
    if (!t.key().empty()) toleration["key"] = t.key();
    if (!t.operator_().empty()) toleration["operator"] = t.operator_();
    if (!t.value().empty()) toleration["value"] = t.value();
    if (!t.effect().empty()) toleration["effect"] = t.effect();
    if (t.has_toleration_seconds()) {
      toleration["tolerationSeconds"] = t.toleration_seconds();
    }
    tolerations.push_back(std::move(toleration));
  }
  if (!tolerations.empty()) pod_spec["tolerations"] = std::move(tolerations);
  if (compute.has_affinity()) {
    pod_spec["affinity"] = StructToJson(compute.affinity());
  }
  if (!compute.priority_class().empty()) {
    pod_spec["priorityClassName"] = compute.priority_class();
  }
  if (!compute.service_account().empty()) {
    pod_spec["serviceAccountName"] = compute.service_account();
  }

  // What Prometheus's conventional `kubernetes-pods` scrape job keeps: the
  // agent serves /metrics on its health port. compute.annotations (and the
  // inline pod_template) override them, e.g. prometheus.io/scrape: "false".
  json annotations = {
      {"prometheus.io/scrape", "true"},
      {"prometheus.io/port", absl::StrCat(options.health_port)},
      {"prometheus.io/path", "/metrics"},
  };
  annotations.update(StringMap(compute.annotations()));
  json meta = {{"labels", Labels(spec, component)},
               {"annotations", std::move(annotations)}};
  return {{"metadata", std::move(meta)}, {"spec", std::move(pod_spec)}};
}

json ClusterIpService(const ServiceSpec& spec, const RenderOptions& options,
                      absl::string_view component) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", ObjectMeta(spec, options, spec.name(), component)},
      {"spec",
       {{"type", "ClusterIP"},
        {"selector", SelectorLabels(spec)},
        {"ports", json::array({{{"name", "agent"},
                                {"port", options.service_port},
                                {"targetPort", "agent"},
                                {"protocol", "TCP"}}})}}},
  };
}

// Gives every rank a DNS name (<pod>.<name>-workers) so MASTER_ADDR can name
// rank 0; published before readiness because ranks rendezvous while starting.
json HeadlessService(const ServiceSpec& spec, const RenderOptions& options,
                     const std::string& name) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", ObjectMeta(spec, options, name, "worker")},
      {"spec",
       {{"clusterIP", "None"},
        {"publishNotReadyAddresses", true},
        {"selector", SelectorLabels(spec)},
        {"ports", json::array({{{"name", "master"},
                                {"port", MasterPort(spec.compute())},
                                {"targetPort", "master"},
                                {"protocol", "TCP"}}})}}},
  };
}

json ScalingRules(int window_seconds, bool up) {
  json policies =
      up ? json::array(
               {{{"type", "Percent"}, {"value", 50}, {"periodSeconds", 60}}})
         : json::array(
               {{{"type", "Pods"}, {"value", 1}, {"periodSeconds", 60}}});
  return {{"stabilizationWindowSeconds", window_seconds},
          {"policies", std::move(policies)}};
}

absl::StatusOr<json> Autoscaler(const ServiceSpec& spec,
                                const RenderOptions& options,
                                const std::string& kind) {
  const tether::v1::Autoscaling& a = spec.compute().autoscaling();
  json metrics = json::array();
  for (const auto& [resource, target] :
       {std::make_pair("cpu", a.target_cpu_utilization()),
        std::make_pair("memory", a.target_memory_utilization())}) {
    if (target == 0) continue;
    metrics.push_back(
        {{"type", "Resource"},
         {"resource",
          {{"name", resource},
           {"target",
            {{"type", "Utilization"}, {"averageUtilization", target}}}}}});
  }
  int up = kScaleUpWindow;
  int down = kScaleDownWindow;
  // Validated already; parsing cannot fail here.
  if (!a.scale_up_stabilization().empty()) {
    up = *servicespec::ParseDurationSeconds(a.scale_up_stabilization());
  }
  if (!a.scale_down_stabilization().empty()) {
    down = *servicespec::ParseDurationSeconds(a.scale_down_stabilization());
  }
  return json{
      {"apiVersion", "autoscaling/v2"},
      {"kind", "HorizontalPodAutoscaler"},
      {"metadata", ObjectMeta(spec, options, spec.name(), "service")},
      {"spec",
       {{"scaleTargetRef",
         {{"apiVersion", "apps/v1"}, {"kind", kind}, {"name", spec.name()}}},
        {"minReplicas", std::max(a.min_replicas(), 1)},
        {"maxReplicas", a.max_replicas()},
        {"metrics", std::move(metrics)},
        {"behavior",
         {{"scaleUp", ScalingRules(up, /*up=*/true)},
          {"scaleDown", ScalingRules(down, /*up=*/false)}}}}},
  };
}

json DisruptionBudget(const ServiceSpec& spec, const RenderOptions& options,
                      absl::string_view component) {
  return {
      {"apiVersion", "policy/v1"},
      {"kind", "PodDisruptionBudget"},
      {"metadata", ObjectMeta(spec, options, spec.name(), component)},
      {"spec",
       {{"maxUnavailable", 1},
        {"selector", {{"matchLabels", SelectorLabels(spec)}}}}},
  };
}

// The agent container must keep running the agent with the flags Tether
// gives it; templates may add to it (env, mounts, resources, extra args) and
// add containers of their own. `agent` is the container as rendered;
// `source` names the templates for the message.
absl::Status CheckAgentContainer(const json& workload, const json& agent,
                                 absl::string_view source) {
  const std::string path =
      absl::StrCat("spec.template.spec.containers[name=", kMainContainer, "]");
  constexpr absl::string_view kHow =
      "; to pass extra arguments to the agent, add them to args after "
      "Tether's own (a service_template replaces args as a whole, so list "
      "the args `tether render` shows, then yours)";
  const json& containers = workload["spec"]["template"]["spec"]["containers"];
  const json* container = nullptr;
  for (const json& c : containers) {
    if (c.value("name", "") == kMainContainer) container = &c;
  }
  if (container == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", path, ": removes Tether's agent container"));
  }
  if (container->value("command", json()) != agent["command"]) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": ", path, ".command: replaces the agent's command ",
        agent["command"].dump(), kHow));
  }
  const json args = container->value("args", json::array());
  for (const json& arg : agent["args"]) {
    if (std::find(args.begin(), args.end(), arg) == args.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ", path, ".args: drops ", arg.dump(),
                       ", which the agent needs", kHow));
    }
  }
  return absl::OkStatus();
}

// Layers the PodTemplates and service_template over the rendered workload.
absl::StatusOr<json> LayerTemplates(const Compute& compute,
                                    const RenderOptions& options,
                                    const json& selector, json workload) {
  if (!compute.pod_template_name().empty() &&
      options.named_pod_template.is_null()) {
    return absl::NotFoundError(absl::StrCat(
        "compute.pod_template_name: PodTemplate \"",
        compute.pod_template_name(), "\" not found in namespace \"",
        options.kube_namespace, "\""));
  }
  PodLayers layers;
  layers.global_default = options.global_default_pod_template;
  layers.namespace_default = options.namespace_default_pod_template;
  if (!compute.pod_template_name().empty()) {
    layers.named = options.named_pod_template;
  }
  const json agent = workload["spec"]["template"]["spec"]["containers"][0];
  layers.compute = std::move(workload["spec"]["template"]);
  if (compute.has_pod_template()) {
    layers.inline_template = StructToJson(compute.pod_template());
  }
  layers.main_container = kMainContainer;
  ASSIGN_OR_RETURN(json pod, LayerPodSpec(layers));
  workload["spec"]["template"] = std::move(pod);
  // A template may relabel the pod, but the selector labels must stay or
  // the API server rejects the workload (selector does not match template).
  for (const auto& [key, value] : selector.items()) {
    workload["spec"]["template"]["metadata"]["labels"][key] = value;
  }
  RETURN_IF_ERROR(CheckAgentContainer(workload, agent, "pod templates"));
  if (compute.has_service_template()) {
    RETURN_IF_ERROR(ApplyServiceTemplate(
        workload, StructToJson(compute.service_template())));
    RETURN_IF_ERROR(CheckAgentContainer(workload, agent, "service_template"));
  }
  return workload;
}

// Duplicate env names are accepted by the API server with the last one
// winning, so a user variable would silently break the agent or the ranks.
absl::Status CheckReservedEnv(const Compute& compute) {
  const auto reason = [&](const std::string& name) -> std::string {
    if (name == "TETHER_POD_NAME" || name == "TETHER_POD_IP" ||
        name == "TETHER_SERVICE_TOKEN") {
      return "for the agent";
    }
    if (compute.has_distributed() &&
        (name == "WORLD_SIZE" || name == "RANK" || name == "MASTER_ADDR" ||
         name == "MASTER_PORT")) {
      return "for distributed workers";
    }
    return "";
  };
  std::map<std::string, std::string> env(compute.env().begin(),
                                         compute.env().end());
  for (const auto& [name, unused] : env) {
    const std::string why = reason(name);
    if (!why.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("compute.env.", name, ": set by Tether ", why));
    }
  }
  for (int i = 0; i < compute.secrets_size(); ++i) {
    const std::string why = reason(compute.secrets(i).env());
    if (!why.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "compute.secrets[", i, "].env: ", compute.secrets(i).env(),
          " is set by Tether ", why));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<json>> RenderService(const ServiceSpec& spec,
                                                const RenderOptions& options) {
  RETURN_IF_ERROR(servicespec::ValidateServiceSpec(spec));
  RETURN_IF_ERROR(CheckOptions(options));
  if (spec.has_app()) {
    return absl::InvalidArgumentError(
        "app: sidecar mode runs on Kubernetes in pods you write: label them "
        "tether.dev/inject: \"true\" with the annotation "
        "tether.dev/inject-mode: sidecar (sidecar/README.md)");
  }
  const Compute& compute = spec.compute();
  if (compute.image().empty()) {
    return absl::InvalidArgumentError(
        "compute.image: required on Kubernetes (the image the callable runs "
        "in)");
  }
  const bool distributed = compute.has_distributed();
  if (distributed) {
    const int port = MasterPort(compute);
    if (port == options.agent_port || port == options.health_port) {
      return absl::InvalidArgumentError(absl::StrCat(
          "compute.distributed.master_port: ", port,
          " is taken by the agent (agent port ", options.agent_port,
          ", health port ", options.health_port, ")"));
    }
  }
  RETURN_IF_ERROR(CheckReservedEnv(compute));
  const std::string headless_name = absl::StrCat(spec.name(), "-workers");
  // A StatefulSet labels its pods controller-revision-hash=<name>-<hash of
  // up to 10 characters>, and a label value stops at 63 characters; the
  // API server accepts the StatefulSet but its pods are never created.
  if (distributed && spec.name().size() > kMaxDistributedName) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name: \"", spec.name(), "\" has ", spec.name().size(),
        " characters; a distributed service's name has at most ",
        kMaxDistributedName,
        " (its pods' controller-revision-hash label is the name plus 11 "
        "characters, at most 63)"));
  }
  const absl::string_view component = distributed ? "worker" : "service";
  const std::string kind = distributed ? "StatefulSet" : "Deployment";

  json workload_meta = ObjectMeta(spec, options, spec.name(), component);
  if (!compute.inactivity_ttl().empty()) {
    workload_meta["annotations"][kInactivityTtlAnnotation] = absl::StrCat(
        *servicespec::ParseDurationSeconds(compute.inactivity_ttl()));
    workload_meta["annotations"][kTtlActionAnnotation] =
        compute.ttl_action() == tether::v1::TTL_ACTION_DELETE ? "delete"
                                                              : "scale-to-zero";
  }
  json workload_spec = {
      {"selector", {{"matchLabels", SelectorLabels(spec)}}},
      {"template", PodTemplate(spec, options, headless_name, component)},
  };
  const int replicas = servicespec::InitialReplicas(compute);
  if (distributed) {
    workload_spec["serviceName"] = headless_name;
    // Ranks start together; ordered start-up would deadlock a rendezvous.
    workload_spec["podManagementPolicy"] = "Parallel";
    workload_spec["updateStrategy"] = {{"type", "RollingUpdate"}};
    workload_spec["replicas"] = replicas;
  } else {
    // Zero downtime: a new pod must be ready before an old one goes.
    workload_spec["strategy"] = {
        {"type", "RollingUpdate"},
        {"rollingUpdate", {{"maxSurge", "25%"}, {"maxUnavailable", 0}}}};
    // With an HPA the replica count is the HPA's: applying ours would fight
    // it on every deploy.
    if (!compute.has_autoscaling()) workload_spec["replicas"] = replicas;
  }
  json workload = {{"apiVersion", "apps/v1"},
                   {"kind", kind},
                   {"metadata", std::move(workload_meta)},
                   {"spec", std::move(workload_spec)}};
  ASSIGN_OR_RETURN(json layered,
                   LayerTemplates(compute, options, SelectorLabels(spec),
                                  std::move(workload)));
  // Fills only what every layer left unset: below the cluster template.
  if (compute.pod_security() != tether::v1::POD_SECURITY_BASELINE) {
    ApplyRestrictedDefaults(layered["spec"]["template"]["spec"]);
  }

  std::vector<json> objects;
  objects.push_back(std::move(layered));
  objects.push_back(ClusterIpService(spec, options, component));
  if (distributed) {
    objects.push_back(HeadlessService(spec, options, headless_name));
  }
  if (compute.has_autoscaling()) {
    ASSIGN_OR_RETURN(json hpa, Autoscaler(spec, options, kind));
    objects.push_back(std::move(hpa));
  }
  const bool may_run_several =
      replicas > 1 ||
      (compute.has_autoscaling() && compute.autoscaling().max_replicas() > 1);
  if (may_run_several) {
    objects.push_back(DisruptionBudget(spec, options, component));
  }
  return objects;
}

}  // namespace tether::kube
