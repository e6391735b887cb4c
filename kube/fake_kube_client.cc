#include "kube/fake_kube_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "kube/fake_pod_logs.h"
#include "kube/label_selector.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

// How often a blocked Watch looks at WatchOptions::stop, which cannot wake
// it by itself.
constexpr absl::Duration kStopPollInterval = absl::Milliseconds(50);

std::string Key(const ResourceType& type, absl::string_view ns,
                absl::string_view name) {
  return absl::StrCat(type.plural, "/", ns, "/", name);
}

// "deployments.apps", "pods": how the API server names resources in errors.
std::string ResourceName(const ResourceType& type) {
  const size_t slash = type.api_version.find('/');
  if (slash == absl::string_view::npos) return std::string(type.plural);
  return absl::StrCat(type.plural, ".", type.api_version.substr(0, slash));
}

bool HasScale(const ResourceType& type) {
  return type.plural == kDeployments.plural ||
         type.plural == kStatefulSets.plural;
}

// Which kinds have a status subresource, so that writes to the main
// resource leave .status alone.
bool HasStatus(const ResourceType& type) {
  return type.plural != kSecrets.plural &&
         type.plural != kPodTemplates.plural && type.plural != kEvents.plural;
}

// The named API groups Tether uses (apps, autoscaling, policy) all track
// metadata.generation; the core group's kinds do not.
bool HasGeneration(const ResourceType& type) {
  return type.api_version.find('/') != absl::string_view::npos;
}

json Labels(const json& object) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return nullptr;
  return meta->value("labels", json());
}

absl::Status NotFound(const ResourceType& type, absl::string_view name) {
  return absl::NotFoundError(
      absl::StrCat(ResourceName(type), " \"", name, "\" not found"));
}

std::string PodLogKey(absl::string_view ns, absl::string_view name,
                      absl::string_view container, LogInstance instance) {
  return absl::StrCat(ns, "/", name, "/", container, "/",
                      instance == LogInstance::kPrevious ? "previous" : "");
}

absl::Status TooOld(int64_t rv, int64_t oldest) {
  return absl::OutOfRangeError(
      absl::StrCat("too old resource version: ", rv, " (", oldest, ")"));
}

}  // namespace

FakeKubeClient::FakeKubeClient(size_t history_size)
    : history_size_(history_size) {}

absl::Status FakeKubeClient::BeginCall(Verb verb) {
  ++calls_[static_cast<size_t>(verb)];
  if (shutdown_) return absl::CancelledError("the client was shut down");
  const auto it =
      std::find_if(failures_.begin(), failures_.end(),
                   [verb](const Failure& f) { return f.verb == verb; });
  if (it == failures_.end()) return absl::OkStatus();
  absl::Status status = it->status;
  if (--it->remaining <= 0) failures_.erase(it);
  return status;
}

void FakeKubeClient::Record(WatchEvent::Type type, const std::string& key,
                            const json& object) {
  history_.push_back({rv_, type, key, object});
  while (history_.size() > history_size_) {
    oldest_rv_ = history_.front().rv;
    history_.pop_front();
  }
  changed_.SignalAll();
}

