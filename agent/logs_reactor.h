#ifndef TETHER_AGENT_LOGS_REACTOR_H_
#define TETHER_AGENT_LOGS_REACTOR_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "tether/v1/call.pb.h"

namespace tether::agent {

class LogBook;

/// `Agent.Logs` for one caller: the kept lines of `book` from
/// `request.since` on (all kept lines when unset), then, with `follow`,
/// new lines as they come until the caller cancels.
///
/// Flow control: one write at a time, one line per write, and the book is
/// read again only when the previous write completed. The reactor holds at
/// most one line, so a slow reader never grows memory: the book overtakes
/// its cursor, and the lines it missed come as one `dropped` message before
/// the next line.
///
/// Lifetime: a follower waits with LogBook::WakeAt; a wake-up may still run
/// after CancelWake, so it reaches the reactor only through a shared guard
/// that OnDone closes (waiting for a wake-up in progress) before the reactor
/// deletes itself. Thread-safe; `book` must outlive the reactor.
class LogsReactor final
    : public grpc::ServerWriteReactor<tether::v1::LogsResponse> {
 public:
  /// Starts streaming at once.
  LogsReactor(LogBook* book, const tether::v1::LogsRequest& request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // What a wake-up may touch: the reactor while it is alive.
  struct Guard {
    absl::Mutex mu;
    LogsReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;
    // Wake-ups running Pump now; OnDone waits for them.
    int active ABSL_GUARDED_BY(mu) = 0;
  };

  // Writes the next message, finishes, or waits for a line. Takes mu_;
  // calls WakeAt outside it (a wake-up may run at once on this thread).
  void Pump() ABSL_LOCKS_EXCLUDED(mu_);
  static void Wake(const std::shared_ptr<Guard>& guard);

  LogBook* const book_;
  const bool follow_;
  const std::shared_ptr<Guard> guard_ = std::make_shared<Guard>();

  absl::Mutex mu_;
  uint64_t cursor_ ABSL_GUARDED_BY(mu_) = 0;
  // A line read after a drop, written after the `dropped` message.
  std::optional<tether::v1::LogLine> held_ ABSL_GUARDED_BY(mu_);
  // The message being written (gRPC holds a pointer until OnWriteDone).
  tether::v1::LogsResponse current_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // A WakeAt is registered and has not fired.
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;
  // The newest wake-up id (ids grow), cancelled in OnDone.
  uint64_t wake_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_LOGS_REACTOR_H_
