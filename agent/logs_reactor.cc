#include "agent/logs_reactor.h"

#include <algorithm>
#include <utility>

#include "absl/time/time.h"
#include "agent/log_book.h"

namespace tether::agent {

using ::tether::v1::LogsRequest;

LogsReactor::LogsReactor(LogBook* book, const LogsRequest& request)
    : book_(book), follow_(request.follow()) {
  absl::Time since = absl::InfinitePast();
  if (request.has_since()) {
    since = absl::FromUnixSeconds(request.since().seconds()) +
            absl::Nanoseconds(request.since().nanos());
  }
  {
    absl::MutexLock lock(&guard_->mu);
    guard_->reactor = this;
  }
  {
    absl::MutexLock lock(&mu_);
    cursor_ = book_->CursorAt(since);
  }
  Pump();
}

void LogsReactor::Wake(const std::shared_ptr<Guard>& guard) {
  LogsReactor* reactor = nullptr;
  {
    absl::MutexLock lock(&guard->mu);
    if (guard->reactor == nullptr) return;  // Done: a late wake-up.
    reactor = guard->reactor;
    ++guard->active;
  }
  {
    absl::MutexLock lock(&reactor->mu_);
    reactor->waiting_ = false;
  }
  reactor->Pump();
  absl::MutexLock lock(&guard->mu);
  --guard->active;
}

void LogsReactor::Pump() {
  uint64_t wait_at = 0;
  {
    absl::MutexLock lock(&mu_);
    if (writing_ || finished_ || waiting_) return;
    if (cancelled_) {
      finished_ = true;
      Finish(grpc::Status::CANCELLED);
      return;
    }
    if (!held_.has_value()) {
      LogBook::Batch batch = book_->Read(cursor_, 1);
      cursor_ = batch.next;
      if (!batch.lines.empty()) held_ = std::move(batch.lines.front());
      if (batch.dropped > 0) {
        current_.Clear();
        current_.mutable_dropped()->set_lines(batch.dropped);
        writing_ = true;
        StartWrite(&current_);
        return;
      }
    }
    if (held_.has_value()) {
      current_.Clear();
      *current_.mutable_line() = std::move(*held_);
      held_.reset();
      writing_ = true;
      StartWrite(&current_);
      return;
    }
    if (!follow_) {
      finished_ = true;
      Finish(grpc::Status::OK);
      return;
    }
    waiting_ = true;
    wait_at = cursor_;
  }
  // Outside mu_: the wake-up runs at once when a line already came.
  const uint64_t id = book_->WakeAt(wait_at, [guard = guard_] { Wake(guard); });
  absl::MutexLock lock(&mu_);
  wake_id_ = std::max(wake_id_, id);
}

void LogsReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    // The caller is gone; OnCancel follows (or came).
    if (!ok) cancelled_ = true;
  }
  Pump();
}

void LogsReactor::OnCancel() {
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    // A follower waiting for a line has no write to fail: finish now.
    waiting_ = false;
  }
  Pump();
}

void LogsReactor::OnDone() {
  {
    absl::MutexLock lock(&guard_->mu);
    guard_->reactor = nullptr;
    guard_->mu.Await(absl::Condition(
        +[](int* active) { return *active == 0; }, &guard_->active));
  }
  uint64_t id = 0;
  {
    absl::MutexLock lock(&mu_);
    id = wake_id_;
  }
  if (id != 0) book_->CancelWake(id);
  delete this;
}

}  // namespace tether::agent
