#include "kube/pod_state.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tether::kube {
namespace {

using nlohmann::json;

// `object[key]` as a string, or "" when absent or not a string.
std::string StringAt(const json& object, const char* key) {
  if (!object.is_object()) return "";
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& At(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  const auto it = object.find(key);
  return it != object.end() ? *it : kNull;
}

// "reason: message", or just the reason when there is no message.
std::string Describe(const std::string& reason, const std::string& message) {
  return message.empty() ? reason : absl::StrCat(reason, ": ", message);
}

// Waiting reasons that persist until someone changes the pod, its image or
// the objects it refers to. ErrImagePull is the first failed pull; the
// kubelet retries it (ImagePullBackOff) but a wrong name or missing
// credentials will not fix themselves, so it is reported at once.
bool IsStuckWaitingReason(absl::string_view reason) {
  return reason == "ErrImagePull" || reason == "ImagePullBackOff" ||
         reason == "InvalidImageName" || reason == "ErrImageNeverPull" ||
         reason == "CreateContainerConfigError" ||
         reason == "CreateContainerError" || reason == "RunContainerError" ||
         reason == "CrashLoopBackOff";
}

// Why the container last ended, e.g. "OOMKilled (exit code 137)".
std::string LastTermination(const json& status) {
  const json& terminated = At(At(status, "lastState"), "terminated");
  if (!terminated.is_object()) return "";
  std::string text = StringAt(terminated, "reason");
  const json& code = At(terminated, "exitCode");
  if (code.is_number_integer()) {
    absl::StrAppend(&text, text.empty() ? "" : " ", "(exit code ",
                    code.get<int64_t>(), ")");
  }
  const std::string message = StringAt(terminated, "message");
  if (!message.empty()) absl::StrAppend(&text, ": ", message);
  return text;
}

// Reads one container status into `state`. `kind` is "container" or
// "init container", for messages.
void ReadContainer(const json& status, absl::string_view kind,
                   PodState& state) {
  const std::string name = StringAt(status, "name");
  const json& restarts = At(status, "restartCount");
  if (restarts.is_number_integer()) {
    state.restarts += restarts.get<int32_t>();
  }
  if (!state.problem.empty()) return;
  const json& current = At(status, "state");
  const json& waiting = At(current, "waiting");
  const json& terminated = At(current, "terminated");
  const std::string waiting_reason = StringAt(waiting, "reason");
  const std::string last = LastTermination(status);
  if (IsStuckWaitingReason(waiting_reason)) {
    std::string problem =
        absl::StrCat(kind, " ", name, ": ",
                     Describe(waiting_reason, StringAt(waiting, "message")));
    if (waiting_reason == "CrashLoopBackOff" && !last.empty()) {
      absl::StrAppend(&problem, "; last exit: ", last);
    }
    state.problem = std::move(problem);
    return;
  }
  // The kubelet restarts an OOM-killed container, and it may look healthy
  // for a while before it is killed again; a memory limit that is too small
  // will not fix itself.
  if (StringAt(terminated, "reason") == "OOMKilled" ||
      StringAt(At(At(status, "lastState"), "terminated"), "reason") ==
          "OOMKilled") {
    state.problem =
        absl::StrCat(kind, " ", name,
                     ": OOMKilled: it ran out of memory; raise compute.memory");
    return;
  }
  if (state.progress.empty() && !waiting_reason.empty()) {
    state.progress =
        absl::StrCat(kind, " ", name, ": ",
                     Describe(waiting_reason, StringAt(waiting, "message")));
  }
}

}  // namespace

PodState ReadPodState(const json& pod) {
  PodState state;
  const json& metadata = At(pod, "metadata");
  state.terminating = !At(metadata, "deletionTimestamp").is_null();
  const json& status = At(pod, "status");
  const std::string phase = StringAt(status, "phase");
  bool scheduled = false;
  const json& conditions = At(status, "conditions");
  if (conditions.is_array()) {
    for (const json& condition : conditions) {
      const std::string type = StringAt(condition, "type");
      const bool is_true = StringAt(condition, "status") == "True";
      if (type == "Ready") state.ready = is_true;
      if (type == "PodScheduled") {
        scheduled = is_true;
        if (!is_true && StringAt(condition, "reason") == "Unschedulable") {
          state.unschedulable =
              Describe("Unschedulable", StringAt(condition, "message"));
        }
      }
    }
  }
  // Evicted, or a pod whose containers all ended with restartPolicy Never.
  if (phase == "Failed" && state.problem.empty()) {
    const std::string reason = StringAt(status, "reason");
    state.problem = Describe(
        reason.empty() ? "pod failed" : absl::StrCat("pod failed: ", reason),
        StringAt(status, "message"));
  }
  // Init containers first: a pod stuck there never reaches the others.
  const std::pair<const char*, absl::string_view> kStatusLists[] = {
      {"initContainerStatuses", "init container"},
      {"containerStatuses", "container"}};
  for (const auto& [key, kind] : kStatusLists) {
    const json& statuses = At(status, key);
    if (!statuses.is_array()) continue;
    for (const json& container : statuses) {
      ReadContainer(container, kind, state);
    }
  }
  if (state.progress.empty()) {
    if (!scheduled && phase != "Running") {
      state.progress = state.unschedulable.empty() ? "waiting for a node"
                                                   : state.unschedulable;
    } else if (state.ready) {
      state.progress = "running";
    } else {
      state.progress =
          phase == "Running" ? "running, not ready yet" : "starting";
    }
  }
  return state;
}

ClusterEvent ReadClusterEvent(const json& event) {
  ClusterEvent read;
  const json& object = At(event, "involvedObject");
  const std::string kind = StringAt(object, "kind");
  const std::string reason = StringAt(event, "reason");
  const std::string message = StringAt(event, "message");
  // The cluster autoscaler's answers are Normal events.
  if (kind == "Pod" &&
      (reason == "TriggeredScaleUp" || reason == "NotTriggerScaleUp")) {
    read.pod = StringAt(object, "name");
    if (reason == "TriggeredScaleUp") {
      read.scale_up = ClusterEvent::kTriggered;
      read.progress = Describe(reason, message);
    } else {
      read.scale_up = ClusterEvent::kRefused;
      read.problem = Describe(reason, message);
    }
    return read;
  }
  if (StringAt(event, "type") != "Warning") return read;
  if (kind == "StatefulSet" && reason == "FailedCreate") {
    read.stateful_set = StringAt(object, "name");
    read.problem = Describe(reason, message);
  } else if (kind == "Pod" &&
             (reason == "FailedMount" || reason == "FailedAttachVolume")) {
    read.pod = StringAt(object, "name");
    // The kubelet retries, but a missing object will not appear by itself;
    // attach timeouts usually pass.
    if (absl::StrContains(message, "not found")) {
      read.problem = Describe(reason, message);
    } else {
      read.progress = Describe(reason, message);
    }
  }
  return read;
}

std::string ReadWorkloadProblem(const json& workload) {
  const json& conditions = At(At(workload, "status"), "conditions");
  if (!conditions.is_array()) return "";
  for (const json& condition : conditions) {
    const std::string type = StringAt(condition, "type");
    const std::string reason = StringAt(condition, "reason");
    if ((type == "ReplicaFailure" && StringAt(condition, "status") == "True") ||
        (type == "Progressing" && reason == "ProgressDeadlineExceeded")) {
      return Describe(reason.empty() ? type : reason,
                      StringAt(condition, "message"));
    }
  }
  return "";
}

}  // namespace tether::kube
