#include "agent/log_book.h"

#include <algorithm>
#include <utility>

#include "common/proto_time.h"

namespace tether::agent {

LogBook::LogBook(Options options) : options_(options) {}

size_t LogBook::SizeOf(const tether::v1::LogLine& line) {
  // Text dominates; the rest is a few short strings.
  return line.text().size() + line.request_id().size() + line.replica().size() +
         32;
}

void LogBook::Append(tether::v1::LogLine line) {
  std::vector<std::function<void()>> wake;
  {
    absl::MutexLock lock(&mu_);
    bytes_ += SizeOf(line);
    lines_.push_back(std::move(line));
    while (lines_.size() > options_.max_lines ||
           (bytes_ > options_.max_bytes && lines_.size() > 1)) {
      bytes_ -= SizeOf(lines_.front());
      lines_.pop_front();
      ++first_;
    }
    const uint64_t end = first_ + lines_.size();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.cursor < end) {
        wake.push_back(std::move(it->second.wake));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Outside the lock: a woken reader reads the book at once.
  for (auto& w : wake) w();
}

uint64_t LogBook::CursorAt(absl::Time since) const {
  absl::MutexLock lock(&mu_);
  if (since == absl::InfinitePast()) return first_;
  const google::protobuf::Timestamp stamp = ToProtoTimestamp(since);
  // Lines are appended in time order: the first not before `since`.
  auto it = std::partition_point(
      lines_.begin(), lines_.end(), [&](const tether::v1::LogLine& line) {
        return line.time().seconds() < stamp.seconds() ||
               (line.time().seconds() == stamp.seconds() &&
                line.time().nanos() < stamp.nanos());
      });
  return first_ + static_cast<uint64_t>(it - lines_.begin());
}

LogBook::Batch LogBook::Read(uint64_t cursor, size_t max) const {
  Batch batch;
  absl::MutexLock lock(&mu_);
  if (cursor < first_) {
    batch.dropped = first_ - cursor;
    cursor = first_;
  }
  const uint64_t end = first_ + lines_.size();
  while (cursor < end && batch.lines.size() < max) {
    batch.lines.push_back(lines_[cursor - first_]);
    ++cursor;
  }
  batch.next = cursor;
  return batch;
}

uint64_t LogBook::WakeAt(uint64_t cursor, std::function<void()> wake) {
  {
    absl::MutexLock lock(&mu_);
    if (cursor >= first_ + lines_.size()) {
      const uint64_t id = next_waiter_++;
      waiters_[id] = Waiter{cursor, std::move(wake)};
      return id;
    }
  }
  wake();
  return 0;
}

void LogBook::CancelWake(uint64_t id) {
  absl::MutexLock lock(&mu_);
  waiters_.erase(id);
}

}  // namespace tether::agent
