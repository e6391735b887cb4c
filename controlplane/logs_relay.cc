#include "controlplane/logs_relay.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/proto_time.h"
#include "controlplane/backend.h"
#include "controlplane/call_router.h"

namespace tether::controlplane {
namespace {

using ::tether::v1::LogLine;
using ::tether::v1::LogsRequest;
using ::tether::v1::LogsResponse;

bool Earlier(const LogLine& a, const LogLine& b) {
  if (a.time().seconds() != b.time().seconds()) {
    return a.time().seconds() < b.time().seconds();
  }
  return a.time().nanos() < b.time().nanos();
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

absl::StatusOr<LogsRelay*> LogsRelay::Start(const LogsRequest& request,
                                            const Options& options) {
  absl::StatusOr<CallRouter::LogsTargets> targets =
      options.router->ResolveLogs(request.service());
  if (!targets.ok()) return targets.status();
  const std::string& wanted = request.replica();
  std::vector<std::shared_ptr<AgentEndpoint>> ready;
  std::vector<std::string> ready_names;
  for (std::shared_ptr<AgentEndpoint>& endpoint : targets->ready) {
    ready_names.push_back(endpoint->replica);
    if (wanted.empty() || endpoint->replica == wanted) {
      ready.push_back(std::move(endpoint));
    }
  }
  // The rest have no agent to ask: their own logs it is.
  std::vector<std::string> others;
  for (std::string& name : options.backend->Replicas(request.service())) {
    if (!Contains(ready_names, name) && (wanted.empty() || name == wanted)) {
      others.push_back(std::move(name));
    }
  }
  if (!wanted.empty() && ready.empty() && others.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "service \"", request.service(), "\" has no replica \"", wanted, "\""));
  }
  if (ready.empty() && others.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "no replica of service \"", request.service(), "\" is running",
        targets->not_ready_reason.empty() ? "" : ": ",
        targets->not_ready_reason));
  }
  auto* relay =
      new LogsRelay(request, options, std::move(targets->authorization));
  relay->Begin(ready, others);
  return relay;
}

LogsRelay::LogsRelay(const LogsRequest& request, const Options& options,
                     std::string authorization)
    : options_(options),
      service_(request.service()),
      replica_(request.replica()),
      follow_(request.follow()),
      since_(request.has_since() ? FromProtoTimestamp(request.since())
                                 : absl::InfinitePast()),
      authorization_(std::move(authorization)) {}

void LogsRelay::Begin(const std::vector<std::shared_ptr<AgentEndpoint>>& ready,
                      const std::vector<std::string>& others) {
  std::vector<AgentStream*> started;
  std::vector<Source*> unread;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& endpoint : ready) {
      if (AgentStream* stream = AddStreamLocked(endpoint)) {
        started.push_back(stream);
      }
    }
    for (const std::string& name : others) {
      unread.push_back(
          sources_.emplace_back(std::make_unique<Source>(name)).get());
    }
    if (!unread.empty()) ++parts_;  // The read below.
    watching_ = follow_ && options_.endpoints != nullptr;
  }
  for (AgentStream* stream : started) stream->Start(authorization_);
  if (!unread.empty()) {
    options_.run([this, unread] { ReadReplicaLogs(unread); });
  }
  if (!follow_ || options_.endpoints == nullptr) return;
  // Tells of the endpoints now, too: a replica that became ready since the
  // router was asked is picked up.
  absl::StatusOr<uint64_t> id = options_.endpoints->Watch(service_, &watcher_);
  if (id.ok()) {
    watch_id_ = *id;
  } else {
    OnServiceRemoved();  // Deleted meanwhile.
  }
}

LogsRelay::AgentStream* LogsRelay::AddStreamLocked(
    const std::shared_ptr<AgentEndpoint>& endpoint) {
  Streamed& streamed = streamed_[endpoint->replica];
  if (streamed.open || streamed.endpoint.lock() == endpoint) return nullptr;
  streamed.endpoint = endpoint;
  streamed.open = true;
  // The agent serves its own replica: service and replica do not apply.
  LogsRequest request;
  absl::Time since = since_;
  if (streamed.last_line.has_value()) {
    since = std::max(since, *streamed.last_line + absl::Nanoseconds(1));
  }
  if (since != absl::InfinitePast()) {
    *request.mutable_since() = ToProtoTimestamp(since);
  }
  request.set_follow(follow_);
  ++parts_;
  auto stream = std::make_unique<AgentStream>(this, endpoint, request);
  AgentStream* added = stream.get();
  sources_.push_back(std::move(stream));
  return added;
}

LogsRelay::AgentStream::AgentStream(LogsRelay* relay,
                                    std::shared_ptr<AgentEndpoint> endpoint,
                                    LogsRequest request)
    : Source(endpoint->replica),
      relay_(relay),
      endpoint_(std::move(endpoint)),
      request_(std::move(request)) {}

void LogsRelay::AgentStream::Start(const std::string& authorization) {
  context_.AddMetadata("authorization", authorization);
  endpoint_->stub->async()->Logs(&context_, &request_, this);
  AddHold();
  StartRead(&incoming_);
  StartCall();
}

