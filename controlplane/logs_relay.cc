#include "controlplane/logs_relay.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
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

}  // namespace

LogsRelay::LogsRelay(const LogsRequest& request,
                     std::vector<std::shared_ptr<AgentEndpoint>> endpoints,
                     const std::string& authorization)
    : follow_(request.follow()) {
  // The agent serves its own replica: service and replica do not apply.
  if (request.has_since()) *agent_request_.mutable_since() = request.since();
  agent_request_.set_follow(request.follow());
  for (auto& endpoint : endpoints) {
    streams_.push_back(
        std::make_unique<AgentStream>(this, std::move(endpoint)));
  }
  {
    absl::MutexLock lock(&mu_);
    parts_ = 1 + static_cast<int>(streams_.size());
  }
  for (auto& stream : streams_) stream->Start(agent_request_, authorization);
}

void LogsRelay::AgentStream::Start(const LogsRequest& request,
                                   const std::string& authorization) {
  context_.AddMetadata("authorization", authorization);
  endpoint_->stub->async()->Logs(&context_, &request, this);
  StartRead(&incoming_);
  StartCall();
}

void LogsRelay::AgentStream::OnReadDone(bool ok) {
  // At the end of the stream OnDone follows with its status.
  if (!ok) return;
  bool again = false;
  std::vector<AgentStream*> resume;
  {
    absl::MutexLock lock(&relay_->mu_);
    reading_ = false;
    if (relay_->finished_) return;
    if (incoming_.has_line() && incoming_.line().replica().empty()) {
      incoming_.mutable_line()->set_replica(endpoint_->replica);
    }
    queue_.push_back(std::move(incoming_));
    incoming_.Clear();
    // A full queue pauses this agent until the caller takes a message.
    if (queue_.size() < kQueuePerReplica) {
      reading_ = true;
      again = true;
    }
    relay_->PumpLocked(&resume);
  }
  if (again) StartRead(&incoming_);
  Resume(resume);
}

void LogsRelay::AgentStream::OnDone(const grpc::Status& status) {
  std::vector<AgentStream*> resume;
  {
    absl::MutexLock lock(&relay_->mu_);
    ended_ = true;
    reading_ = false;
    if (status.ok()) {
      relay_->any_ok_ = true;
    } else if (!relay_->cancelled_ && !relay_->finished_) {
      if (!relay_->first_error_.has_value()) relay_->first_error_ = status;
      // Say so in the stream: the other replicas' lines go on.
      LogsResponse note;
      LogLine* line = note.mutable_line();
      line->set_stream(LogLine::STREAM_STDERR);
      line->set_replica(endpoint_->replica);
      line->set_text(absl::StrCat("[tether: the log stream of ",
                                  endpoint_->replica,
                                  " ended: ", status.error_message(), "]"));
      const absl::Time now = absl::Now();
      line->mutable_time()->set_seconds(absl::ToUnixSeconds(now));
      queue_.push_back(std::move(note));
    }
    relay_->PumpLocked(&resume);
  }
  Resume(resume);
  relay_->PartDone();
}

void LogsRelay::PumpLocked(std::vector<AgentStream*>* resume) {
  if (writing_ || finished_) return;
  if (cancelled_) {
    finished_ = true;
    Finish(grpc::Status::CANCELLED);
    return;
  }
  AgentStream* next = nullptr;
  bool all_ended = true;
  for (auto& stream : streams_) {
    if (!stream->ended_) all_ended = false;
    if (stream->queue_.empty()) {
      // Without follow the merge waits for every open stream's next
      // message, so none can come earlier than the one written.
      if (!follow_ && !stream->ended_) return;
      continue;
    }
    const LogsResponse& head = stream->queue_.front();
    // Drop counts go at once: they are about what came before.
    if (!head.has_line()) {
      next = stream.get();
      break;
    }
    if (next == nullptr || Earlier(head.line(), next->queue_.front().line())) {
      next = stream.get();
    }
  }
  if (next == nullptr) {
    if (all_ended) {
      finished_ = true;
      Finish(any_ok_ || !first_error_.has_value() ? grpc::Status::OK
                                                  : *first_error_);
    }
    return;
  }
  current_ = std::move(next->queue_.front());
  next->queue_.pop_front();
  if (!next->reading_ && !next->ended_) {
    next->reading_ = true;
    resume->push_back(next);
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
    cancelled_ = true;
    ++parts_;  // Kept alive while CancelAgents runs.
    PumpLocked(&resume);
  }
  CancelAgents();
  PartDone();
}

void LogsRelay::CancelAgents() {
  for (auto& stream : streams_) stream->context_.TryCancel();
}

void LogsRelay::OnDone() {
  // A caller gone without OnCancel (the stream finished) needs nothing
  // more: every agent stream has ended by then.
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
