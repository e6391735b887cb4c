#ifndef TETHER_AGENT_WORKER_ZYGOTE_PROCESS_H_
#define TETHER_AGENT_WORKER_ZYGOTE_PROCESS_H_

// A Python zygote: a tether_runner.pyz process that imported a service's
// `preload` modules once and forks workers from that state on request, so
// reloading a revision costs a fork instead of `import torch`.

#include <sys/types.h>

#include <cstdint>
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
#include "agent/worker/frame_io.h"
#include "common/clock.h"
#include "tether/v1/worker.pb.h"

namespace tether::agent {

/// Owns one zygote process (protocol: ZygoteRequest/ZygoteResponse in
/// proto/tether/v1/worker.proto, Python side in
/// agent/python/_tether_runner/zygote.py).
///
/// Process tree: agent → zygote → workers. The zygote runs in its own
/// process group with PR_SET_PDEATHSIG=SIGKILL from this object's I/O
/// thread (which lives exactly as long as the zygote); each worker runs in
/// its own process group with PDEATHSIG from the (single-threaded) zygote.
/// So kill -9 of the agent takes the zygote and then every worker with it.
///
/// The workers are the zygote's children, not the agent's: the zygote reaps
/// them, kills what they left in their process groups, and reports each
/// exit with its wait status (WaitExit). The agent watches a worker through
/// the pidfd that comes with Fork and signals its group through the zygote
/// (Signal), which only signals pids it has not reaped yet, so a signal
/// never reaches a recycled pid.
///
/// The zygote must outlive its workers (they die with it): holders of a
/// forked worker keep a shared_ptr to its zygote. Destruction closes the
/// zygote's socket (it then kills any workers left and exits), SIGKILLs it
/// after stop_grace, and returns once it is reaped.
///
/// Thread-safe.
class ZygoteProcess {
 public:
  struct Options {
    /// Interpreter and runner, as for WorkerProcess.
    std::string python = "/usr/bin/python3";
    /// Empty: FindDataFile("agent/python/tether_runner.pyz").
    std::string runner_path;
    /// Revision directory the preload imports resolve against (cwd and
    /// sys.path[0] while importing, as in a worker). Forked workers drop the
    /// modules imported from under it before loading their own revision.
    std::string root;
    /// Modules to import, in order (may be empty: the zygote then saves
    /// each worker only the interpreter start).
    std::vector<std::string> preload;
    /// Set in the zygote (and so in its workers) over the agent's own
    /// environment.
    std::vector<std::pair<std::string, std::string>> env;
    /// Passed on to forked workers (their frame limit).
    uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
    /// Importing the preload modules longer than this fails Start.
    absl::Duration preload_timeout = absl::Minutes(10);
    /// Fork answers slower than this fail with DEADLINE_EXCEEDED.
    absl::Duration request_timeout = absl::Seconds(30);
    /// After the socket is closed on destruction: time to exit before
    /// SIGKILL.
    absl::Duration stop_grace = absl::Seconds(5);
    /// Time for the timeouts above. Not owned; never null.
    Clock* clock = Clock::Real();
  };

  /// A worker forked by the zygote. The caller owns both fds.
  struct Forked {
    pid_t pid = -1;
    /// The agent's end of the worker's socket (stream, close-on-exec); the
    /// worker speaks the WorkerRequest/WorkerResponse protocol on it.
    int sock = -1;
    /// pidfd of the worker: readable once it has exited.
    int pidfd = -1;
  };

  /// Starts a zygote and waits until it has imported the preload modules.
  /// Errors: FAILED_PRECONDITION when an import raised or the zygote died
  /// while importing (the message has the remote error type, message and
  /// traceback, as a worker's load error would); UNIMPLEMENTED when this
  /// interpreter or kernel cannot run a zygote (no fork/pidfd support; the
  /// caller should start workers directly instead); DEADLINE_EXCEEDED after
  /// preload_timeout; NOT_FOUND without a runner; spawn errors.
  static absl::StatusOr<std::shared_ptr<ZygoteProcess>> Start(Options options);

  ZygoteProcess(const ZygoteProcess&) = delete;
  ZygoteProcess& operator=(const ZygoteProcess&) = delete;
  ~ZygoteProcess();

