#include "controlplane/call_stream_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/call_metadata.h"
#include "common/grpc_status.h"
#include "controlplane/activator.h"
#include "controlplane/call_router.h"

namespace tether::controlplane {

CallStreamReactor::CallStreamReactor(grpc::CallbackServerContext* context,
                                     const tether::v1::CallRequest* request,
                                     CallRouter* router, Activator* activator,
                                     ControlPlaneMetrics* metrics,
                                     absl::Time deadline)
    : context_(context),
      request_(request),
      router_(router),
      activator_(activator),
      metrics_(metrics),
      start_(metrics->CallStarted(request->service())),
      deadline_(deadline) {
  activator_->Admit(
      request_->service(), deadline_,
      [this](std::optional<absl::Duration> woke_after) { Proceed(woke_after); },
      [this](const absl::Status& refused) {
        {
          absl::MutexLock lock(&mu_);
          FinishLocked(ToGrpcStatus(refused));
        }
        PartDone();
      });
}

void CallStreamReactor::Proceed(std::optional<absl::Duration> woke_after) {
  absl::StatusOr<CallRouter::StreamTarget> target =
      router_->ResolveStream(*request_);
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_ || !target.ok()) {
      activator_->CallEnded(request_->service());
      FinishLocked(cancelled_ ? grpc::Status::CANCELLED
                              : ToGrpcStatus(target.status()));
    } else {
      if (woke_after.has_value()) {
        context_->AddTrailingMetadata(
            kWokeAfterMetadata,
            absl::StrCat(absl::ToInt64Milliseconds(*woke_after)));
      }
      endpoint_ = std::move(target->endpoint);
      invoke_ = std::move(target->invoke);
      if (deadline_ < absl::InfiniteFuture()) {
        agent_context_.set_deadline(absl::ToChronoTime(deadline_));
      }
      agent_context_.AddMetadata("authorization", target->authorization);
      endpoint_->in_flight++;
      agent_started_ = true;
      ++parts_;
    }
  }
  if (endpoint_ != nullptr) {
    endpoint_->stub->async()->InvokeStream(&agent_context_, &invoke_, &agent_);
    agent_.StartRead(&event_);
    agent_.StartCall();
  }
  PartDone();  // The admission.
}

void CallStreamReactor::AgentStream::OnReadDone(bool ok) {
  // At the end of the stream OnDone follows with its status.
  if (!ok) return;
  absl::MutexLock lock(&relay_->mu_);
  if (relay_->finished_) return;
  relay_->writing_ = true;
  relay_->StartWrite(&relay_->event_);
}

void CallStreamReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (pending_finish_.has_value()) {
      finished_ = true;
      Finish(*pending_finish_);
      return;
    }
    if (!ok) {
      // The caller is gone: stop the generator.
      agent_context_.TryCancel();
      return;
    }
    // Only now the next event: a slow caller pauses the agent. Under mu_:
    // with no read pending, the agent's status can end its stream (OnDone)
    // right after the last item, and a read then would touch a freed call.
    if (!agent_done_) agent_.StartRead(&event_);
  }
}

void CallStreamReactor::AgentStream::OnDone(const grpc::Status& status) {
  relay_->endpoint_->in_flight--;
  relay_->activator_->CallEnded(relay_->request_->service());
  {
    absl::MutexLock lock(&relay_->mu_);
    relay_->agent_done_ = true;
    relay_->FinishLocked(status);
  }
  relay_->PartDone();
}

void CallStreamReactor::OnCancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (agent_started_) {
    // Its OnDone finishes the caller's stream.
    agent_context_.TryCancel();
  } else {
    FinishLocked(grpc::Status::CANCELLED);
  }
}

void CallStreamReactor::OnDone() { PartDone(); }

void CallStreamReactor::FinishLocked(const grpc::Status& status) {
  if (finished_ || pending_finish_.has_value()) return;
  metrics_->CallFinished(request_->service(), start_,
                         static_cast<absl::StatusCode>(status.error_code()));
  if (writing_) {
    pending_finish_ = status;
    return;
  }
  finished_ = true;
  Finish(status);
}

void CallStreamReactor::PartDone() {
  bool last;
  {
    absl::MutexLock lock(&mu_);
    last = --parts_ == 0;
  }
  if (last) delete this;
}

}  // namespace tether::controlplane
