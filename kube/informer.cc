#include "kube/informer.h"

#include <algorithm>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/backoff.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "kube/label_selector.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

}  // namespace

absl::StatusOr<std::unique_ptr<Informer>> Informer::Create(Options options,
                                                           Handler* handler) {
  if (options.client == nullptr) {
    return absl::InvalidArgumentError("Options.client is required");
  }
  if (handler == nullptr) {
    return absl::InvalidArgumentError("handler is required");
  }
  if (options.type.plural.empty()) {
    return absl::InvalidArgumentError("Options.type is required");
  }
  if (options.ns.empty()) {
    return absl::InvalidArgumentError("Options.ns is required");
  }
  // Checked here so a typo fails at start-up, not as endless retries.
  if (absl::StatusOr<LabelSelector> selector =
          LabelSelector::Parse(options.label_selector);
      !selector.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Options.label_selector: ", selector.status().message()));
  }
  RETURN_IF_ERROR(
      WithContext("Options.backoff", Backoff::Validate(options.backoff)));
  if (options.watch_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("Options.watch_timeout must be positive");
  }
  return absl::WrapUnique(new Informer(std::move(options), handler));
}

Informer::Informer(Options options, Handler* handler)
    : options_(std::move(options)),
      handler_(handler),
      thread_([this] { Run(); }) {}

Informer::~Informer() {
  {
    absl::MutexLock lock(&mu_);
    stop_.Notify();
  }
  thread_.join();
}

void Informer::Run() {
  Backoff backoff(options_.backoff);
  bool need_list = true;
  while (!stop_.HasBeenNotified()) {
    absl::Status status;
    if (need_list) {
      status = Relist();
      need_list = !status.ok();
    } else {
      status = WatchOnce();
      if (absl::IsOutOfRange(status)) {
        // Our version fell out of the server's history; only a new LIST
        // can tell what was missed.
        need_list = true;
        continue;
      }
    }
    if (stop_.HasBeenNotified()) return;
    if (status.ok()) {
      backoff.Reset();
      continue;
    }
    handler_->OnError(status);
    absl::MutexLock lock(&mu_);
    auto stopped = [this] { return stop_.HasBeenNotified(); };
    options_.clock->AwaitWithDeadline(
        &mu_, absl::Condition(&stopped),
        options_.clock->Now() + backoff.NextDelay());
  }
}

absl::Status Informer::Relist() {
  ASSIGN_OR_RETURN(ObjectList list,
                   options_.client->List(options_.type, options_.ns,
                                         options_.label_selector));
  std::map<std::string, json> fresh;
  for (json& item : list.items) {
    std::string name = MetadataString(item, "name");
    if (name.empty()) continue;  // The API server names every object.
    // LIST items come without these; watch events have them.
    item["apiVersion"] = std::string(options_.type.api_version);
    item["kind"] = std::string(options_.type.kind);
    fresh.emplace(std::move(name), std::move(item));
  }
  for (const auto& [name, object] : known_) {
    if (fresh.count(name) == 0) handler_->OnDelete(object);
  }
  for (const auto& [name, object] : fresh) {
    const auto it = known_.find(name);
    if (it == known_.end() || MetadataString(it->second, "resourceVersion") !=
                                  MetadataString(object, "resourceVersion")) {
      handler_->OnUpsert(object);
    }
  }
  known_ = std::move(fresh);
  resource_version_ = list.resource_version;
  handler_->OnSynced();
  return absl::OkStatus();
}

absl::Status Informer::WatchOnce() {
  WatchOptions watch;
  watch.label_selector = options_.label_selector;
  watch.resource_version = resource_version_;
  watch.timeout = options_.watch_timeout;
  watch.allow_bookmarks = true;
  watch.stop = &stop_;
  const absl::Time started = options_.clock->Now();
  int events = 0;
  absl::Status status = options_.client->Watch(
      options_.type, options_.ns, watch, [&](const WatchEvent& event) {
        ++events;
        HandleEvent(event);
        return !stop_.HasBeenNotified();
      });
  // A server (or proxy) that ends every watch at once would otherwise be
  // re-watched in a tight loop; back off as client-go does.
  if (status.ok() && events == 0 &&
      options_.clock->Now() - started < absl::Seconds(1)) {
    return absl::UnavailableError(
        "the watch ended at once without events; backing off");
  }
  return status;
}

void Informer::HandleEvent(const WatchEvent& event) {
  const std::string version = MetadataString(event.object, "resourceVersion");
  if (!version.empty()) resource_version_ = version;
  const std::string name = MetadataString(event.object, "name");
  switch (event.type) {
    case WatchEvent::Type::kAdded:
    case WatchEvent::Type::kModified:
      if (name.empty()) return;
      known_[name] = event.object;
      handler_->OnUpsert(event.object);
      return;
    case WatchEvent::Type::kDeleted: {
      // Unknown objects were never reported, so there is nothing to undo.
      const auto it = known_.find(name);
      if (it == known_.end()) return;
      known_.erase(it);
      handler_->OnDelete(event.object);
      return;
    }
    case WatchEvent::Type::kBookmark:
      return;  // Only advances the version.
  }
}

}  // namespace tether::kube