json FakeKubeClient::Commit(const ResourceType& type, const std::string& key,
                            json object, const json* old) {
  json& meta = object["metadata"];
  if (old != nullptr) {
    // Server-set fields come from the stored object, so a write that
    // changes nothing compares equal and keeps its version.
    const json& old_meta = (*old)["metadata"];
    for (const char* field :
         {"uid", "creationTimestamp", "resourceVersion", "generation"}) {
      if (old_meta.contains(field)) {
        meta[field] = old_meta[field];
      } else {
        meta.erase(field);
      }
    }
    if (object == *old) return object;
    if (HasGeneration(type) &&
        object.value("spec", json()) != old->value("spec", json())) {
      meta["generation"] = old_meta.value("generation", int64_t{1}) + 1;
    }
  } else {
    meta["uid"] =
        absl::StrFormat("fa4e0000-0000-4000-8000-%012d", ++uid_counter_);
    meta["creationTimestamp"] = absl::FormatTime(
        "%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
    if (HasGeneration(type)) meta["generation"] = 1;
  }
  meta["resourceVersion"] = std::to_string(++rv_);
  objects_[key] = object;
  Record(
      old != nullptr ? WatchEvent::Type::kModified : WatchEvent::Type::kAdded,
      key, object);
  return object;
}

absl::StatusOr<json*> FakeKubeClient::Find(const ResourceType& type,
                                           absl::string_view ns,
                                           absl::string_view name) {
  const auto it = objects_.find(Key(type, ns, name));
  if (it == objects_.end()) return NotFound(type, name);
  return &it->second;
}

absl::StatusOr<json> FakeKubeClient::Apply(const json& object) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall(Verb::kApply));
  ASSIGN_OR_RETURN(ResourceType type, ResourceTypeOf(object));
  const std::string name = MetadataString(object, "name");
  const std::string ns = MetadataString(object, "namespace");
  if (name.empty() || ns.empty()) {
    return absl::InvalidArgumentError(
        "metadata.name and metadata.namespace are required");
  }
  if (object.contains("spec") && !object["spec"].is_object()) {
    return absl::InvalidArgumentError("spec: expected an object");
  }
  const std::string key = Key(type, ns, name);
  const auto it = objects_.find(key);
  const json* old = it == objects_.end() ? nullptr : &it->second;
  const std::string rv = MetadataString(object, "resourceVersion");
  if (old != nullptr && !rv.empty() &&
      rv != MetadataString(*old, "resourceVersion")) {
    return absl::AbortedError(absl::StrCat(
        "Operation cannot be fulfilled on ", ResourceName(type), " \"", name,
        "\": the object has been modified; please apply your changes to the "
        "latest version and try again"));
  }
  json stored = old != nullptr ? *old : json::object();
  stored.merge_patch(object);
  if (HasStatus(type)) {
    if (old == nullptr) {
      stored["status"] = type.plural == kPods.plural
                             ? json{{"phase", "Pending"}}
                             : json::object();
    } else if (old->contains("status")) {
      stored["status"] = (*old)["status"];
    } else {
      stored.erase("status");
    }
  }
  if (HasScale(type) && !stored["spec"].contains("replicas")) {
    stored["spec"]["replicas"] = 1;  // The API's defaulting.
  }
  return Commit(type, key, std::move(stored), old);
}

absl::StatusOr<json> FakeKubeClient::Get(const ResourceType& type,
                                         absl::string_view ns,
                                         absl::string_view name) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall(Verb::kGet));
  ASSIGN_OR_RETURN(json * object, Find(type, ns, name));
  return *object;
}

absl::StatusOr<ObjectList> FakeKubeClient::List(
    const ResourceType& type, absl::string_view ns,
    absl::string_view label_selector) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall(Verb::kList));
  ASSIGN_OR_RETURN(LabelSelector selector,
                   LabelSelector::Parse(label_selector));
  ObjectList list;
  const std::string prefix = Key(type, ns, "");
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && absl::StartsWith(it->first, prefix); ++it) {
    if (!selector.Matches(Labels(it->second))) continue;
    json item = it->second;
    // LIST items carry no kind/apiVersion; the list does.
    item.erase("kind");
    item.erase("apiVersion");
    list.items.push_back(std::move(item));
  }
  list.resource_version = std::to_string(rv_);
  return list;
}

