#include "agent/worker/call_handle.h"

namespace tether::agent {

void CallHandle::Cancel() {
  absl::MutexLock lock(&mu_);
  if (cancelled_ || done_) return;
  cancelled_ = true;
  if (target_ != nullptr) target_->CancelCall(id_);
}

void CallHandle::GrantCredit(uint32_t items) {
  absl::MutexLock lock(&mu_);
  if (target_ != nullptr && !cancelled_) target_->GrantCall(id_, items);
}

bool CallHandle::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void CallHandle::Attach(Target* target, uint64_t id) {
  absl::MutexLock lock(&mu_);
  if (done_) return;
  target_ = target;
  id_ = id;
  if (cancelled_) target_->CancelCall(id_);
}

void CallHandle::Detach() {
  absl::MutexLock lock(&mu_);
  target_ = nullptr;
  done_ = true;
}

}  // namespace tether::agent
