#ifndef TETHER_AGENT_WORKER_WORKER_PROCESS_H_
#define TETHER_AGENT_WORKER_WORKER_PROCESS_H_

// One worker child process running user code (the Python runner or the
// native worker), and the calls in flight on it.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/worker/call_handle.h"
#include "agent/worker/frame_io.h"
#include "agent/worker/zygote_process.h"
#include "common/clock.h"
#include "tether/v1/call.pb.h"
#include "tether/v1/service.pb.h"
#include "tether/v1/worker.pb.h"

namespace tether::agent {

/// Owns one worker process: spawns it, loads the callable, runs calls on it
/// (pipelined: the worker answers them one at a time), and stops it.
///
/// The process runs in its own process group with PR_SET_PDEATHSIG=SIGKILL,
/// so it dies with the agent; it sees only stdin=/dev/null, the agent's
/// stdout/stderr and its socket on fd 3 (every other fd is closed on exec).
/// One I/O thread per worker forks it (PDEATHSIG follows the forking
/// thread, and this one lives exactly as long as the process), reads its
/// responses, completes calls, enforces the load, drain and stop deadlines,
/// and is the only thread that signals or reaps the process, so a signal
/// can never hit a recycled pid.
///
/// With Options::zygote the process is forked by that zygote instead (same
/// group and PDEATHSIG rules, one level down): the zygote is its parent and
/// reaps it, this object watches it through a pidfd and signals it through
/// the zygote (ZygoteProcess). The protocol on the socket is the same.
///
/// When the process exits for any reason, every outstanding call fails with
/// ABORTED ("worker process 123 exited (signal 9) during the call") and
/// Options::on_exit reports it.
///
/// A call can be cancelled through its CallHandle: a Python worker is sent
/// `cancel` and interrupts the user code (the call ends CANCELLED); one that
/// has not answered within Options::cancel_grace (stuck in C code) is
/// killed, and so is a native worker at once, as native code cannot be
/// interrupted safely. Killed workers fail their calls ABORTED and report a
/// non-OK exit, so a WorkerPool replaces them.
///
/// Thread-safe. Call completions run on the I/O thread (or, for calls
/// refused up front, on the caller's thread): keep them short and never
/// destroy the WorkerProcess from one.
class WorkerProcess final : private CallHandle::Target {
 public:
  /// Completion of one call: the CallResult (a payload, or the RemoteError
  /// user code raised, plus captured output) or a status:
  /// INVALID_ARGUMENT (payload cannot be decoded), RESOURCE_EXHAUSTED
  /// (request or result over the frame limit), UNAVAILABLE (the worker is
  /// not serving: loading, draining, stopped), ABORTED (the worker exited
  /// during the call), INTERNAL (protocol violation).
  /// CANCELLED when the call was cancelled and stopped.
  using Done = std::function<void(absl::StatusOr<tether::v1::CallResult>)>;

  /// One call: its completion and, optionally, what it streams before it.
  /// The callbacks run on the I/O thread, in the order the worker sent
  /// them, all before `done`; keep them short and non-blocking.
  struct Call {
    Done done;
    /// > 0: a streamed call (InvokeStream): the worker may send this many
    /// items before the caller grants more (CallHandle::GrantCredit).
    uint32_t stream_credit = 0;
    /// Each item a streamed call's generator yields.
    std::function<void(std::string item)> on_item;
    /// Each line the call prints, as it prints it (calls with `logs` set).
    std::function<void(tether::v1::LogLine line)> on_log;
    /// Optional: lets the caller cancel the call and grant credit.
    std::shared_ptr<CallHandle> handle;
  };

