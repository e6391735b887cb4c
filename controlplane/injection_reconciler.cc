#include "controlplane/injection_reconciler.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "kube/json_fields.h"
#include "kube/pod_mutation.h"
#include "kube/resource_type.h"

namespace tether::controlplane {
namespace {

using json = nlohmann::json;
using kube::Field;

// An opted-in pod that is not going away and has no agent.
bool MissesTheAgent(const json& pod) {
  const json& metadata = Field(pod, "metadata");
  return Field(metadata, "deletionTimestamp").is_null() &&
         kube::AgentAlreadyThere(metadata, Field(pod, "spec")).empty();
}

absl::Time CreatedAt(const json& pod) {
  absl::Time created = absl::UnixEpoch();
  absl::ParseTime(absl::RFC3339_full,
                  kube::MetadataString(pod, "creationTimestamp"), &created,
                  nullptr);
  return created;
}

}  // namespace

absl::StatusOr<std::unique_ptr<InjectionReconciler>>
InjectionReconciler::Create(Options options) {
  if (options.client == nullptr) {
    return absl::InvalidArgumentError("InjectionReconciler: client required");
  }
  if (options.events == nullptr) {
    return absl::InvalidArgumentError("InjectionReconciler: events required");
  }
  if (options.ns.empty()) {
    return absl::InvalidArgumentError("InjectionReconciler: ns required");
  }
  std::unique_ptr<InjectionReconciler> reconciler(
      new InjectionReconciler(std::move(options)));
  kube::Informer::Options informer;
  informer.client = reconciler->options_.client;
  informer.type = kube::kPods;
  informer.ns = reconciler->options_.ns;
  informer.label_selector = absl::StrCat(kube::kInjectLabel, "=true");
  informer.backoff = reconciler->options_.watch_backoff;
  informer.clock = reconciler->options_.clock;
  ASSIGN_OR_RETURN(
      reconciler->informer_,
      kube::Informer::Create(std::move(informer), reconciler.get()));
  return reconciler;
}

InjectionReconciler::~InjectionReconciler() { informer_.reset(); }

std::vector<tether::v1::UninjectedPod> InjectionReconciler::List() const {
  std::vector<tether::v1::UninjectedPod> pods;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, pod] : pods_) pods.push_back(pod);
  }
  std::stable_sort(pods.begin(), pods.end(), [](const auto& a, const auto& b) {
    return a.service() < b.service();
  });
  return pods;
}

void InjectionReconciler::OnUpsert(const json& pod) {
  const std::string name = kube::ObjectName(pod);
  if (!MissesTheAgent(pod)) {
    OnDelete(pod);
    return;
  }
  tether::v1::UninjectedPod entry;
  entry.set_pod(name);
  const std::optional<kube::ObjectReference> subject =
      kube::EventSubject(pod, options_.ns);
  if (subject.has_value() && subject->kind != "Pod") {
    entry.set_owner_kind(subject->kind);
    entry.set_owner_name(subject->name);
  }
  absl::StatusOr<std::string> service =
      kube::InjectedServiceName(Field(pod, "metadata"));
  if (service.ok()) entry.set_service(*service);
  *entry.mutable_since() = ToProtoTimestamp(CreatedAt(pod));
  {
    absl::MutexLock lock(&mu_);
    if (!pods_.emplace(name, entry).second) return;  // Reported already.
  }
  if (!subject.has_value()) return;
  options_.events->Record(
      *subject, kube::EventRecorder::Type::kWarning, "TetherNotInjected",
      absl::StrCat("pod ", name, " is labelled ", kube::kInjectLabel,
                   "=true but runs without the Tether agent: admitted "
                   "without it (was tether-injector down?); recreate it "
                   "while the injector serves"));
}

void InjectionReconciler::OnDelete(const json& last_state) {
  absl::MutexLock lock(&mu_);
  pods_.erase(kube::ObjectName(last_state));
}

}  // namespace tether::controlplane
