#include "kube/event_recorder.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "kube/json_fields.h"
#include "kube/resource_type.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

// The API server's limits (core/v1 Event validation, object names).
constexpr size_t kMaxMessageBytes = 1024;
constexpr size_t kMaxNameBytes = 253;

// At most `max` bytes of `text`, not splitting a UTF-8 sequence (the JSON
// writer refuses broken UTF-8).
absl::string_view Truncate(absl::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  return text.substr(0, end);
}

std::string ApiTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", time, absl::UTCTimeZone());
}

const char* TypeName(EventRecorder::Type type) {
  return type == EventRecorder::Type::kWarning ? "Warning" : "Normal";
}

}  // namespace

bool ObjectReference::operator<(const ObjectReference& other) const {
  return std::tie(ns, kind, name, uid, api_version) <
         std::tie(other.ns, other.kind, other.name, other.uid,
                  other.api_version);
}

std::optional<ObjectReference> EventSubject(const json& pod,
                                            absl::string_view ns) {
  const json& metadata = Field(pod, "metadata");
  const json& owners = Field(metadata, "ownerReferences");
  if (owners.is_array()) {
    for (const json& owner : owners) {
      if (Field(owner, "controller") != true) continue;
      return ObjectReference{StringField(owner, "apiVersion"),
                             StringField(owner, "kind"),
                             StringField(owner, "name"), std::string(ns),
                             StringField(owner, "uid")};
    }
  }
  const std::string name = StringField(metadata, "name");
  if (name.empty()) return std::nullopt;
  return ObjectReference{"v1", "Pod", name, std::string(ns),
                         StringField(metadata, "uid")};
}

bool EventRecorder::Key::operator<(const Key& other) const {
  return std::tie(object, type, reason, message) <
         std::tie(other.object, other.type, other.reason, other.message);
}

absl::StatusOr<std::unique_ptr<EventRecorder>> EventRecorder::Create(
    Options options) {
  if (options.client == nullptr) {
    return absl::InvalidArgumentError("EventRecorder: client required");
  }
  if (options.component.empty()) {
    return absl::InvalidArgumentError("EventRecorder: component required");
  }
  if (options.max_pending == 0 || options.max_remembered == 0) {
    return absl::InvalidArgumentError(
        "EventRecorder: max_pending and max_remembered must be positive");
  }
  return std::unique_ptr<EventRecorder>(new EventRecorder(std::move(options)));
}

EventRecorder::EventRecorder(Options options)
    : options_(std::move(options)), thread_([this] { Run(); }) {}

EventRecorder::~EventRecorder() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void EventRecorder::Record(const ObjectReference& object, Type type,
                           absl::string_view reason,
                           absl::string_view message) {
  Key key{object, type, std::string(reason),
          std::string(Truncate(message, kMaxMessageBytes))};
  const absl::Time now = options_.clock->Now();
  {
    absl::MutexLock lock(&mu_);
    auto it = seen_.find(key);
    const bool repeat = it != seen_.end() &&
                        now - it->second.last < options_.aggregation_window;
    if (!(repeat && it->second.queued) &&
        pending_.size() >= options_.max_pending) {
      // Dropping rather than waiting: an admission must never stall on us.
      Report(EventOutcome::kDropped);
      return;
    }
    if (it == seen_.end()) {
      if (seen_.size() >= options_.max_remembered) Forget();
      it = seen_.emplace(key, Aggregate()).first;
    }
    Aggregate& aggregate = it->second;
    if (repeat) {
      ++aggregate.count;
    } else {
      // client-go's name: the object's, then the time in hex nanoseconds;
      // bumped past the last one so two Events never share a name.
      last_stamp_ = std::max(last_stamp_ + 1, absl::ToUnixNanos(now));
      const absl::string_view base = Truncate(object.name, kMaxNameBytes - 17);
      aggregate = Aggregate{absl::StrCat(base, ".", absl::Hex(last_stamp_)), 1,
                            now, now, aggregate.queued};
    }
    aggregate.last = now;
    if (!aggregate.queued) {
      aggregate.queued = true;
      pending_.push_back(std::move(key));
    }
  }
}

void EventRecorder::Forget() {
  auto oldest = seen_.end();
  for (auto it = seen_.begin(); it != seen_.end(); ++it) {
    if (it->second.queued) continue;
    if (oldest == seen_.end() || it->second.last < oldest->second.last) {
      oldest = it;
    }
  }
  if (oldest != seen_.end()) seen_.erase(oldest);
}

void EventRecorder::Flush() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](EventRecorder* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
        return self->pending_.empty() && self->writing_ == 0;
      },
      this));
}

void EventRecorder::Run() {
  while (true) {
    json event;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](EventRecorder* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->pending_.empty();
          },
          this));
      if (stopping_) return;
      const Key key = std::move(pending_.front());
      pending_.pop_front();
      Aggregate& aggregate = seen_.at(key);
      aggregate.queued = false;
      event = EventObject(key, aggregate);
      ++writing_;
    }
    const absl::StatusOr<json> written = options_.client->Apply(event);
    if (written.ok()) {
      Report(EventOutcome::kRecorded);
    } else {
      Report(EventOutcome::kFailed);
      TETHER_LOG(WARNING) << "cannot record Event "
                          << event["reason"].get<std::string>() << " on "
                          << event["involvedObject"]["kind"].get<std::string>()
                          << " "
                          << event["involvedObject"]["name"].get<std::string>()
                          << ": " << written.status();
    }
    absl::MutexLock lock(&mu_);
    --writing_;
  }
}

json EventRecorder::EventObject(const Key& key,
                                const Aggregate& aggregate) const {
  const ObjectReference& object = key.object;
  json involved = {{"apiVersion", object.api_version},
                   {"kind", object.kind},
                   {"name", object.name},
                   {"namespace", object.ns}};
  if (!object.uid.empty()) involved["uid"] = object.uid;
  json event = {
      {"apiVersion", std::string(kEvents.api_version)},
      {"kind", std::string(kEvents.kind)},
      {"metadata", {{"name", aggregate.name}, {"namespace", object.ns}}},
      {"involvedObject", std::move(involved)},
      {"type", TypeName(key.type)},
      {"reason", key.reason},
      {"message", key.message},
      {"source", {{"component", options_.component}}},
      {"firstTimestamp", ApiTime(aggregate.first)},
      {"lastTimestamp", ApiTime(aggregate.last)},
      {"count", aggregate.count},
      {"reportingComponent", options_.component},
  };
  if (!options_.instance.empty()) {
    event["reportingInstance"] = options_.instance;
  }
  return event;
}

void EventRecorder::Report(EventOutcome outcome) const {
  if (options_.on_outcome) options_.on_outcome(outcome);
}

}  // namespace tether::kube
