#ifndef TETHER_CONTROLPLANE_KUBERNETES_BACKEND_H_
#define TETHER_CONTROLPLANE_KUBERNETES_BACKEND_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "controlplane/backend.h"
#include "kube/informer.h"
#include "kube/kube_client.h"
#include "kube/pod_policy.h"
#include "kube/render.h"
#include "nlohmann/json.hpp"
#include "sidecar/injector.h"

namespace tether::controlplane {

/// Runs each service as Kubernetes objects (kube/render.h) in one namespace
/// and reports its pods as replicas. Apply reads the PodTemplates the
/// service builds on, renders, and server-side applies what changed; the
/// per-service token goes into a Secret the pods read. Replicas are the
/// service's pods, kept current by watching Pods, Deployments and Events:
/// pods that cannot become ready (image pull errors, unschedulable, crash
/// loops, OOM kills, quota refusals, volumes whose Secret or claim is
/// missing) reach the listener within a watch event, so a deploy says why
/// instead of timing out.
///
/// Thread-safe. Listener calls come from the informers' threads, never with
/// this backend's lock held.
class KubernetesBackend final : public Backend {
 public:
  struct Options {
    /// Not owned; must outlive the backend.
    kube::KubeClient* client = nullptr;
    /// Namespace, agent image, tetherd address and ports of every service
    /// (kube/render.h). The token Secret and the templates are filled in
    /// per apply.
    kube::RenderOptions render;
    /// tetherd's namespace, home of the global default PodTemplate. Empty:
    /// the services' namespace.
    std::string tetherd_namespace;
    /// Name of the cluster default PodTemplate, looked up in the services'
    /// namespace first, then in tetherd's.
    std::string default_pod_template = "tether-default";
    /// What the final pods (templates merged, agent injected) may ask of
    /// the node; the default refuses privileged containers, host
    /// namespaces and hostPath volumes.
    kube::PodPolicy pod_policy;
    /// Watch retry backoff (kube/informer.h).
    Backoff::Options watch_backoff;
    /// How long a pod no node fits may wait for a cluster autoscaler to
    /// answer before the deploy fails with the scheduler's message. Once an
    /// autoscaler adds a node (TriggeredScaleUp) the pod waits for it; when
    /// it says no (NotTriggerScaleUp) the deploy fails at once.
    absl::Duration unschedulable_grace = absl::Seconds(60);
    /// How often CheckDeadlines runs on the backend's own thread; zero: no
    /// thread (tests call CheckDeadlines with their clock).
    absl::Duration deadline_check_interval = absl::Seconds(1);
    /// Time for the unschedulable grace. Not owned; never null.
    Clock* clock = Clock::Real();
  };

  /// INVALID_ARGUMENT without a client, agent image or tetherd address.
  static absl::StatusOr<std::unique_ptr<KubernetesBackend>> Create(
      Options options);
  ~KubernetesBackend() override;

  /// Starts watching; replica events go to `listener` (may be null). Call
  /// once, before Apply.
  void Start(BackendListener* listener);

  /// Renders `spec` over the cluster's PodTemplates (a named one not there
  /// yet stands in empty: it is read again at apply time), or injects its
  /// workload, so what the renderer rejects (no image, reserved env
  /// names...) and what the pod policy refuses (PERMISSION_DENIED) fail
  /// before anything is recorded. Apply checks the policy again.
  absl::Status Validate(const tether::v1::ServiceSpec& spec) const override;
  absl::Status Apply(const tether::v1::ServiceSpec& spec,
                     const std::string& token) override;
  /// Through the workload's scale subresource; Services and the rest stay.
  absl::Status Scale(const tether::v1::ServiceSpec& spec,
                     const std::string& token, int32_t replicas) override;
  /// Deletes the service's objects; its pods go with them (background
  /// propagation) and are reported gone as they disappear.
  absl::Status Delete(const tether::v1::ServiceSpec& spec) override;
  /// The service's pods that are not terminating, by name.
  std::vector<std::string> Replicas(const std::string& service) const override;
  /// The pod log of the `tether` container, with the kubelet's timestamps
  /// (level "pod"): while it waits to restart, its last run (what the
  /// kubelet serves); once restarted, the run before and this one. Empty
  /// before the container first ran, without asking the API server.
  absl::StatusOr<std::vector<tether::v1::LogLine>> ReplicaLogs(
      const std::string& service, const std::string& replica, absl::Time since,
      size_t max_lines) const override;

