#include "kube/pod_state.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "kube/json_fields.h"

namespace tether::kube {
namespace {

using nlohmann::json;

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
  const json& terminated = Field(Field(status, "lastState"), "terminated");
  if (!terminated.is_object()) return "";
  std::string text = StringField(terminated, "reason");
  const json& code = Field(terminated, "exitCode");
  if (code.is_number_integer()) {
    absl::StrAppend(&text, text.empty() ? "" : " ", "(exit code ",
                    code.get<int64_t>(), ")");
  }
  const std::string message = StringField(terminated, "message");
  if (!message.empty()) absl::StrAppend(&text, ": ", message);
  return text;
}

// Reads one container status into `state`. `kind` is "container" or
// "init container", for messages.
void ReadContainer(const json& status, absl::string_view kind,
                   PodState& state) {
  const std::string name = StringField(status, "name");
  const json& restarts = Field(status, "restartCount");
  if (restarts.is_number_integer()) {
    state.restarts += restarts.get<int32_t>();
  }
  if (!state.problem.empty()) return;
  const json& current = Field(status, "state");
  const json& waiting = Field(current, "waiting");
  const json& terminated = Field(current, "terminated");
  const std::string waiting_reason = StringField(waiting, "reason");
  const std::string last = LastTermination(status);
  if (IsStuckWaitingReason(waiting_reason)) {
    std::string problem =
        absl::StrCat(kind, " ", name, ": ",
                     Describe(waiting_reason, StringField(waiting, "message")));
    if (waiting_reason == "CrashLoopBackOff" && !last.empty()) {
      absl::StrAppend(&problem, "; last exit: ", last);
    }
    state.problem = std::move(problem);
    return;
  }
  // The kubelet restarts an OOM-killed container, and it may look healthy
  // for a while before it is killed again; a memory limit that is too small
  // will not fix itself.
  if (StringField(terminated, "reason") == "OOMKilled" ||
      StringField(Field(Field(status, "lastState"), "terminated"), "reason") ==
          "OOMKilled") {
    state.problem =
        absl::StrCat(kind, " ", name,
                     ": OOMKilled: it ran out of memory; raise compute.memory");
    return;
  }
  if (state.progress.empty() && !waiting_reason.empty()) {
    state.progress =
        absl::StrCat(kind, " ", name, ": ",
                     Describe(waiting_reason, StringField(waiting, "message")));
  }
}

}  // namespace

PodState ReadPodState(const json& pod) {
  PodState state;
  const json& metadata = Field(pod, "metadata");
  state.terminating = !Field(metadata, "deletionTimestamp").is_null();
  const json& status = Field(pod, "status");
  const std::string phase = StringField(status, "phase");
  bool scheduled = false;
  const json& conditions = Field(status, "conditions");
  if (conditions.is_array()) {
    for (const json& condition : conditions) {
      const std::string type = StringField(condition, "type");
      const bool is_true = StringField(condition, "status") == "True";
      if (type == "Ready") state.ready = is_true;
      if (type == "PodScheduled") {
        scheduled = is_true;
        if (!is_true && StringField(condition, "reason") == "Unschedulable") {
          state.unschedulable =
              Describe("Unschedulable", StringField(condition, "message"));
        }
      }
    }
  }
  // Evicted, or a pod whose containers all ended with restartPolicy Never.
  if (phase == "Failed" && state.problem.empty()) {
    const std::string reason = StringField(status, "reason");
    state.problem = Describe(
        reason.empty() ? "pod failed" : absl::StrCat("pod failed: ", reason),
        StringField(status, "message"));
  }
  // Init containers first: a pod stuck there never reaches the others.
  const std::pair<const char*, absl::string_view> kStatusLists[] = {
      {"initContainerStatuses", "init container"},
      {"containerStatuses", "container"}};
  for (const auto& [key, kind] : kStatusLists) {
    const json& statuses = Field(status, key);
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
  const json& object = Field(event, "involvedObject");
  const std::string kind = StringField(object, "kind");
  const std::string reason = StringField(event, "reason");
  const std::string message = StringField(event, "message");
  // The cluster autoscaler's answers are Normal events.
  if (kind == "Pod" &&
      (reason == "TriggeredScaleUp" || reason == "NotTriggerScaleUp")) {
    read.pod = StringField(object, "name");
    if (reason == "TriggeredScaleUp") {
      read.scale_up = ClusterEvent::kTriggered;
      read.progress = Describe(reason, message);
    } else {
      read.scale_up = ClusterEvent::kRefused;
      read.problem = Describe(reason, message);
    }
    return read;
  }
  if (StringField(event, "type") != "Warning") return read;
  if (kind == "StatefulSet" && reason == "FailedCreate") {
    read.stateful_set = StringField(object, "name");
    read.problem = Describe(reason, message);
  } else if (kind == "Pod" &&
             (reason == "FailedMount" || reason == "FailedAttachVolume")) {
    read.pod = StringField(object, "name");
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
  const json& conditions = Field(Field(workload, "status"), "conditions");
  if (!conditions.is_array()) return "";
  for (const json& condition : conditions) {
    const std::string type = StringField(condition, "type");
    const std::string reason = StringField(condition, "reason");
    if ((type == "ReplicaFailure" &&
         StringField(condition, "status") == "True") ||
        (type == "Progressing" && reason == "ProgressDeadlineExceeded")) {
      return Describe(reason.empty() ? type : reason,
                      StringField(condition, "message"));
    }
  }
  return "";
}

}  // namespace tether::kube
