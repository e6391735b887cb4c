#ifndef TETHER_AGENT_WORKER_WORKER_POOL_H_
#define TETHER_AGENT_WORKER_WORKER_POOL_H_

// The worker processes of one replica: loads revisions by warm swap, spreads
// calls over workers, restarts the ones that die. Python workers are forked
// from a zygote that imported the preload modules once.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/worker/frame_io.h"
#include "agent/worker/worker_process.h"
#include "agent/worker/zygote_process.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "tether/v1/call.pb.h"
#include "tether/v1/service.pb.h"
#include "tether/v1/worker.pb.h"

namespace tether::agent {

/// What one generation of workers runs.
struct WorkerConfig {
  tether::v1::Runtime runtime = tether::v1::RUNTIME_PYTHON;
  /// Absolute path of the revision's code root; becomes `load.root`.
  std::string revision_dir;
  /// module, name, init_json ({"args": [...], "kwargs": {...}}), preload.
  /// `root` is ignored (revision_dir wins).
  tether::v1::LoadCallable load;
  /// Worker processes; 0 means 1.
  int workers = 1;
  /// Extra environment for the workers (over the agent's own).
  std::vector<std::pair<std::string, std::string>> env;
};

/// Runs calls on a generation of worker processes and swaps generations
/// without dropping calls: Load starts the new workers, waits until all of
/// them have loaded, switches new calls to them, and drains the old ones in
/// the background (their in-flight calls finish, then they stop). A failed
/// Load leaves the serving generation untouched.
///
/// A worker that dies is restarted on its generation's config after a
/// capped exponential backoff; its in-flight calls fail with ABORTED.
///
/// Python workers are forked from a zygote (ZygoteProcess) that imported
/// `load.preload` once; one zygote serves every revision with the same
/// interpreter, preload list and environment, so a reload pays a fork and
/// the user's own imports only. A new preload list (or environment) starts
/// a new zygote; an old one goes when its last worker has drained. The pool
/// keeps the zygotes of the serving generation and of the last Load (so a
/// deploy retried after a broken callable does not import again). A dead
/// zygote is replaced when a worker next needs one.
///
/// Thread-safe: Invoke from any number of threads; Load calls are
/// serialized (one waits for the other). Must not be destroyed while a Load
/// or Invoke is running. Destruction stops every worker (outstanding calls
/// fail with ABORTED) and returns after they are reaped.
class WorkerPool {
 public:
  using Done = WorkerProcess::Done;

  struct Options {
    /// Python interpreter; overridable for images with Python elsewhere.
    std::string python = "/usr/bin/python3";
    /// Empty: found with FindDataFile (see WorkerProcess::Options).
    std::string runner_path;
    std::string native_worker_path;
    /// See WorkerProcess::Options.
    absl::Duration load_timeout = absl::Minutes(10);
    absl::Duration stop_grace = absl::Seconds(5);
    absl::Duration drain_timeout = absl::Minutes(10);
    uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
    /// Fork Python workers from a zygote (see the class comment). False
    /// starts each one from scratch, as happens anyway when the interpreter
    /// cannot run a zygote. The zygote's imports count against
    /// load_timeout on their own.
    bool zygote = true;
    /// Restart delay after a death: 100 ms, doubling per consecutive death
    /// up to 10 s; a worker that ran at least a minute before dying counts
    /// as healthy and its slot's backoff starts over.
    Backoff::Options restart_backoff = {
        /*initial=*/absl::Milliseconds(100), /*max=*/absl::Seconds(10),
        /*multiplier=*/2, /*jitter=*/0, /*reset_after=*/absl::Minutes(1)};
    /// Time for the restart backoff (workers keep their own deadlines on
    /// the real clock). Not owned; never null.
    Clock* clock = Clock::Real();
    /// After a cancel, time a Python call has to stop before its worker is
    /// killed and replaced (WorkerProcess::Options::cancel_grace).
    absl::Duration cancel_grace = absl::Seconds(2);
    /// Optional: sees every line every worker prints, with the call's
    /// request id (live for calls with `logs` set, at the call's end for
    /// the others) or none (outside calls: at import, background threads).
    /// Runs on the worker's reading thread, which also carries its calls:
    /// it must be cheap and must not block (hand the line off to a bounded
    /// queue). `replica` is left empty.
    std::function<void(const tether::v1::LogLine&)> on_log;
  };