  /// Fails the pods that waited out `unschedulable_grace` with no node
  /// added for them.
  void CheckDeadlines();

  /// The Secret holding `service`'s token under key "token".
  static std::string TokenSecretName(const std::string& service);

 private:
  // What was last reported about a pod, so each change is reported once.
  struct Pod {
    std::string service;
    bool live = false;
    int32_t restarts = 0;
    std::string problem;
    std::string progress;
    // What a read of the tether container's log gets (kube/pod_log.h): a
    // log at all, and whether a previous run's log is there besides it.
    bool has_log = false;
    bool has_previous_log = false;
    // While no node fits it: the scheduler's message, since when, and
    // whether an autoscaler is adding one.
    std::string unschedulable;
    absl::Time unschedulable_since;
    bool scale_up = false;
  };
  // One listener call, made after the lock is released.
  using Notification = std::function<void(BackendListener&)>;
  class PodHandler;
  class WorkloadHandler;
  class EventHandler;

  explicit KubernetesBackend(Options options);
  absl::StatusOr<kube::RenderOptions> RenderOptionsFor(
      const tether::v1::ServiceSpec& spec) const;
  // What `spec` runs in, checked against the pod policy: the objects
  // rendered over the cluster's templates, or its workload injected.
  // `validating`: a named template not there yet stands in empty, and a
  // workload's kind is not looked up.
  absl::StatusOr<std::vector<nlohmann::json>> ServiceObjects(
      const tether::v1::ServiceSpec& spec, bool validating) const;
  // PERMISSION_DENIED when a pod of `objects` asks for what the pod policy
  // refuses.
  absl::Status CheckPodPolicy(const tether::v1::ServiceSpec& spec,
                              const std::vector<nlohmann::json>& objects) const;
  // The injector's settings, from the render options (the same cluster).
  sidecar::InjectorConfig InjectorConfigFor() const;
  // spec.workload with the agent injected and the service's labels.
  absl::StatusOr<nlohmann::json> InjectedWorkload(
      const tether::v1::ServiceSpec& spec) const;
  // Reads PodTemplate `name` in `ns` as a PodTemplateSpec; null when absent.
  absl::StatusOr<nlohmann::json> ReadPodTemplate(const std::string& ns,
                                                 const std::string& name) const;
  // Deletes the service's rendered objects (found by label) whose
  // "Kind/name" is not in `keep`; absent ones are fine.
  absl::Status DeleteObjects(const std::string& service,
                             const std::vector<std::string>& keep);
  void OnPod(const nlohmann::json& pod, bool deleted);
  void OnWorkload(const nlohmann::json& workload);
  void OnEvent(const nlohmann::json& event);
  // Reports `problem` of the workload of `service` once (empty: none now).
  void ReportWorkloadProblem(const std::string& service,
                             const std::string& problem);
  void Notify(const std::vector<Notification>& notifications);

  const Options options_;
  BackendListener* listener_ = nullptr;  // Set by Start, before informers.
  std::unique_ptr<PodHandler> pod_handler_;
  std::unique_ptr<WorkloadHandler> workload_handler_;
  std::unique_ptr<EventHandler> event_handler_;
  std::unique_ptr<kube::Informer> pods_;
  std::unique_ptr<kube::Informer> workloads_;
  std::unique_ptr<kube::Informer> events_;
  absl::Notification stop_;
  std::thread deadlines_;

  mutable absl::Mutex mu_;
  // Pods by name.
  std::map<std::string, Pod> pods_by_name_ ABSL_GUARDED_BY(mu_);
  // The objects last applied per service, to skip applies that change
  // nothing (a code-only redeploy) and to find objects a new render drops.
  std::map<std::string, std::vector<nlohmann::json>> applied_
      ABSL_GUARDED_BY(mu_);
  // Last workload problem reported per service.
  std::map<std::string, std::string> workload_problems_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_KUBERNETES_BACKEND_H_
