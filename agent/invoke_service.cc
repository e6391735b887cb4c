#include "agent/invoke_service.h"

#include <chrono>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/activity.h"
#include "agent/agent_metrics.h"
#include "agent/logs_reactor.h"
#include "agent/worker/call_handle.h"
#include "agent/worker/worker_pool.h"
#include "common/grpc_status.h"
#include "common/request_id.h"
#include "servicespec/validate.h"

namespace tether::agent {
namespace {

using ::tether::v1::CallResult;
using ::tether::v1::InvokeEvent;
using ::tether::v1::InvokeRequest;
using ::tether::v1::LogLine;

// The status a call the agent cancelled ends with: gRPC tells the client
// itself, this is what metrics record.
grpc::StatusCode CancelledCode(const grpc::CallbackServerContext* context) {
  return context->deadline() <= std::chrono::system_clock::now()
             ? grpc::StatusCode::DEADLINE_EXCEEDED
             : grpc::StatusCode::CANCELLED;
}

// What every call shares: the metrics and activity bookkeeping, counted
// exactly once when the worker is done with the call (not when the client
// goes away, so a call being stopped still counts as in flight).
class CallAccounting {
 public:
  CallAccounting(AgentMetrics* metrics, ActivityCounters* activity)
      : metrics_(metrics),
        activity_(activity),
        started_(metrics->CallStarted()) {}

  // The call was handed to the pool.
  void Started() {
    activity_->CallStarted();
    handed_ = true;
  }
  void Finished(grpc::StatusCode code) {
    if (handed_) activity_->CallFinished();
    metrics_->CallFinished(started_, code);
  }

 private:
  AgentMetrics* const metrics_;
  ActivityCounters* const activity_;
  const absl::Time started_;
  bool handed_ = false;
};

// A payload over the limit, either way: the caller's message limit is the
// same, so a larger one could not be sent anyway.
grpc::Status TooLarge(absl::string_view what, size_t size, int64_t limit) {
  return grpc::Status(
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      absl::StrCat(what, " of ", size, " bytes exceeds the limit of ", limit,
                   " bytes (--max_payload_bytes)"));
}

// `Invoke`: one result. Deletes itself when gRPC is done with it.
class InvokeReactor final : public grpc::ServerUnaryReactor {
 public:
  InvokeReactor(grpc::CallbackServerContext* context,
                tether::v1::InvokeResponse* response, AgentMetrics* metrics,
                ActivityCounters* activity, int64_t max_payload_bytes)
      : context_(context),
        response_(response),
        accounting_(metrics, activity),
        max_payload_bytes_(max_payload_bytes) {}

  void Refuse(const grpc::Status& status) {
    accounting_.Finished(status.error_code());
    Finish(status);
  }

  void Start(WorkerPool* pool, const InvokeRequest& request) {
    accounting_.Started();
    WorkerProcess::Call call;
    call.handle = handle_;
    if (request.logs()) {
      // Unary: the live lines come back with the result, as without `logs`.
      call.on_log = [this](LogLine line) {
        absl::MutexLock lock(&mu_);
        if (logs_.size() < InvokeService::kMaxQueuedLogLines) {
          logs_.push_back(std::move(line));
        } else {
          ++dropped_;
        }
      };
    }
    call.done = [this](absl::StatusOr<CallResult> result) {
      grpc::Status status = ToGrpcStatus(result.status());
      if (result.ok() &&
          static_cast<int64_t>(result->payload().size()) > max_payload_bytes_) {
        status =
            TooLarge("result", result->payload().size(), max_payload_bytes_);
      } else if (result.ok()) {
        *response_->mutable_result() = *std::move(result);
        absl::MutexLock lock(&mu_);
        for (LogLine& line : logs_) {
          *response_->mutable_result()->add_logs() = std::move(line);
        }
        if (dropped_ > 0) {
          LogLine* note = response_->mutable_result()->add_logs();
          note->set_stream(LogLine::STREAM_STDERR);
          note->set_text(
              absl::StrCat("[tether: ", dropped_, " more lines dropped]"));
        }
      }
      if (handle_->cancelled() && !status.ok()) {
        status = grpc::Status(CancelledCode(context_), "the call was stopped");
      }
      accounting_.Finished(status.error_code());
      Finish(status);
    };
    pool->Invoke(request, std::move(call));
  }

  void OnCancel() override { handle_->Cancel(); }
  void OnDone() override { delete this; }

 private:
  grpc::CallbackServerContext* const context_;
  tether::v1::InvokeResponse* const response_;
  CallAccounting accounting_;
  const int64_t max_payload_bytes_;
  const std::shared_ptr<CallHandle> handle_ = std::make_shared<CallHandle>();
  absl::Mutex mu_;
  // Lines of a unary call with `logs` set, for its result.
  std::vector<LogLine> logs_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

// `InvokeStream`: items, log lines and drop counts as they come, the result
// last. Every queue is bounded: items by the credit window (granted back
// half a window of completed writes at a time), log lines by kMaxQueuedLogLines
// (beyond it they are counted and reported as one LogsDropped before the next
// line that gets through, or before the result). Deletes itself when gRPC is
// done with it.
class InvokeStreamReactor final : public grpc::ServerWriteReactor<InvokeEvent> {
 public:
  InvokeStreamReactor(grpc::CallbackServerContext* context,
                      AgentMetrics* metrics, ActivityCounters* activity,
                      std::string replica, int64_t max_payload_bytes)
      : context_(context),
        accounting_(metrics, activity),
        replica_(std::move(replica)),
        max_payload_bytes_(max_payload_bytes) {}