  /// Starts the supervisor thread; workers start with the first Load.
  /// INVALID_ARGUMENT for nonsensical options.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Create(Options options);

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool();

  /// Starts `config.workers` workers on `config`, waits until they have all
  /// loaded (they load in parallel), then makes them the serving generation
  /// and drains the previous one. Errors, with the serving generation left
  /// as it was: INVALID_ARGUMENT / NOT_FOUND for a bad config,
  /// FAILED_PRECONDITION when the callable or a preload module cannot be
  /// loaded (the message carries the remote error type, message and
  /// traceback), DEADLINE_EXCEEDED after load_timeout, or the spawn error.
  absl::Status Load(const WorkerConfig& config);

  /// Runs one call on the serving generation's worker with the fewest
  /// outstanding calls; `done` runs exactly once, possibly on this thread.
  /// UNAVAILABLE when nothing has loaded yet ("no workers loaded yet") or
  /// every worker is restarting; otherwise as WorkerProcess::Done.
  void Invoke(const tether::v1::InvokeRequest& request, Done done);
  /// Invoke with stream callbacks and a CallHandle (WorkerProcess::Call);
  /// a call the pool refuses completes with `call.done` only.
  void Invoke(const tether::v1::InvokeRequest& request,
              WorkerProcess::Call call);

  /// The serving generation's revision dir; empty before the first Load.
  std::string ServingRevisionDir() const;

  /// Revision dirs that workers run from: the serving generation's, those
  /// still draining and one being loaded. Their files must stay.
  std::vector<std::string> RevisionDirsInUse() const;

  /// Pids of the serving generation's loaded workers.
  std::vector<pid_t> ServingPids() const;

  /// The Python version the serving generation's workers reported on load
  /// ("3.11.2"); empty for native workers and before the first Load.
  std::string ServingPythonVersion() const;

  /// Workers started to replace dead ones, since creation.
  int64_t restarts() const;

  /// Pid of the zygote the serving generation's workers are forked from;
  /// -1 when they are not (native, no zygote, nothing loaded).
  pid_t ServingZygotePid() const;

 private:
  struct Slot {
    explicit Slot(const Backoff::Options& backoff) : backoff(backoff) {}

    // Null while the slot waits for a restart.
    std::shared_ptr<WorkerProcess> worker;
    // Matches exit reports to the worker they are about.
    uint64_t spawn_id = 0;
    absl::Time started;
    // Grows with consecutive deaths of short-lived workers.
    Backoff backoff;
    absl::Time restart_at = absl::InfiniteFuture();
    // Why the last worker in this slot died.
    absl::Status last_exit;
    // Died before Load switched to its generation; Load restarts it.
    bool exited_early = false;
  };
  struct Generation {
    uint64_t id = 0;
    std::string revision_dir;
    // worker_options.zygote is replaced when that zygote dies.
    WorkerProcess::Options worker_options;  // on_exit is set per spawn.
    // Empty without a zygote; else its cache key and how to start another.
    std::string zygote_key;
    ZygoteProcess::Options zygote_options;
    std::vector<Slot> slots;
    bool installed = false;  // Load switched to it (it may be draining now).
  };
  struct ExitReport {
    uint64_t generation;
    size_t slot;
    uint64_t spawn_id;
    absl::Status status;
  };

  explicit WorkerPool(Options options);

