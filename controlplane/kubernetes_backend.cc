#include "controlplane/kubernetes_backend.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "kube/json_fields.h"
#include "kube/pod_log.h"
#include "kube/pod_state.h"
#include "kube/pod_template.h"
#include "kube/resource_type.h"
#include "kube/struct_json.h"
#include "servicespec/validate.h"
#include "sidecar/workload.h"

namespace tether::controlplane {
namespace {

using nlohmann::json;

constexpr char kServiceLabel[] = "tether.dev/service";
// LogLine.level of the lines ReplicaLogs reads.
constexpr char kPodLogLevel[] = "pod";
constexpr char kManagedSelector[] = "app.kubernetes.io/managed-by=tether";

// The kinds of a service's rendered objects, swept by label when a render
// drops one (e.g. the PDB when scaling to one replica) and on delete. The
// token Secret is not among them: tetherd may not list Secrets (deploy/
// rbac.yaml), and it knows that one's name.
constexpr kube::ResourceType kRenderedTypes[] = {
    kube::kDeployments,
    kube::kStatefulSets,
    kube::kJobs,
    kube::kCronJobs,
    kube::kServices,
    kube::kHorizontalPodAutoscalers,
    kube::kPodDisruptionBudgets};

// "Deployment/hello", for messages and to match objects across renders.
std::string KeyOf(const json& object) {
  return absl::StrCat(kube::StringField(object, "kind"), "/",
                      kube::ObjectName(object));
}

}  // namespace

class KubernetesBackend::PodHandler final : public kube::Informer::Handler {
 public:
  explicit PodHandler(KubernetesBackend* backend) : backend_(backend) {}
  void OnUpsert(const json& pod) override { backend_->OnPod(pod, false); }
  void OnDelete(const json& pod) override { backend_->OnPod(pod, true); }
  void OnError(const absl::Status& status) override {
    TETHER_LOG(WARNING) << "watching pods: " << status;
  }

 private:
  KubernetesBackend* const backend_;
};

class KubernetesBackend::WorkloadHandler final
    : public kube::Informer::Handler {
 public:
  explicit WorkloadHandler(KubernetesBackend* backend) : backend_(backend) {}
  void OnUpsert(const json& workload) override {
    backend_->OnWorkload(workload);
  }
  void OnDelete(const json&) override {}
  void OnError(const absl::Status& status) override {
    TETHER_LOG(WARNING) << "watching deployments: " << status;
  }

 private:
  KubernetesBackend* const backend_;
};

class KubernetesBackend::EventHandler final : public kube::Informer::Handler {
 public:
  explicit EventHandler(KubernetesBackend* backend) : backend_(backend) {}
  void OnUpsert(const json& event) override { backend_->OnEvent(event); }
  void OnDelete(const json&) override {}
  void OnError(const absl::Status& status) override {
    TETHER_LOG(WARNING) << "watching events: " << status;
  }