bool LogsRelay::AgentStream::TakePaused() {
  if (reading_ || ended_) return false;
  reading_ = true;
  return true;
}

void LogsRelay::AgentStream::OnReadDone(bool ok) {
  if (!ok) {
    // No read is started after this one; OnDone may follow at once, so
    // this is the last use of `this`.
    RemoveHold();
    return;
  }
  bool again = true;
  std::vector<AgentStream*> resume;
  {
    absl::MutexLock lock(&relay_->mu_);
    // Once the caller is done, read on only to the end.
    if (!relay_->finished_ && !relay_->cancelled_) {
      if (incoming_.has_line()) {
        LogLine* line = incoming_.mutable_line();
        if (line->replica().empty()) line->set_replica(replica_);
        relay_->streamed_[replica_].last_line =
            FromProtoTimestamp(line->time());
      }
      queue_.push_back(std::move(incoming_));
      // A full queue pauses this agent until the caller takes a message.
      again = queue_.size() < kQueuePerReplica;
      reading_ = again;
      relay_->PumpLocked(&resume);
    }
    incoming_.Clear();
  }
  if (again) StartRead(&incoming_);
  Resume(resume);
}

void LogsRelay::AgentStream::OnDone(const grpc::Status& status) {
  // The relay may let go of this stream: nothing here touches it after.
  relay_->OnStreamDone(this, status);
}

void LogsRelay::OnStreamDone(AgentStream* stream, const grpc::Status& status) {
  std::vector<AgentStream*> resume;
  {
    absl::MutexLock lock(&mu_);
    stream->ended_ = true;
    stream->reading_ = false;
    streamed_[stream->replica_].open = false;
    if (status.ok()) {
      any_ok_ = true;
    } else if (!cancelled_ && !finished_ && !removed_) {
      if (!first_error_.has_value()) first_error_ = status;
      // Say so in the stream: the other replicas' lines go on.
      LogsResponse note;
      LogLine* line = note.mutable_line();
      line->set_stream(LogLine::STREAM_STDERR);
      line->set_replica(stream->replica_);
      line->set_text(absl::StrCat("[tether: the log stream of ",
                                  stream->replica_,
                                  " ended: ", status.error_message(), "]"));
      *line->mutable_time() = ToProtoTimestamp(absl::Now());
      stream->queue_.push_back(std::move(note));
    }
    // Its agent may have attached again while this stream was open.
    SchedulePickUpLocked();
    PumpLocked(&resume);
  }
  Resume(resume);
  PartDone();
}

void LogsRelay::ReadReplicaLogs(const std::vector<Source*>& sources) {
  for (Source* source : sources) {
    bool skip;
    {
      absl::MutexLock lock(&mu_);
      skip = cancelled_ || finished_;
    }
    absl::StatusOr<std::vector<LogLine>> lines =
        skip ? std::vector<LogLine>()
             : options_.backend->ReplicaLogs(service_, source->replica_, since_,
                                             kPlatformLogLines);
    std::vector<AgentStream*> resume;
    {
      absl::MutexLock lock(&mu_);
      source->ended_ = true;
      if (lines.ok()) {
        any_ok_ = true;
        for (LogLine& line : *lines) {
          if (line.replica().empty()) line.set_replica(source->replica_);
          *source->queue_.emplace_back().mutable_line() = std::move(line);
        }
      } else if (absl::IsNotFound(lines.status())) {
        // Gone since the relay started: nothing to show.
      } else if (!cancelled_ && !finished_) {
        if (!first_error_.has_value()) {
          first_error_ = ToGrpcStatus(lines.status());
        }
        NoteLocked(source->replica_,
                   absl::StrCat("[tether: what ", source->replica_,
                                " printed could not be read: ",
                                lines.status().ToString(), "]"));
      }
      PumpLocked(&resume);
    }
    Resume(resume);
  }
  PartDone();
}

void LogsRelay::Watcher::OnEndpoints(
    std::shared_ptr<const tether::v1::Endpoints> /*endpoints*/) {
  // The router has the same change; the pick-up reads it there, with the
  // stubs to open streams on.
  absl::MutexLock lock(&relay_->mu_);
  relay_->SchedulePickUpLocked();
}

void LogsRelay::Watcher::OnRemoved() { relay_->OnServiceRemoved(); }

void LogsRelay::SchedulePickUpLocked() {
  if (!watching_ || pick_up_due_ || cancelled_ || finished_) return;
  pick_up_due_ = true;
  ++parts_;
  options_.run([this] { PickUp(); });
}

void LogsRelay::PickUp() {
  absl::StatusOr<CallRouter::LogsTargets> targets =
      options_.router->ResolveLogs(service_);
  std::vector<AgentStream*> started;
  {
    absl::MutexLock lock(&mu_);
    pick_up_due_ = false;
    if (targets.ok() && watching_ && !cancelled_ && !finished_) {
      for (const auto& endpoint : targets->ready) {
        if (!replica_.empty() && endpoint->replica != replica_) continue;
        if (AgentStream* stream = AddStreamLocked(endpoint)) {
          started.push_back(stream);
        }
      }
    }
  }
  for (AgentStream* stream : started) stream->Start(authorization_);
  PartDone();
}

