#ifndef TETHER_KUBE_POD_STATE_H_
#define TETHER_KUBE_POD_STATE_H_

// Reads a Pod's (or Deployment's) status the way a person reading `kubectl
// describe pod` would: is it on its way to ready, or stuck on something only a
// change can fix?

#include <cstdint>
#include <string>

#include "nlohmann/json.hpp"

namespace tether::kube {

struct PodState {
  /// metadata.deletionTimestamp is set: the pod is going away.
  bool terminating = false;
  /// Every container passed its readiness probe (condition Ready=True).
  bool ready = false;
  /// Restarts summed over the pod's containers.
  int32_t restarts = 0;
  /// Non-empty when the pod cannot become ready without a change by
  /// someone: an image that cannot be pulled, a missing Secret or ConfigMap
  /// key, a crash loop, an OOM kill, an eviction. Names the container and
  /// carries the kubelet's message.
  std::string problem;
  /// Non-empty while no node fits the pod: the scheduler's message. Not a
  /// problem by itself, since a cluster autoscaler may be adding one.
  std::string unschedulable;
  /// Where a healthy pod is on its way to running, for progress reports:
  /// "waiting for a node", "pulling image ...", "starting", "running".
  std::string progress;
};

/// Reads `pod` (a Pod object as the API server returns it). Missing fields
/// read as "not yet": a pod without status is waiting for a node.
/// Thread-safe (pure).
PodState ReadPodState(const nlohmann::json& pod);

/// What a core/v1 Event says that object status cannot show: a volume that
/// cannot be mounted leaves the container "ContainerCreating", and a
/// StatefulSet refused its pods (a quota) has no condition saying so.
struct ClusterEvent {
  /// The pod the event is about, or empty.
  std::string pod;
  /// The StatefulSet the event is about, or empty.
  std::string stateful_set;
  /// Set when only a change can help: a volume whose Secret, ConfigMap or
  /// PersistentVolumeClaim does not exist; pods the StatefulSet may not
  /// create.
  std::string problem;
  /// Set for other warnings on the way (a slow attach), as progress.
  std::string progress;
  /// The cluster autoscaler's answer about an unschedulable pod: it is
  /// adding a node (`progress` says which) or no node group fits the pod
  /// (`problem` says why).
  enum ScaleUp { kNoAnswer, kTriggered, kRefused };
  ScaleUp scale_up = kNoAnswer;
};

/// Reads Warning events about a pod's volumes (FailedMount,
/// FailedAttachVolume) and a StatefulSet's pods (FailedCreate), and the
/// cluster autoscaler's TriggeredScaleUp / NotTriggerScaleUp about a pod;
/// anything else reads as an empty ClusterEvent. Thread-safe (pure).
ClusterEvent ReadClusterEvent(const nlohmann::json& event);

/// Non-empty when a Deployment cannot bring its pods up, so no pod will
/// ever report a problem: condition ReplicaFailure (a quota, a LimitRange or
/// an admission webhook refused the pods) or a rollout past its progress
/// deadline; the reason with the controller's message. Thread-safe (pure).
std::string ReadWorkloadProblem(const nlohmann::json& workload);

}  // namespace tether::kube

#endif  // TETHER_KUBE_POD_STATE_H_