  // Load's steps, in order.
  // A generation of `count` slots for `config`, with its zygote when it
  // uses one (blocks while a new zygote imports).
  absl::StatusOr<std::unique_ptr<Generation>> NewGeneration(
      const WorkerConfig& config, size_t count)
      ABSL_LOCKS_EXCLUDED(zygote_mu_, mu_);
  // Sets generation.zygote_options and, when a zygote can run them, the
  // zygote workers fork from. Errors other than UNIMPLEMENTED fail the load.
  absl::Status AttachZygote(const WorkerConfig& config, Generation& generation)
      ABSL_LOCKS_EXCLUDED(zygote_mu_, mu_);
  // Gives `generation` its id and its slots their spawn ids (returned), and
  // registers it so exit reports find it.
  std::vector<uint64_t> RegisterGeneration(
      std::unique_ptr<Generation> generation) ABSL_LOCKS_EXCLUDED(mu_);
  // Spawns a worker per slot, then waits for each to load, so they load in
  // parallel. Stops at the first error; `started` holds those spawned.
  absl::Status StartWorkers(
      const Generation& generation, const std::vector<uint64_t>& spawn_ids,
      std::vector<std::shared_ptr<WorkerProcess>>* started)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A load failed: stops its workers and forgets generation `id`, leaving
  // the serving one as it was.
  void DiscardGeneration(uint64_t id, const std::string& zygote_key,
                         std::vector<std::shared_ptr<WorkerProcess>> started)
      ABSL_LOCKS_EXCLUDED(zygote_mu_, mu_);
  // Makes `next` (its workers loaded in `started`) the serving generation;
  // returns the previous generation's workers, to be drained outside mu_.
  std::vector<std::shared_ptr<WorkerProcess>> InstallLocked(
      Generation& next, std::vector<std::shared_ptr<WorkerProcess>>& started)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LogLoadFailure(const WorkerConfig& config, const absl::Status& status)
      ABSL_LOCKS_EXCLUDED(mu_);

  WorkerProcess::Options OptionsFor(const Generation& generation, size_t slot,
                                    uint64_t spawn_id);
  void Supervise();
  // Applies the exit reports. True when it released mu_ meanwhile (to let
  // dead workers go), so the caller must look at the state again.
  bool HandleExitsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The serving generation's slot whose restart is due, if any; else
  // `next_due` is when the next one is.
  std::optional<size_t> DueSlotLocked(absl::Time* next_due)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts a replacement worker in the serving generation's slot `index`;
  // releases mu_ while it (and maybe a new zygote) starts.
  void RestartSlotLocked(size_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts the replacement from RestartSlotLocked in its slot, or stops it
  // when a Load replaced the generation meanwhile.
  void AdoptRestartedLocked(
      uint64_t generation_id, size_t index, uint64_t spawn_id,
      const std::shared_ptr<ZygoteProcess>& zygote,
      absl::StatusOr<std::unique_ptr<WorkerProcess>> worker)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleExitLocked(const ExitReport& report,
                        std::vector<std::shared_ptr<WorkerProcess>>* dead)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleRestartLocked(Slot& slot, absl::Status why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A live zygote for `key`: the cached one, or a new one started with
  // `options`. Blocks while a new one imports.
  absl::StatusOr<std::shared_ptr<ZygoteProcess>> ZygoteFor(
      const std::string& key, const ZygoteProcess::Options& options)
      ABSL_LOCKS_EXCLUDED(zygote_mu_, mu_);
  // Spawns a replacement worker; first replaces options.zygote if it died.
  absl::StatusOr<std::unique_ptr<WorkerProcess>> Respawn(
      WorkerProcess::Options& options, const std::string& zygote_key,
      const ZygoteProcess::Options& zygote_options)
      ABSL_LOCKS_EXCLUDED(zygote_mu_, mu_);
  // Drops cached zygotes other than these (they live on while their
  // workers do).
  void PruneZygotes(const std::string& keep, const std::string& keep_too)
      ABSL_LOCKS_EXCLUDED(zygote_mu_, mu_);

  const Options options_;

  // Held for a whole Load, so Loads apply one after the other.
  absl::Mutex load_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  // Held while a zygote starts, so one key never gets two. Never held
  // together with mu_.
  absl::Mutex zygote_mu_ ABSL_ACQUIRED_AFTER(load_mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<ZygoteProcess>> zygotes_
      ABSL_GUARDED_BY(zygote_mu_);
  // Interpreters that cannot run a zygote (UNIMPLEMENTED once).
  absl::flat_hash_set<std::string> no_zygote_ ABSL_GUARDED_BY(zygote_mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Generation>> generations_
      ABSL_GUARDED_BY(mu_);
  // The serving generation (in generations_), or null before the first Load.
  Generation* current_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_spawn_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<ExitReport> exits_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  int64_t restarts_ ABSL_GUARDED_BY(mu_) = 0;

  // Rotates the scan start so ties between idle workers spread out.
  std::atomic<uint32_t> next_pick_{0};
  std::thread supervisor_;
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_WORKER_WORKER_POOL_H_