void LogsRelay::OnServiceRemoved() {
  std::vector<AgentStream*> resume;
  {
    absl::MutexLock lock(&mu_);
    if (!watching_) return;
    watching_ = false;
    removed_ = true;
    if (!cancelled_ && !finished_) {
      NoteLocked("",
                 absl::StrCat("[tether: service ", service_, " was deleted]"));
    }
    PumpLocked(&resume);
  }
  Resume(resume);
  // Its agents are stopping; what they sent is still written.
  CancelAgents();
}

void LogsRelay::NoteLocked(const std::string& replica,
                           const std::string& text) {
  auto note = std::make_unique<Source>(replica);
  LogLine* line = note->queue_.emplace_back().mutable_line();
  line->set_stream(LogLine::STREAM_STDERR);
  line->set_replica(replica);
  line->set_text(text);
  *line->mutable_time() = ToProtoTimestamp(absl::Now());
  note->ended_ = true;
  sources_.push_back(std::move(note));
}

void LogsRelay::PumpLocked(std::vector<AgentStream*>* resume) {
  if (writing_ || finished_) return;
  if (cancelled_) {
    finished_ = true;
    Finish(grpc::Status::CANCELLED);
    return;
  }
  Source* next = nullptr;
  bool all_ended = true;
  for (auto it = sources_.begin(); it != sources_.end();) {
    Source& source = **it;
    if (source.queue_.empty()) {
      if (source.ended_) {
        // Done and written. An agent stream ends in its OnDone, which
        // touches it no more; CancelAgents may hold it once removed_.
        it = removed_ ? std::next(it) : sources_.erase(it);
        continue;
      }
      all_ended = false;
      // Without follow the merge waits for every open source's next
      // message, so none can come earlier than the one written.
      if (!follow_) return;
      ++it;
      continue;
    }
    if (!source.ended_) all_ended = false;
    const LogsResponse& head = source.queue_.front();
    // Drop counts go at once: they are about what came before.
    if (!head.has_line()) {
      next = &source;
      break;
    }
    if (next == nullptr || Earlier(head.line(), next->queue_.front().line())) {
      next = &source;
    }
    ++it;
  }
  if (next == nullptr) {
    // While the service lives, replicas may still come.
    if (all_ended && !watching_) {
      finished_ = true;
      Finish(removed_ || any_ok_ || !first_error_.has_value() ? grpc::Status::OK
                                                              : *first_error_);
    }
    return;
  }
  current_ = std::move(next->queue_.front());
  next->queue_.pop_front();
  if (AgentStream* stream = next->AsAgentStream();
      stream != nullptr && stream->TakePaused()) {
    resume->push_back(stream);
  }
  writing_ = true;
  StartWrite(&current_);
}

void LogsRelay::Resume(const std::vector<AgentStream*>& resume) {
  for (AgentStream* stream : resume) stream->StartRead(&stream->incoming_);
}

void LogsRelay::OnWriteDone(bool ok) {
  std::vector<AgentStream*> resume;
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok && !cancelled_) {
      // The caller is gone.
      cancelled_ = true;
      cancel = true;
      ++parts_;  // Kept alive while CancelAgents runs.
    }
    PumpLocked(&resume);
  }
  Resume(resume);
  if (cancel) {
    CancelAgents();
    PartDone();
  }
}

void LogsRelay::OnCancel() {
  std::vector<AgentStream*> resume;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
    ++parts_;  // Kept alive while CancelAgents runs.
    PumpLocked(&resume);
  }
  CancelAgents();
  PartDone();
}

void LogsRelay::CancelAgents() {
  // Once cancelled or removed no source is let go, so these stay valid; a
  // stream that has not started yet is cancelled when it does.
  std::vector<std::pair<AgentStream*, bool>> streams;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& source : sources_) {
      AgentStream* stream = source->AsAgentStream();
      if (stream == nullptr || stream->ended_) continue;
      // A paused stream reads again, to its end, so its hold goes.
      streams.emplace_back(stream, stream->TakePaused());
    }
  }
  for (const auto& [stream, paused] : streams) {
    stream->context_.TryCancel();
    if (paused) stream->StartRead(&stream->incoming_);
  }
}

void LogsRelay::OnDone() {
  // The caller's stream is over: no more replicas to pick up. Unwatch waits
  // out a watcher call in progress, so none comes after this.
  if (watch_id_.has_value()) options_.endpoints->Unwatch(*watch_id_);
  {
    absl::MutexLock lock(&mu_);
    watching_ = false;
  }
  PartDone();
}

void LogsRelay::PartDone() {
  {
    absl::MutexLock lock(&mu_);
    if (--parts_ > 0) return;
  }
  delete this;
}

}  // namespace tether::controlplane