  void Refuse(const grpc::Status& status) {
    accounting_.Finished(status.error_code());
    Finish(status);
  }

  void Start(WorkerPool* pool, const InvokeRequest& request) {
    accounting_.Started();
    WorkerProcess::Call call;
    call.handle = handle_;
    call.stream_credit = InvokeService::kStreamWindow;
    call.on_item = [this](std::string item) {
      absl::MutexLock lock(&mu_);
      if (static_cast<int64_t>(item.size()) > max_payload_bytes_) {
        // The call stops here: the stream would break on it.
        if (oversize_.ok()) {
          oversize_ = TooLarge("an item", item.size(), max_payload_bytes_);
          handle_->Cancel();
        }
        return;
      }
      QueueItemLocked(std::move(item));
      MaybeWriteLocked();
    };
    if (request.logs()) {
      call.on_log = [this](LogLine line) {
        absl::MutexLock lock(&mu_);
        if (queued_logs_ >= InvokeService::kMaxQueuedLogLines) {
          ++dropped_;
          return;
        }
        QueueDropsLocked();
        line.set_replica(replica_);
        InvokeEvent event;
        *event.mutable_log() = std::move(line);
        queue_.push_back(std::move(event));
        ++queued_logs_;
        MaybeWriteLocked();
      };
    }
    call.done = [this](absl::StatusOr<CallResult> result) {
      grpc::Status status = ToGrpcStatus(result.status());
      if (handle_->cancelled() && !status.ok()) {
        status = grpc::Status(CancelledCode(context_), "the call was stopped");
      }
      if (result.ok() &&
          static_cast<int64_t>(result->payload().size()) > max_payload_bytes_) {
        status =
            TooLarge("result", result->payload().size(), max_payload_bytes_);
        result = FromGrpcStatus(status);
      }
      absl::MutexLock lock(&mu_);
      if (!oversize_.ok()) {
        status = oversize_;
        result = FromGrpcStatus(status);
      }
      accounting_.Finished(status.error_code());
      QueueDropsLocked();
      if (result.ok()) {
        result->set_replica(replica_);
        InvokeEvent event;
        *event.mutable_result() = *std::move(result);
        queue_.push_back(std::move(event));
      }
      final_status_ = std::move(status);
      ending_ = true;
      MaybeWriteLocked();
    };
    pool->Invoke(request, std::move(call));
  }

  void OnWriteDone(bool ok) override {
    uint32_t grant = 0;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (current_.has_log()) --queued_logs_;
      // Credit goes back half a window at a time: one frame to the worker
      // per many items, and the worker never waits while half a window
      // is still unwritten.
      if (ok && current_.has_items() &&
          (written_items_ += current_.items().item_size()) >=
              InvokeService::kStreamWindow / 2) {
        grant = written_items_;
        written_items_ = 0;
      }
      if (!ok) {
        // The client is gone (OnCancel stops the call): nothing more will
        // be written, but Finish still waits for the worker's answer.
        broken_ = true;
        queue_.clear();
        queued_logs_ = 0;
      }
      MaybeWriteLocked();
    }
    // Outside mu_: the grant writes to the worker's socket.
    if (grant > 0) handle_->GrantCredit(grant);
  }

  void OnCancel() override { handle_->Cancel(); }
  void OnDone() override { delete this; }

 private:
  // Items that wait while a write is in flight go out together in one
  // message, up to kMaxBatchBytes (a larger item goes alone).
  void QueueItemLocked(std::string item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!queue_.empty() && queue_.back().has_items() &&
        queued_batch_bytes_ + item.size() <= kMaxBatchBytes) {
      queued_batch_bytes_ += item.size();
      queue_.back().mutable_items()->add_item(std::move(item));
      return;
    }
    queued_batch_bytes_ = item.size();
    InvokeEvent event;
    event.mutable_items()->add_item(std::move(item));
    queue_.push_back(std::move(event));
  }

  void QueueDropsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (dropped_ == 0) return;
    InvokeEvent event;
    event.mutable_logs_dropped()->set_lines(dropped_);
    queue_.push_back(std::move(event));
    dropped_ = 0;
  }

  // One write at a time; Finish once the queue is empty after the result.
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    if (broken_) queue_.clear();
    if (queue_.empty()) {
      if (ending_) {
        finished_ = true;
        Finish(final_status_);
      }
      return;
    }
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  grpc::CallbackServerContext* const context_;
  CallAccounting accounting_;
  const std::string replica_;
  const int64_t max_payload_bytes_;
  const std::shared_ptr<CallHandle> handle_ = std::make_shared<CallHandle>();