  struct Options {
    /// RUNTIME_PYTHON (or UNSPECIFIED) runs `python runner_path`;
    /// RUNTIME_NATIVE runs `native_worker_path`.
    tether::v1::Runtime runtime = tether::v1::RUNTIME_PYTHON;
    /// What to load. `root` is the revision directory (absolute); the
    /// worker chdirs there. Native: `module` is the library path inside it.
    tether::v1::LoadCallable load;
    /// Interpreter for the Python runtime.
    std::string python = "/usr/bin/python3";
    /// Empty: FindDataFile("agent/python/tether_runner.pyz").
    std::string runner_path;
    /// Empty: FindDataFile("agent/native/tether-native-worker").
    std::string native_worker_path;
    /// Set in the worker on top of the agent's own environment (these win).
    /// Ignored with a zygote (the zygote's environment is the worker's).
    std::vector<std::pair<std::string, std::string>> env;
    /// Python only: fork the worker from this zygote rather than starting
    /// `python runner_path`. Kept alive as long as the worker (the worker
    /// dies with it).
    std::shared_ptr<ZygoteProcess> zygote;
    /// Loading longer than this kills the worker (DEADLINE_EXCEEDED). Heavy
    /// imports (torch) take tens of seconds, hence the generous default.
    absl::Duration load_timeout = absl::Minutes(10);
    /// After Stop: time to exit after SIGTERM before SIGKILL.
    absl::Duration stop_grace = absl::Seconds(5);
    /// After Drain: calls still running after this are cut off (ABORTED).
    absl::Duration drain_timeout = absl::Minutes(10);
    /// Limit on request and response frames (the worker is told too).
    uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
    /// After a cancel: time a Python call has to stop before the worker is
    /// killed.
    absl::Duration cancel_grace = absl::Seconds(2);
    /// Time for the load, drain, stop and cancel deadlines. Not owned;
    /// never null.
    Clock* clock = Clock::Real();
    /// Optional: sees every line the worker prints, on the I/O thread: live
    /// for calls with `logs` set, at the call's end for the others (from
    /// CallResult.logs), and lines printed outside calls (at import, by
    /// background threads; empty request_id). Must not block: it runs on
    /// the thread that reads every frame of this worker. `replica` is left
    /// empty.
    std::function<void(const tether::v1::LogLine&)> on_log;
    /// Called once on the I/O thread after the process was reaped and its
    /// outstanding calls failed. OK when it exited because Drain or Stop
    /// asked it to; otherwise why: ABORTED with the exit status, or the load
    /// failure. Must not block long or destroy this WorkerProcess.
    std::function<void(const absl::Status&)> on_exit;
  };

  /// Starts the process and sends it the load request without waiting for
  /// the outcome (see WaitLoaded). Errors: NOT_FOUND (runner or worker
  /// binary missing), the errno status of socketpair/fork/exec, or
  /// ZygoteProcess::Fork's error.
  static absl::StatusOr<std::unique_ptr<WorkerProcess>> Spawn(Options options);

  /// Spawn, then WaitLoaded: returns a serving worker or the load error.
  static absl::StatusOr<std::unique_ptr<WorkerProcess>> Create(Options options);

  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  /// Stop(): never leaves a thread or a zombie behind.
  ~WorkerProcess();

  /// Blocks until the load finished. FAILED_PRECONDITION when the callable
  /// could not be loaded (the message has the remote error type, message
  /// and traceback) or the process died while loading; DEADLINE_EXCEEDED
  /// after load_timeout; ABORTED when stopped first. On error the process
  /// is stopped.
  absl::Status WaitLoaded();

  /// Sends one call; `done` runs exactly once. Never blocks on the worker:
  /// when the socket buffer is full the frame is queued for the I/O thread.
  void Invoke(const tether::v1::InvokeRequest& request, Done done);
  void Invoke(const tether::v1::InvokeRequest& request, Call call);

  /// Invoke, except that a call refused up front (UNAVAILABLE: not serving;
  /// RESOURCE_EXHAUSTED: request too large) returns the status and leaves
  /// `call` untouched, so the caller can try another worker.
  absl::Status TryInvoke(const tether::v1::InvokeRequest& request, Call& call);

  /// Refuses new calls, lets the outstanding ones finish (up to
  /// drain_timeout), then stops the process. Returns at once.
  void Drain();

  /// Refuses new calls and closes the socket (an idle worker exits on
  /// that), sends SIGTERM to the process group (at once when calls are
  /// outstanding, else after min(stop_grace, 1s)), SIGKILL stop_grace
  /// later. Outstanding calls fail with ABORTED. Returns at once; the
  /// destructor waits.
  void StopAsync();

  /// StopAsync, then waits until the process is reaped and the I/O thread
  /// has ended (at most about stop_grace).
  void Stop();

  /// Loaded and accepting calls.
  bool serving() const { return serving_.load(std::memory_order_acquire); }
  /// Calls sent and not yet completed.
  int outstanding() const {
    return outstanding_.load(std::memory_order_relaxed);
  }
  /// The worker's pid (also its process group id).
  pid_t pid() const { return pid_; }
  /// The Python version it reported when it loaded ("3.11.2"); empty
  /// before then and for native workers.
  std::string python_version() const;

 private:
  enum class State {
    kSpawning,
    kLoading,
    kServing,
    kDraining,
    kStopping,
    kExited,
  };

  // A call sent and not completed. The stream callbacks are shared so the
  // I/O thread can run them without holding mu_.
  struct Pending {
    Done done;
    std::shared_ptr<const Call> events;  // Null without stream callbacks.
    std::shared_ptr<CallHandle> handle;
    std::string request_id;
    // Cancel was sent; the worker is killed if the call is still here then.
    absl::Time cancel_deadline = absl::InfiniteFuture();
  };