 private:
  KubernetesBackend* const backend_;
};

absl::StatusOr<std::unique_ptr<KubernetesBackend>> KubernetesBackend::Create(
    Options options) {
  if (options.client == nullptr) {
    return absl::InvalidArgumentError("KubernetesBackend needs a KubeClient");
  }
  if (options.render.agent_image.empty()) {
    return absl::InvalidArgumentError(
        "KubernetesBackend needs the agent image (--agent_image)");
  }
  if (options.render.tetherd_address.empty()) {
    return absl::InvalidArgumentError(
        "KubernetesBackend needs the address agents dial tetherd at "
        "(--advertise_address)");
  }
  if (options.tetherd_namespace.empty()) {
    options.tetherd_namespace = options.render.kube_namespace;
  }
  return std::unique_ptr<KubernetesBackend>(
      new KubernetesBackend(std::move(options)));
}

KubernetesBackend::KubernetesBackend(Options options)
    : options_(std::move(options)),
      pod_handler_(std::make_unique<PodHandler>(this)),
      workload_handler_(std::make_unique<WorkloadHandler>(this)),
      event_handler_(std::make_unique<EventHandler>(this)) {}

// Informers stop (and join) first: their handlers call into this object.
KubernetesBackend::~KubernetesBackend() {
  stop_.Notify();
  if (deadlines_.joinable()) deadlines_.join();
  pods_.reset();
  workloads_.reset();
  events_.reset();
}

void KubernetesBackend::Start(BackendListener* listener) {
  listener_ = listener;
  const auto start = [&](const kube::ResourceType& type,
                         const std::string& label_selector,
                         kube::Informer::Handler* handler) {
    kube::Informer::Options options;
    options.client = options_.client;
    options.type = type;
    options.ns = options_.render.kube_namespace;
    options.label_selector = label_selector;
    options.backoff = options_.watch_backoff;
    absl::StatusOr<std::unique_ptr<kube::Informer>> informer =
        kube::Informer::Create(options, handler);
    TETHER_CHECK(informer.ok()) << informer.status();
    return *std::move(informer);
  };
  pods_ = start(kube::kPods, kManagedSelector, pod_handler_.get());
  workloads_ =
      start(kube::kDeployments, kManagedSelector, workload_handler_.get());
  // Events carry no labels of ours: OnEvent keeps those about our pods.
  events_ = start(kube::kEvents, "", event_handler_.get());
  if (options_.deadline_check_interval > absl::ZeroDuration()) {
    deadlines_ = std::thread([this] {
      while (!stop_.WaitForNotificationWithTimeout(
          options_.deadline_check_interval)) {
        CheckDeadlines();
      }
    });
  }
}

void KubernetesBackend::CheckDeadlines() {
  std::vector<Notification> notifications;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    for (auto& [name, pod] : pods_by_name_) {
      if (!pod.live || pod.unschedulable.empty() || pod.scale_up ||
          now - pod.unschedulable_since < options_.unschedulable_grace) {
        continue;
      }
      std::string problem =
          absl::StrCat(pod.unschedulable, " (no node was added for it within ",
                       absl::FormatDuration(options_.unschedulable_grace), ")");
      if (problem == pod.problem) continue;
      pod.problem = problem;
      notifications.push_back([service = pod.service, name = name,
                               problem](BackendListener& listener) {
        listener.OnReplicaFailing(service, name, problem);
      });
    }
  }
  Notify(notifications);
}

std::string KubernetesBackend::TokenSecretName(const std::string& service) {
  return absl::StrCat(service, "-tether-token");
}

absl::StatusOr<json> KubernetesBackend::ReadPodTemplate(
    const std::string& ns, const std::string& name) const {
  absl::StatusOr<json> object =
      options_.client->Get(kube::kPodTemplates, ns, name);
  if (absl::IsNotFound(object.status())) return json();
  if (!object.ok()) {
    return WithContext(absl::StrCat("reading PodTemplate ", ns, "/", name),
                       object.status());
  }
  absl::StatusOr<json> spec = kube::PodTemplateSpecOf(*object);
  if (!spec.ok()) {
    return WithContext(absl::StrCat("PodTemplate ", ns, "/", name),
                       spec.status());
  }
  return spec;
}

absl::StatusOr<kube::RenderOptions> KubernetesBackend::RenderOptionsFor(
    const tether::v1::ServiceSpec& spec) const {
  kube::RenderOptions render = options_.render;
  render.token_secret = TokenSecretName(spec.name());
  const std::string& ns = render.kube_namespace;
  absl::StatusOr<json> layer =
      ReadPodTemplate(ns, options_.default_pod_template);
  if (!layer.ok()) return layer.status();
  render.namespace_default_pod_template = *std::move(layer);
  if (options_.tetherd_namespace != ns) {
    layer = ReadPodTemplate(options_.tetherd_namespace,
                            options_.default_pod_template);
    if (!layer.ok()) return layer.status();
    render.global_default_pod_template = *std::move(layer);
  }
  if (!spec.compute().pod_template_name().empty()) {
    layer = ReadPodTemplate(ns, spec.compute().pod_template_name());
    if (!layer.ok()) return layer.status();
    render.named_pod_template = *std::move(layer);
  }
  return render;
}

sidecar::InjectorConfig KubernetesBackend::InjectorConfigFor() const {
  sidecar::InjectorConfig config;
  config.agent_image = options_.render.agent_image;
  config.agent_source_dir = options_.render.agent_source_dir;
  config.tetherd_address = options_.render.tetherd_address;
  config.agent_port = options_.render.agent_port;
  config.health_port = options_.render.health_port;
  config.agent_tls_secret = options_.render.agent_tls_secret;
  return config;
}