  absl::Mutex mu_;
  static constexpr size_t kMaxBatchBytes = 64 * 1024;

  std::deque<InvokeEvent> queue_ ABSL_GUARDED_BY(mu_);
  // Bytes in the items batch at the back of queue_.
  size_t queued_batch_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // The event being written (gRPC holds a pointer to it until OnWriteDone).
  InvokeEvent current_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  size_t queued_logs_ ABSL_GUARDED_BY(mu_) = 0;
  // Items written since the last credit grant.
  uint32_t written_items_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;    // A write failed.
  bool ending_ ABSL_GUARDED_BY(mu_) = false;    // The worker is done.
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish was called.
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  // An item over the limit stopped the call.
  grpc::Status oversize_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

InvokeService::InvokeService(WorkerPool* pool, AgentMetrics* metrics,
                             ActivityCounters* activity,
                             const std::string& token,
                             int64_t max_payload_bytes, std::string replica,
                             LogBook* log_book)
    : pool_(pool),
      metrics_(metrics),
      activity_(activity),
      authorization_(absl::StrCat("Bearer ", token)),
      max_payload_bytes_(max_payload_bytes),
      replica_(std::move(replica)),
      log_book_(log_book) {}

void InvokeService::SetAllowedCodecs(std::vector<tether::v1::Codec> codecs) {
  absl::MutexLock lock(&mu_);
  allowed_codecs_ = std::move(codecs);
}

void InvokeService::RefuseCalls(std::string why) {
  absl::MutexLock lock(&mu_);
  refused_ = std::move(why);
}

grpc::Status InvokeService::CheckToken(
    grpc::CallbackServerContext* context) const {
  const auto& metadata = context->client_metadata();
  auto auth = metadata.find("authorization");
  if (auth == metadata.end() ||
      absl::string_view(auth->second.data(), auth->second.size()) !=
          authorization_) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing or wrong service token");
  }
  return grpc::Status::OK;
}

grpc::Status InvokeService::Check(grpc::CallbackServerContext* context,
                                  const InvokeRequest& request) {
  if (grpc::Status token = CheckToken(context); !token.ok()) return token;
  const tether::v1::Codec codec = servicespec::EffectiveCodec(request.codec());
  bool allowed = false;
  {
    absl::MutexLock lock(&mu_);
    if (!refused_.empty()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, refused_);
    }
    allowed = servicespec::CodecAllowed(allowed_codecs_, codec);
  }
  if (!allowed) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("codec ", servicespec::CodecName(codec),
                                     " is not allowed for this service"));
  }
  if (static_cast<int64_t>(request.payload().size()) > max_payload_bytes_) {
    return TooLarge("payload", request.payload().size(), max_payload_bytes_);
  }
  return grpc::Status::OK;
}

namespace {

// Calls straight from clients may leave the id to the agent: every log line
// of a call carries one.
const InvokeRequest& WithRequestId(const InvokeRequest& request,
                                   InvokeRequest* copy) {
  if (!request.request_id().empty()) return request;
  *copy = request;
  copy->set_request_id(NewRequestId());
  return *copy;
}

}  // namespace

grpc::ServerUnaryReactor* InvokeService::Invoke(
    grpc::CallbackServerContext* context, const InvokeRequest* request,
    tether::v1::InvokeResponse* response) {
  auto* reactor = new InvokeReactor(context, response, metrics_, activity_,
                                    max_payload_bytes_);
  const grpc::Status status = Check(context, *request);
  if (!status.ok()) {
    reactor->Refuse(status);
  } else {
    InvokeRequest copy;
    reactor->Start(pool_, WithRequestId(*request, &copy));
  }
  return reactor;
}

grpc::ServerWriteReactor<InvokeEvent>* InvokeService::InvokeStream(
    grpc::CallbackServerContext* context, const InvokeRequest* request) {
  auto* reactor = new InvokeStreamReactor(context, metrics_, activity_,
                                          replica_, max_payload_bytes_);
  const grpc::Status status = Check(context, *request);
  if (!status.ok()) {
    reactor->Refuse(status);
  } else {
    InvokeRequest copy;
    reactor->Start(pool_, WithRequestId(*request, &copy));
  }
  return reactor;
}

namespace {

// `Logs` refused before it starts.
class RefusedLogs final
    : public grpc::ServerWriteReactor<tether::v1::LogsResponse> {
 public:
  explicit RefusedLogs(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<tether::v1::LogsResponse>* InvokeService::Logs(
    grpc::CallbackServerContext* context,
    const tether::v1::LogsRequest* request) {
  if (grpc::Status token = CheckToken(context); !token.ok()) {
    return new RefusedLogs(token);
  }
  if (log_book_ == nullptr) {
    return new RefusedLogs(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                        "this agent keeps no log lines"));
  }
  return new LogsReactor(log_book_, *request);
}

}  // namespace tether::agent
