#include "controlplane/agent_gateway_service.h"

#include <deque>
#include <string>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "controlplane/authorization.h"
#include "controlplane/code/pull_code_session.h"
#include "controlplane/control_plane_metrics.h"
#include "controlplane/service_manager.h"

namespace tether::controlplane {
namespace {

using tether::v1::AgentCommand;
using tether::v1::AgentMessage;
using tether::v1::PullCodeResponse;

// Streams one revision; each write is produced when the previous one is
// done, so memory stays at one chunk.
class PullCodeReactor final
    : public grpc::ServerWriteReactor<PullCodeResponse> {
 public:
  PullCodeReactor(CodeStore* store, const tether::v1::PullCodeRequest& request)
      : session_(store, request) {
    absl::Status started = session_.Start();
    if (!started.ok()) {
      Finish(ToGrpcStatus(started));
      return;
    }
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "agent went away"));
      return;
    }
    WriteNext();
  }

  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    absl::StatusOr<bool> more = session_.Next(&response_);
    if (!more.ok()) {
      Finish(ToGrpcStatus(more.status()));
    } else if (*more) {
      StartWrite(&response_);
    } else {
      Finish(grpc::Status::OK);
    }
  }

  PullCodeSession session_;
  PullCodeResponse response_;
};

// Rejects a stream before it starts.
template <typename Reactor>
class RejectReactor final : public Reactor {
 public:
  explicit RejectReactor(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

// One agent's lifeline. Reads hello, then revision states; writes the
// commands the ServiceManager sends, one at a time.
class AgentGatewayService::AttachReactor final
    : public grpc::ServerBidiReactor<AgentMessage, AgentCommand>,
      public AgentConnection {
 public:
  AttachReactor(AgentGatewayService* service, std::string token)
      : service_(service),
        manager_(service->manager_),
        token_(std::move(token)) {
    {
      absl::MutexLock lock(&service_->mu_);
      service_->attached_.insert(this);
    }
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      manager_->DetachAgent(session_);
      FinishOnce(grpc::Status::OK);
      return;
    }
    if (session_ == 0) {
      if (!message_.has_hello()) {
        FinishOnce(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                "the first Attach message must be hello"));
        return;
      }
      absl::StatusOr<uint64_t> session =
          manager_->AttachAgent(message_.hello(), token_, this);
      if (!session.ok()) {
        FinishOnce(ToGrpcStatus(session.status()));
        return;
      }
      session_ = *session;
      service_->metrics_->AgentAttached();
    } else if (message_.has_revision_state()) {
      manager_->OnRevisionState(session_, message_.revision_state());
    }
    StartRead(&message_);
  }

  void Send(const AgentCommand& command) override {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    queue_.push_back(command);
    WriteNextLocked();
  }

  void FinishOnce(const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ok) WriteNextLocked();
  }

  void OnDone() override {
    manager_->DetachAgent(session_);
    if (session_ != 0) service_->metrics_->AgentDetached();
    {
      absl::MutexLock lock(&service_->mu_);
      service_->attached_.erase(this);
    }
    delete this;
  }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || queue_.empty()) return;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  AgentGatewayService* const service_;
  ServiceManager* const manager_;
  const std::string token_;
  // Only touched by the read callbacks, which gRPC serializes.
  uint64_t session_ = 0;
  AgentMessage message_;
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<AgentCommand> queue_ ABSL_GUARDED_BY(mu_);
  AgentCommand current_ ABSL_GUARDED_BY(mu_);
};

void AgentGatewayService::CloseAttachStreams() {
  absl::MutexLock lock(&mu_);
  for (AttachReactor* reactor : attached_) {
    reactor->FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                     "tetherd is shutting down"));
  }
}

grpc::ServerBidiReactor<AgentMessage, AgentCommand>*
AgentGatewayService::Attach(grpc::CallbackServerContext* context) {
  return new AttachReactor(this, BearerToken(*context));
}

grpc::ServerWriteReactor<PullCodeResponse>* AgentGatewayService::PullCode(
    grpc::CallbackServerContext* context,
    const tether::v1::PullCodeRequest* request) {
  const std::string token = BearerToken(*context);
  const absl::Status allowed =
      manager_->CheckAgentPull(token, request->revision());
  if (!allowed.ok()) {
    return new RejectReactor<grpc::ServerWriteReactor<PullCodeResponse>>(
        ToGrpcStatus(allowed));
  }
  // A base of another service's would make the deltas tell about its code.
  tether::v1::PullCodeRequest checked = *request;
  if (!checked.base_revision().empty() &&
      !manager_->CheckAgentPull(token, checked.base_revision()).ok()) {
    checked.clear_base_revision();
    checked.set_have_base(false);
  }
  return new PullCodeReactor(code_store_, checked);
}

}  // namespace tether::controlplane