  explicit WorkerProcess(Options options);

  // CallHandle::Target, any thread.
  void CancelCall(uint64_t id) override ABSL_LOCKS_EXCLUDED(mu_);
  void GrantCall(uint64_t id, uint32_t items) override;

  // I/O thread.
  // Takes a live log line or item of call `id`.
  void DispatchStreamed(tether::v1::WorkerResponse& response);
  // Completes call `id` with `outcome` and detaches its handle.
  void Complete(const Pending& pending,
                absl::StatusOr<tether::v1::CallResult> outcome);
  void Run();
  absl::Status SpawnChild();
  // Publishes SpawnChild's outcome to Spawn; false when it failed.
  bool RecordSpawn(const absl::Status& spawned) ABSL_LOCKS_EXCLUDED(mu_);
  void SendLoadRequest();
  // Reads, writes and applies deadlines until the worker is gone (or, with
  // no pidfd, its socket is); returns whether the pidfd reported its exit.
  bool ServeUntilExit() ABSL_LOCKS_EXCLUDED(mu_);
  // Dispatches the frames already read; false on a framing error (the
  // worker is then killed).
  bool DispatchBuffered(FrameReader& reader) ABSL_LOCKS_EXCLUDED(mu_);
  // Handles poll's events on the socket; false once nothing more will be
  // read from it.
  bool HandleSocketEvents(short revents, FrameReader& reader, bool child_exited)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Signals the worker's process group.
  void SignalWorker(int sig);
  void Dispatch(absl::string_view frame);
  void HandleLoadResponse(tether::v1::WorkerResponse& response);
  // Applies deadlines and pending stop requests; returns the next deadline
  // (InfiniteFuture: none).
  absl::Time Tick();
  void FlushWriteQueue();
  void Reap(bool child_exited);
  // Waits for a direct child's exit and reaps it; returns how it ended ("signal
  // 9").
  std::string ReapChild(bool child_exited);
  // Fails what was in flight and reports the exit (`how`: "signal 9").
  void FinishExit(const std::string& how);
  void BeginStopLocked(absl::Status reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Protocol violations: SIGKILL at once, calls fail with `note`.
  void KillNowLocked(absl::string_view note) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // SIGKILL at once with `reason` as the exit status.
  void KillLocked(absl::Status reason, absl::string_view note)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The worker closed its socket: give it stop_grace to exit by itself.
  void OnSocketClosedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Any thread.
  void Send(std::string frame);
  void Wake();

  const Options options_;
  std::string executable_;
  std::vector<std::string> argv_;
  std::string label_;  // "module.name", for messages.

  // Set by the I/O thread before Spawn returns; read-only afterwards.
  pid_t pid_ = -1;
  int sock_ = -1;
  int pidfd_ = -1;  // -1 on kernels without pidfd_open (never with a zygote).
  int wake_fd_ = -1;
  std::thread thread_;

  std::atomic<bool> serving_{false};
  std::atomic<int> outstanding_{0};

  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kSpawning;
  bool spawned_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status spawn_status_ ABSL_GUARDED_BY(mu_);
  bool load_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status load_status_ ABSL_GUARDED_BY(mu_);
  std::string python_version_ ABSL_GUARDED_BY(mu_);
  absl::Time load_deadline_ ABSL_GUARDED_BY(mu_);
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // Why the process is being stopped: OK when asked to (Drain/Stop).
  absl::Status stop_reason_ ABSL_GUARDED_BY(mu_);
  // Appended to the ABORTED message of calls cut off by the stop.
  std::string stop_note_ ABSL_GUARDED_BY(mu_);
  // Stop sequence: shut down our write side (an idle runner exits 0 on
  // EOF), SIGTERM at term_deadline_, SIGKILL at kill_deadline_.
  bool eof_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool term_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool kill_sent_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time term_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time kill_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  uint64_t next_id_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  // Pending calls with a cancel_deadline (Tick scans only when > 0).
  int cancelling_ ABSL_GUARDED_BY(mu_) = 0;

  // Frames (or a frame's tail) the socket had no room for; flushed by the
  // I/O thread when the socket is writable.
  absl::Mutex write_mu_;  // Never held together with mu_.
  std::deque<std::string> write_queue_ ABSL_GUARDED_BY(write_mu_);
  // Bytes of write_queue_.front() already sent.
  size_t write_offset_ ABSL_GUARDED_BY(write_mu_) = 0;
  // !write_queue_.empty(), readable without the lock by the I/O thread.
  std::atomic<bool> write_pending_{false};
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_WORKER_WORKER_PROCESS_H_