absl::StatusOr<json> KubernetesBackend::InjectedWorkload(
    const tether::v1::ServiceSpec& spec) const {
  sidecar::WorkloadTarget target;
  target.kube_namespace = options_.render.kube_namespace;
  target.token_secret = TokenSecretName(spec.name());
  target.labels = {{"app.kubernetes.io/managed-by", "tether"},
                   {kServiceLabel, spec.name()}};
  return sidecar::InjectWorkload(spec, InjectorConfigFor(), target);
}

absl::Status KubernetesBackend::CheckPodPolicy(
    const tether::v1::ServiceSpec& spec,
    const std::vector<json>& objects) const {
  for (const json& object : objects) {
    const std::optional<std::string> pointer =
        spec.has_workload() ? sidecar::WorkloadPodPointer(
                                  object, spec.workload().pod_template_path())
                            : sidecar::PodPointer(object);
    if (!pointer.has_value()) continue;
    const json::json_pointer pod_spec(*pointer + "/spec");
    if (!object.contains(pod_spec)) continue;
    // Paths in the object as applied (`tether render`, kubectl get): an
    // injected workload's lists start with Tether's entries.
    std::string path = sidecar::PointerPath(*pointer);
    path = path.empty() ? "spec" : absl::StrCat(path, ".spec");
    absl::Status checked = options_.pod_policy.Check(object.at(pod_spec), path);
    if (!checked.ok()) return WithContext(KeyOf(object), checked);
  }
  return absl::OkStatus();
}

absl::Status KubernetesBackend::Validate(
    const tether::v1::ServiceSpec& spec) const {
  // One namespace: the informers, the RBAC and the rendered objects are
  // tetherd's own namespace's (docs/DESIGN.md "Tenant scopes").
  if (!spec.namespace_().empty() &&
      spec.namespace_() != options_.render.kube_namespace) {
    return absl::FailedPreconditionError(absl::StrCat(
        "namespace: \"", spec.namespace_(), "\" is not tetherd's namespace \"",
        options_.render.kube_namespace,
        "\" (--kube_namespace); the Kubernetes backend runs every service in "
        "its one namespace"));
  }
  return ServiceObjects(spec, /*validating=*/true).status();
}

absl::StatusOr<std::vector<json>> KubernetesBackend::ServiceObjects(
    const tether::v1::ServiceSpec& spec, bool validating) const {
  std::vector<json> objects;
  if (spec.has_workload()) {
    ASSIGN_OR_RETURN(json workload, InjectedWorkload(spec));
    // Custom kinds: their REST path comes from discovery.
    if (!validating) {
      RETURN_IF_ERROR(options_.client
                          ->Discover(kube::StringField(workload, "apiVersion"),
                                     kube::StringField(workload, "kind"))
                          .status());
    }
    objects.push_back(std::move(workload));
  } else {
    ASSIGN_OR_RETURN(kube::RenderOptions render, RenderOptionsFor(spec));
    // Apply reads the named template again: it may be created meanwhile.
    if (validating && !spec.compute().pod_template_name().empty() &&
        render.named_pod_template.is_null()) {
      render.named_pod_template = {{"spec", json::object()}};
    }
    ASSIGN_OR_RETURN(objects, kube::RenderService(spec, render));
  }
  RETURN_IF_ERROR(CheckPodPolicy(spec, objects));
  return objects;
}