  /// Forks a worker. UNAVAILABLE when the zygote has exited,
  /// DEADLINE_EXCEEDED after request_timeout, INTERNAL when the zygote
  /// answered with an error, the socketpair errno status.
  absl::StatusOr<Forked> Fork();

  /// Asks the zygote to send `sig` to worker `pid`'s process group (or to
  /// the worker alone if it left the group). Does not wait. False when the
  /// zygote is gone: then signal the worker through its pidfd instead.
  bool Signal(pid_t pid, int sig);

  /// Blocks until the zygote reported that worker `pid` exited and returns
  /// its wait status (each exit can be collected once). UNAVAILABLE when
  /// the zygote is gone (the worker then died by PDEATHSIG and its status
  /// is lost); DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<int> WaitExit(pid_t pid, absl::Duration timeout);

  /// False once the zygote process has exited.
  bool alive() const;
  pid_t pid() const { return pid_; }
  /// How long the preload imports took inside the zygote.
  absl::Duration import_time() const { return import_time_; }

 private:
  struct Reply {
    bool done = false;
    absl::Status status;
    tether::v1::ZygoteResponse response;
    int fd = -1;  // An fd that came with the response, now owned here.
  };

  explicit ZygoteProcess(Options options);

  // Start's steps. StartProcess starts the process (on the I/O thread) and
  // waits until it runs; UNIMPLEMENTED without pidfd.
  absl::Status StartProcess() ABSL_LOCKS_EXCLUDED(mu_);
  // Has the zygote import the preload modules and waits until it has.
  absl::Status Preload() ABSL_LOCKS_EXCLUDED(mu_);
  // Start's error for a preload request that got no answer.
  absl::Status PreloadCallError(const absl::Status& status,
                                const std::string& modules) const;
  // Start's outcome from the zygote's answer to the preload request.
  absl::Status OnPreloaded(const tether::v1::ZygoteResponse& response,
                           const std::string& modules);

  // Sends `request` (with `fd` attached unless -1) and waits for the reply.
  // The returned Reply owns its fd.
  absl::StatusOr<Reply> Call(tether::v1::ZygoteRequest request, int fd,
                             absl::Duration timeout);
  // `flags` are added to sendmsg's (MSG_DONTWAIT).
  absl::Status Send(const tether::v1::ZygoteRequest& request, int fd,
                    int flags = 0);

  // I/O thread.
  void Run();
  // Spawns the zygote process; false (and exited) when it cannot.
  bool SpawnZygote() ABSL_LOCKS_EXCLUDED(mu_);
  // Polls the socket and the pidfd until the zygote exits; returns whether
  // the socket is still worth reading.
  bool WatchUntilExit() ABSL_LOCKS_EXCLUDED(mu_);
  // Sends SIGKILL once a stop's grace period is over; returns when that is
  // due (InfiniteFuture: not stopping, or sent).
  absl::Time KillWhenDue(bool& kill_sent) ABSL_LOCKS_EXCLUDED(mu_);
  // Records the exit (`how`: "signal 9") and fails the calls waiting.
  void MarkExited(const std::string& how) ABSL_LOCKS_EXCLUDED(mu_);
  // Reads every packet available; false at end of stream or on a protocol
  // error (then the zygote is killed).
  bool ReceiveAll();
  void Dispatch(const tether::v1::ZygoteResponse& response, int fd);
  void Wake();

  const Options options_;
  std::string runner_;
  std::string label_;  // For messages: "zygote process 123 (preload: a, b)".

  // Set by the I/O thread before Start goes on; read-only afterwards.
  pid_t pid_ = -1;
  int sock_ = -1;
  int pidfd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  absl::Duration import_time_;        // Set by Start before it returns.
  std::vector<char> receive_buffer_;  // I/O thread only.

  mutable absl::Mutex mu_;
  bool spawned_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status spawn_status_ ABSL_GUARDED_BY(mu_);
  bool exited_ ABSL_GUARDED_BY(mu_) = false;
  std::string exit_reason_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time kill_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Callers waiting in Call, by request id.
  absl::flat_hash_map<uint64_t, Reply*> pending_ ABSL_GUARDED_BY(mu_);
  // Exit reports not collected by WaitExit yet: pid -> wait status.
  absl::flat_hash_map<pid_t, int> exits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_WORKER_ZYGOTE_PROCESS_H_