absl::Status FakeKubeClient::Watch(
    const ResourceType& type, absl::string_view ns, const WatchOptions& options,
    const std::function<bool(const WatchEvent&)>& on_event) {
  const std::string prefix = Key(type, ns, "");
  const absl::Time deadline = absl::Now() + options.timeout;
  std::vector<WatchEvent> pending;
  int64_t last = 0;
  int64_t end_watches_epoch = 0;
  int64_t bookmark_epoch = 0;
  absl::StatusOr<LabelSelector> selector;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(BeginCall(Verb::kWatch));
    selector = LabelSelector::Parse(options.label_selector);
    if (!selector.ok()) return selector.status();
    // Taken with the call counted, so a test that saw WatchCount() rise can
    // rely on EndWatches and Bookmark reaching this watch.
    end_watches_epoch = end_watches_epoch_;
    bookmark_epoch = bookmark_epoch_;
    if (options.resource_version.empty() || options.resource_version == "0") {
      // "Any" version: the current state first, as ADDED.
      for (auto it = objects_.lower_bound(prefix);
           it != objects_.end() && absl::StartsWith(it->first, prefix); ++it) {
        if (selector->Matches(Labels(it->second))) {
          pending.push_back({WatchEvent::Type::kAdded, it->second});
        }
      }
      last = rv_;
    } else if (!absl::SimpleAtoi(options.resource_version, &last) || last < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid resourceVersion \"", options.resource_version, "\""));
    } else if (last < oldest_rv_) {
      return TooOld(last, oldest_rv_);
    }
  }
  while (true) {
    // Outside the lock: the callback may call back into the fake.
    for (const WatchEvent& event : pending) {
      if (!on_event(event)) return absl::OkStatus();
    }
    pending.clear();
    absl::MutexLock lock(&mu_);
    while (true) {
      if (shutdown_) return absl::CancelledError("the client was shut down");
      if (options.stop != nullptr && options.stop->HasBeenNotified()) {
        return absl::CancelledError("watch stopped");
      }
      // Behind a compacted or overflowed history: events were lost.
      if (last < oldest_rv_) return TooOld(last, oldest_rv_);
      for (const Event& event : history_) {
        if (event.rv <= last) continue;
        last = event.rv;
        if (absl::StartsWith(event.key, prefix) &&
            selector->Matches(Labels(event.object))) {
          pending.push_back({event.type, event.object});
        }
      }
      if (bookmark_epoch != bookmark_epoch_) {
        bookmark_epoch = bookmark_epoch_;
        if (options.allow_bookmarks) {
          pending.push_back(
              {WatchEvent::Type::kBookmark,
               {{"kind", std::string(type.kind)},
                {"apiVersion", std::string(type.api_version)},
                {"metadata", {{"resourceVersion", std::to_string(rv_)}}}}});
        }
      }
      if (!pending.empty()) break;
      // Only once drained, so a test's writes before EndWatches are seen.
      if (end_watches_epoch != end_watches_epoch_) return absl::OkStatus();
      const absl::Time now = absl::Now();
      if (now >= deadline) return absl::OkStatus();
      changed_.WaitWithTimeout(&mu_,
                               std::min(kStopPollInterval, deadline - now));
    }
  }
}

absl::Status FakeKubeClient::Delete(const ResourceType& type,
                                    absl::string_view ns,
                                    absl::string_view name,
                                    Propagation /*propagation*/) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall(Verb::kDelete));
  // Deletion is immediate: no finalizers, grace periods or dependents here,
  // so the propagation policy changes nothing.
  const auto it = objects_.find(Key(type, ns, name));
  if (it == objects_.end()) return NotFound(type, name);
  json object = std::move(it->second);
  objects_.erase(it);
  object["metadata"]["resourceVersion"] = std::to_string(++rv_);
  Record(WatchEvent::Type::kDeleted, Key(type, ns, name), object);
  return absl::OkStatus();
}

absl::StatusOr<int32_t> FakeKubeClient::GetScale(const ResourceType& type,
                                                 absl::string_view ns,
                                                 absl::string_view name) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall(Verb::kScale));
  if (!HasScale(type)) {
    return absl::NotFoundError(
        "the server could not find the requested resource");
  }
  ASSIGN_OR_RETURN(json * object, Find(type, ns, name));
  const json replicas = (*object)["spec"].value("replicas", json());
  if (!replicas.is_number_integer()) return 0;
  return replicas.get<int32_t>();
}

absl::Status FakeKubeClient::SetScale(const ResourceType& type,
                                      absl::string_view ns,
                                      absl::string_view name,
                                      int32_t replicas) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall(Verb::kScale));
  if (!HasScale(type)) {
    return absl::NotFoundError(
        "the server could not find the requested resource");
  }
  if (replicas < 0) {
    return absl::InvalidArgumentError(
        "spec.replicas: Invalid value: must be greater than or equal to 0");
  }
  ASSIGN_OR_RETURN(json * object, Find(type, ns, name));
  json updated = *object;
  updated["spec"]["replicas"] = replicas;
  Commit(type, Key(type, ns, name), std::move(updated), object);
  return absl::OkStatus();
}