absl::Status KubernetesBackend::Apply(const tether::v1::ServiceSpec& spec,
                                      const std::string& token) {
  absl::StatusOr<std::vector<json>> service_objects =
      ServiceObjects(spec, /*validating=*/false);
  if (!service_objects.ok()) return service_objects.status();
  std::vector<json> objects;
  objects.push_back({{"apiVersion", "v1"},
                     {"kind", "Secret"},
                     {"metadata",
                      {{"name", TokenSecretName(spec.name())},
                       {"namespace", options_.render.kube_namespace},
                       {"labels",
                        {{"app.kubernetes.io/managed-by", "tether"},
                         {kServiceLabel, spec.name()}}}}},
                     {"type", "Opaque"},
                     {"stringData", {{"token", token}}}});
  for (json& object : *service_objects) objects.push_back(std::move(object));
  {
    absl::MutexLock lock(&mu_);
    auto it = applied_.find(spec.name());
    if (it != applied_.end() && it->second == objects) return absl::OkStatus();
  }
  for (const json& object : objects) {
    absl::StatusOr<json> applied = options_.client->Apply(object);
    if (!applied.ok()) {
      return WithContext(absl::StrCat("applying ", KeyOf(object)),
                         applied.status());
    }
  }
  // Sweep what an earlier render made and this one does not (after a
  // restart of tetherd too, hence by label rather than from memory).
  std::vector<std::string> keep;
  for (const json& object : objects) keep.push_back(KeyOf(object));
  absl::Status swept = DeleteObjects(spec.name(), keep);
  if (!swept.ok()) return swept;
  absl::MutexLock lock(&mu_);
  applied_[spec.name()] = std::move(objects);
  return absl::OkStatus();
}

absl::Status KubernetesBackend::Scale(const tether::v1::ServiceSpec& spec,
                                      const std::string& token,
                                      int32_t replicas) {
  kube::ResourceType type = spec.compute().has_distributed()
                                ? kube::kStatefulSets
                                : kube::kDeployments;
  std::string name = spec.name();
  if (spec.has_workload()) {
    const json object = kube::StructToJson(spec.workload().object());
    // ServiceManager refuses to scale the others before they get here.
    if (!servicespec::Scalable(spec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "a ", servicespec::WorkloadKind(spec), " cannot be scaled"));
    }
    ASSIGN_OR_RETURN(type, kube::ResourceTypeOf(object));
    name = kube::ObjectName(object);
  }
  RETURN_IF_ERROR(options_.client->SetScale(
      type, options_.render.kube_namespace, name, replicas));
  // The next Apply must reach the cluster even if the render is unchanged:
  // it brings back the spec's count.
  absl::MutexLock lock(&mu_);
  applied_.erase(spec.name());
  return absl::OkStatus();
}