absl::StatusOr<ResourceType> FakeKubeClient::Discover(
    absl::string_view api_version, absl::string_view kind) {
  absl::StatusOr<ResourceType> known =
      ResourceTypeOf(json{{"apiVersion", api_version}, {"kind", kind}});
  if (known.ok()) return known;
  return InternResourceType(api_version, kind,
                            absl::StrCat(absl::AsciiStrToLower(kind), "s"));
}

absl::StatusOr<std::string> FakeKubeClient::PodLogs(
    absl::string_view ns, absl::string_view name,
    const PodLogOptions& options) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall(Verb::kLogs));
  ASSIGN_OR_RETURN(json * pod, Find(kPods, ns, name));
  return ServePodLog(
      *pod, options,
      [&](const std::string& container, LogInstance instance)
          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            auto it = pod_logs_.find(PodLogKey(ns, name, container, instance));
            return it == pod_logs_.end() ? std::string() : it->second;
          });
}

void FakeKubeClient::SetPodLog(absl::string_view ns, absl::string_view name,
                               absl::string_view container, std::string log,
                               LogInstance instance) {
  absl::MutexLock lock(&mu_);
  pod_logs_[PodLogKey(ns, name, container, instance)] = std::move(log);
}

void FakeKubeClient::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
  changed_.SignalAll();
}

absl::Status FakeKubeClient::SetStatus(const ResourceType& type,
                                       absl::string_view ns,
                                       absl::string_view name,
                                       const json& status) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(json * object, Find(type, ns, name));
  json updated = *object;
  updated["status"] = status;
  Commit(type, Key(type, ns, name), std::move(updated), object);
  return absl::OkStatus();
}

void FakeKubeClient::Compact() {
  absl::MutexLock lock(&mu_);
  history_.clear();
  oldest_rv_ = rv_;
  changed_.SignalAll();
}

void FakeKubeClient::FailNext(Verb verb, absl::Status status, int count) {
  TETHER_CHECK(!status.ok()) << "FailNext needs an error status";
  absl::MutexLock lock(&mu_);
  failures_.push_back({verb, std::move(status), count});
}

void FakeKubeClient::FailNext(absl::string_view verb, absl::Status status,
                              int count) {
  static constexpr std::pair<absl::string_view, Verb> kVerbs[] = {
      {"apply", Verb::kApply},   {"get", Verb::kGet},
      {"list", Verb::kList},     {"watch", Verb::kWatch},
      {"delete", Verb::kDelete}, {"scale", Verb::kScale},
      {"logs", Verb::kLogs}};
  for (const auto& [name, value] : kVerbs) {
    if (name == verb) return FailNext(value, std::move(status), count);
  }
  TETHER_LOG(FATAL) << "FailNext: unknown verb \"" << verb << "\"";
}

void FakeKubeClient::EndWatches() {
  absl::MutexLock lock(&mu_);
  ++end_watches_epoch_;
  changed_.SignalAll();
}

void FakeKubeClient::Bookmark() {
  absl::MutexLock lock(&mu_);
  ++bookmark_epoch_;
  changed_.SignalAll();
}

std::vector<json> FakeKubeClient::Objects(const ResourceType& type,
                                          absl::string_view ns) const {
  absl::MutexLock lock(&mu_);
  std::vector<json> objects;
  const std::string prefix = Key(type, ns, "");
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && absl::StartsWith(it->first, prefix); ++it) {
    objects.push_back(it->second);
  }
  return objects;
}

std::string FakeKubeClient::ResourceVersion() const {
  absl::MutexLock lock(&mu_);
  return std::to_string(rv_);
}

int FakeKubeClient::CallCount(Verb verb) const {
  absl::MutexLock lock(&mu_);
  return calls_[static_cast<size_t>(verb)];
}

}  // namespace tether::kube