absl::Status KubernetesBackend::DeleteObjects(
    const std::string& service, const std::vector<std::string>& keep) {
  const std::string& ns = options_.render.kube_namespace;
  const std::string selector =
      absl::StrCat(kServiceLabel, "=", service, ",", kManagedSelector);
  for (const kube::ResourceType& type : kRenderedTypes) {
    absl::StatusOr<kube::ObjectList> list =
        options_.client->List(type, ns, selector);
    if (!list.ok()) {
      return WithContext(absl::StrCat("listing ", type.plural), list.status());
    }
    for (const json& item : list->items) {
      const std::string name = kube::ObjectName(item);
      const std::string key = absl::StrCat(type.kind, "/", name);
      if (std::find(keep.begin(), keep.end(), key) != keep.end()) continue;
      absl::Status deleted = options_.client->Delete(type, ns, name);
      if (!deleted.ok() && !absl::IsNotFound(deleted)) {
        return WithContext(absl::StrCat("deleting ", key), deleted);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status KubernetesBackend::Delete(const tether::v1::ServiceSpec& spec) {
  const std::string& service = spec.name();
  {
    absl::MutexLock lock(&mu_);
    applied_.erase(service);
    workload_problems_.erase(service);
  }
  absl::Status deleted = DeleteObjects(service, {});
  if (!deleted.ok()) return deleted;
  // A workload of a kind the label sweep does not list (a custom resource).
  if (spec.has_workload()) {
    const json object = kube::StructToJson(spec.workload().object());
    absl::StatusOr<kube::ResourceType> type =
        options_.client->Discover(kube::StringField(object, "apiVersion"),
                                  kube::StringField(object, "kind"));
    deleted = type.ok() ? options_.client->Delete(
                              *type, options_.render.kube_namespace,
                              kube::ObjectName(object))
                        : type.status();
    if (!deleted.ok() && !absl::IsNotFound(deleted)) {
      return WithContext(absl::StrCat("deleting ", KeyOf(object)), deleted);
    }
  }
  deleted = options_.client->Delete(
      kube::kSecrets, options_.render.kube_namespace, TokenSecretName(service));
  if (absl::IsNotFound(deleted)) return absl::OkStatus();
  return deleted.ok() ? deleted
                      : WithContext(absl::StrCat("deleting Secret/",
                                                 TokenSecretName(service)),
                                    deleted);
}

std::vector<std::string> KubernetesBackend::Replicas(
    const std::string& service) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, pod] : pods_by_name_) {
    if (pod.service == service && pod.live) names.push_back(name);
  }
  return names;  // Sorted: the map is.
}

absl::StatusOr<std::vector<tether::v1::LogLine>> KubernetesBackend::ReplicaLogs(
    const std::string& service, const std::string& replica, absl::Time since,
    size_t max_lines) const {
  bool has_previous_log;
  {
    absl::MutexLock lock(&mu_);
    auto it = pods_by_name_.find(replica);
    if (it == pods_by_name_.end() || it->second.service != service ||
        !it->second.live) {
      return absl::NotFoundError(absl::StrCat(
          "service \"", service, "\" has no replica \"", replica, "\""));
    }
    // The kubelet would refuse ("waiting to start"): nothing printed yet.
    if (!it->second.has_log) return std::vector<tether::v1::LogLine>();
    has_previous_log = it->second.has_previous_log;
  }
  kube::PodLogOptions options;
  options.container = kube::kMainContainer;
  options.timestamps = true;
  options.since_time = since;
  options.tail_lines = static_cast<int64_t>(max_lines);
  // Two runs share the byte bound.
  options.limit_bytes =
      static_cast<int64_t>(kReplicaLogsMaxBytes / (has_previous_log ? 2 : 1));
  std::vector<kube::PodLogLine> read;
  for (const bool previous : {true, false}) {
    if (previous && !has_previous_log) continue;
    options.previous = previous;
    absl::StatusOr<std::string> log = options_.client->PodLogs(
        options_.render.kube_namespace, replica, options);
    if (!log.ok()) {
      return WithContext(absl::StrCat("reading the log of pod ", replica),
                         log.status());
    }
    for (kube::PodLogLine& line : kube::ParseTimestampedLog(*log)) {
      // The API takes whole seconds; the lines have their own times.
      if (line.time >= since) read.push_back(std::move(line));
    }
  }
  const size_t skip = read.size() > max_lines ? read.size() - max_lines : 0;
  std::vector<tether::v1::LogLine> lines;
  lines.reserve(read.size() - skip);
  for (size_t i = skip; i < read.size(); ++i) {
    tether::v1::LogLine& line = lines.emplace_back();
    line.set_replica(replica);
    line.set_level(kPodLogLevel);
    *line.mutable_time() = ToProtoTimestamp(read[i].time);
    line.set_text(std::move(read[i].text));
  }
  return lines;
}

void KubernetesBackend::OnPod(const json& object, bool deleted) {
  const std::string name = kube::ObjectName(object);
  const std::string service = kube::ObjectLabel(object, kServiceLabel);
  if (name.empty() || service.empty()) return;
  const kube::PodState state = kube::ReadPodState(object);
  std::vector<Notification> notifications;
  {
    absl::MutexLock lock(&mu_);
    Pod& pod = pods_by_name_[name];
    pod.service = service;
    if (deleted || state.terminating) {
      if (pod.live) {
        const ReplicaExit exit = {ReplicaExit::Cause::kPodRemoved,
                                  deleted ? "pod deleted" : "pod terminating",
                                  /*will_restart=*/false};
        notifications.push_back([=](BackendListener& listener) {
          listener.OnReplicaExited(service, name, exit);
        });
      }
      if (deleted) {
        pods_by_name_.erase(name);
      } else {
        pod.live = false;
      }
    } else {
      if (!pod.live) {
        pod.live = true;
        notifications.push_back([=](BackendListener& listener) {
          listener.OnReplicaStarted(service, name);
        });
      }
      if (state.restarts > pod.restarts) {
        const ReplicaExit exit = {
            ReplicaExit::Cause::kCrashed,
            absl::StrCat("container restarted (", state.restarts, " restarts)"),
            /*will_restart=*/true};
        notifications.push_back([=](BackendListener& listener) {
          listener.OnReplicaExited(service, name, exit);
        });
      }
      pod.restarts = state.restarts;
      const absl::StatusOr<kube::LogInstance> read =
          kube::ContainerLogInstance(object, kube::kMainContainer, false);
      pod.has_log = read.ok();
      pod.has_previous_log =
          read.ok() && *read == kube::LogInstance::kCurrent &&
          kube::ContainerLogInstance(object, kube::kMainContainer, true).ok();
      if (state.unschedulable.empty()) {
        pod.unschedulable.clear();
        pod.scale_up = false;
      } else if (pod.unschedulable.empty()) {
        pod.unschedulable = state.unschedulable;
        pod.unschedulable_since = options_.clock->Now();
      }
      if (!state.problem.empty() && state.problem != pod.problem) {
        notifications.push_back(
            [=, problem = state.problem](BackendListener& listener) {
              listener.OnReplicaFailing(service, name, problem);
            });
      } else if (state.problem.empty() && !state.ready &&
                 state.progress != pod.progress) {
        notifications.push_back(
            [=, progress = state.progress](BackendListener& listener) {
              listener.OnReplicaPending(service, name, progress);
            });
      }
      // A problem reported from events or deadlines stays until the
      // status moves on.
      if (!state.problem.empty() || pod.unschedulable.empty()) {
        pod.problem = state.problem;
      }
      pod.progress = state.progress;
    }
  }
  Notify(notifications);
}

void KubernetesBackend::OnWorkload(const json& workload) {
  const std::string service = kube::ObjectLabel(workload, kServiceLabel);
  if (service.empty()) return;
  ReportWorkloadProblem(service, kube::ReadWorkloadProblem(workload));
}

void KubernetesBackend::ReportWorkloadProblem(const std::string& service,
                                              const std::string& problem) {
  {
    absl::MutexLock lock(&mu_);
    std::string& last = workload_problems_[service];
    if (problem == last) return;
    last = problem;
  }
  if (problem.empty()) return;
  Notify({[&](BackendListener& listener) {
    listener.OnReplicaFailing(service, "", problem);
  }});
}

void KubernetesBackend::OnEvent(const json& event) {
  const kube::ClusterEvent read = kube::ReadClusterEvent(event);
  if (!read.stateful_set.empty()) {
    // Tether's StatefulSets are named after their service; events carry no
    // labels, so one of the same name that is not ours is skipped.
    bool ours;
    {
      absl::MutexLock lock(&mu_);
      ours = applied_.find(read.stateful_set) != applied_.end();
    }
    if (ours) ReportWorkloadProblem(read.stateful_set, read.problem);
    return;
  }
  if (read.pod.empty()) return;
  std::string service;
  std::string problem = read.problem;
  {
    absl::MutexLock lock(&mu_);
    auto it = pods_by_name_.find(read.pod);
    if (it == pods_by_name_.end() || !it->second.live) return;
    Pod& pod = it->second;
    service = pod.service;
    if (read.scale_up == kube::ClusterEvent::kTriggered) {
      pod.scale_up = true;
    } else if (read.scale_up == kube::ClusterEvent::kRefused) {
      // Says why no node will come; the scheduler's message says why none
      // fits now.
      if (pod.unschedulable.empty()) return;
      problem = absl::StrCat(pod.unschedulable, "; ", read.problem);
    }
    // Shares the pod's record, so a problem is reported once whichever
    // source saw it first.
    if (!problem.empty()) {
      if (problem == pod.problem) return;
      pod.problem = problem;
    } else {
      if (read.progress == pod.progress) return;
      pod.progress = read.progress;
    }
  }
  if (!problem.empty()) {
    Notify({[&](BackendListener& listener) {
      listener.OnReplicaFailing(service, read.pod, problem);
    }});
  } else {
    Notify({[&](BackendListener& listener) {
      listener.OnReplicaPending(service, read.pod, read.progress);
    }});
  }
}

void KubernetesBackend::Notify(const std::vector<Notification>& notifications) {
  if (listener_ == nullptr) return;
  for (const Notification& notify : notifications) notify(*listener_);
}

}  // namespace tether::controlplane
