#include "agent/worker/worker_pool.h"

#include <errno.h>
#include <sys/stat.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_context.h"
#include "common/status_macros.h"

namespace tether::agent {
namespace {

// More workers than this per replica is a config mistake, not a plan.
constexpr int kMaxWorkers = 1024;

// A refused call is retried on another worker this many times: the pick can
// race with a reload (the picked worker starts draining) or a death.
constexpr int kInvokeAttempts = 3;

absl::Status ValidateConfig(const WorkerConfig& config) {
  if (config.workers < 0 || config.workers > kMaxWorkers) {
    return absl::InvalidArgumentError(
        absl::StrCat("workers must be between 0 and ", kMaxWorkers, ", not ",
                     config.workers));
  }
  if (config.revision_dir.empty() || config.revision_dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("revision_dir must be an absolute path, not \"",
                     config.revision_dir, "\""));
  }
  struct stat st;
  if (stat(config.revision_dir.c_str(), &st) != 0) {
    return ErrnoStatus(errno, "stat", config.revision_dir);
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "revision_dir ", config.revision_dir, " is not a directory"));
  }
  if (config.load.module().empty()) {
    return absl::InvalidArgumentError("callable.module must be set");
  }
  const bool native = config.runtime == tether::v1::RUNTIME_NATIVE;
  if (!native && config.load.name().empty()) {
    return absl::InvalidArgumentError(
        "callable.name must name a function or class of the module");
  }
  return absl::OkStatus();
}

// Zygotes are shared by generations that would import the same things the
// same way: same interpreter and runner, preload list and environment.
std::string ZygoteKey(const ZygoteProcess::Options& options) {
  std::vector<std::string> env;
  for (const auto& [name, value] : options.env) {
    env.push_back(absl::StrCat(name, "=", value));
  }
  return absl::StrCat(options.python, "\n", options.runner_path, "\n",
                      absl::StrJoin(options.preload, ","), "\n",
                      absl::StrJoin(env, "\n"));
}

WorkerProcess::Options WorkerOptionsFor(const WorkerPool::Options& pool,
                                        const WorkerConfig& config) {
  WorkerProcess::Options options;
  options.runtime = config.runtime;
  options.load = config.load;
  options.load.set_root(config.revision_dir);
  options.python = pool.python;
  options.runner_path = pool.runner_path;
  options.native_worker_path = pool.native_worker_path;
  options.env = config.env;
  options.load_timeout = pool.load_timeout;
  options.stop_grace = pool.stop_grace;
  options.drain_timeout = pool.drain_timeout;
  options.max_frame_bytes = pool.max_frame_bytes;
  options.cancel_grace = pool.cancel_grace;
  options.on_log = pool.on_log;
  return options;
}

ZygoteProcess::Options ZygoteOptionsFor(const WorkerPool::Options& pool,
                                        const WorkerConfig& config) {
  ZygoteProcess::Options options;
  options.python = pool.python;
  options.runner_path = pool.runner_path;
  options.root = config.revision_dir;
  options.preload.assign(config.load.preload().begin(),
                         config.load.preload().end());
  options.env = config.env;
  options.max_frame_bytes = pool.max_frame_bytes;
  options.preload_timeout = pool.load_timeout;
  options.stop_grace = pool.stop_grace;
  return options;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Create(
    Options options) {
  RETURN_IF_ERROR(WithContext("restart_backoff",
                              Backoff::Validate(options.restart_backoff)));
  RETURN_IF_ERROR(CheckMaxFrameBytes(options.max_frame_bytes));
  std::unique_ptr<WorkerPool> pool(new WorkerPool(std::move(options)));
  pool->supervisor_ = std::thread([p = pool.get()] { p->Supervise(); });
  return pool;
}

WorkerPool::WorkerPool(Options options) : options_(std::move(options)) {}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    wake_ = true;
  }
  supervisor_.join();
  std::vector<std::shared_ptr<WorkerProcess>> workers;
  {
    absl::MutexLock lock(&mu_);
    current_ = nullptr;
    for (auto& [id, generation] : generations_) {
      for (Slot& slot : generation->slots) {
        if (slot.worker != nullptr) workers.push_back(std::move(slot.worker));
      }
    }
  }
  // Stop them all at once; the destructors then wait for each.
  for (const auto& worker : workers) worker->StopAsync();
  workers.clear();
  {
    absl::MutexLock lock(&mu_);
    generations_.clear();
  }
  // Last: zygotes must outlive their workers.
  absl::flat_hash_map<std::string, std::shared_ptr<ZygoteProcess>> zygotes;
  {
    absl::MutexLock lock(&zygote_mu_);
    zygotes.swap(zygotes_);
  }
}

absl::StatusOr<std::shared_ptr<ZygoteProcess>> WorkerPool::ZygoteFor(
    const std::string& key, const ZygoteProcess::Options& options) {
  std::shared_ptr<ZygoteProcess> dead;  // Released after the lock.
  absl::MutexLock lock(&zygote_mu_);
  auto it = zygotes_.find(key);
  if (it != zygotes_.end()) {
    if (it->second->alive()) return it->second;
    dead = std::move(it->second);
    zygotes_.erase(it);
  }
  if (no_zygote_.contains(options.python)) {
    return absl::UnimplementedError(
        absl::StrCat(options.python, " cannot run a zygote"));
  }
  absl::StatusOr<std::shared_ptr<ZygoteProcess>> zygote =
      ZygoteProcess::Start(options);
  if (absl::IsUnimplemented(zygote.status())) {
    TETHER_LOG(WARNING) << "no zygote with " << options.python << ": "
                        << zygote.status().message()
                        << "; starting each worker from scratch";
    no_zygote_.insert(options.python);
  }
  RETURN_IF_ERROR(zygote.status());
  zygotes_[key] = *zygote;
  return zygote;
}

void WorkerPool::PruneZygotes(const std::string& keep,
                              const std::string& keep_too) {
  std::vector<std::shared_ptr<ZygoteProcess>> dropped;
  {
    absl::MutexLock lock(&zygote_mu_);
    for (auto it = zygotes_.begin(); it != zygotes_.end();) {
      if (it->first == keep || it->first == keep_too) {
        ++it;
        continue;
      }
      dropped.push_back(std::move(it->second));
      zygotes_.erase(it++);
    }
  }
  // A zygote still used by draining workers lives on in them.
}

WorkerProcess::Options WorkerPool::OptionsFor(const Generation& generation,
                                              size_t slot, uint64_t spawn_id) {
  WorkerProcess::Options options = generation.worker_options;
  const uint64_t generation_id = generation.id;
  options.on_exit = [this, generation_id, slot,
                     spawn_id](const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    exits_.push_back({generation_id, slot, spawn_id, status});
    wake_ = true;
  };
  return options;
}

absl::Status WorkerPool::Load(const WorkerConfig& config) {
  absl::MutexLock load_lock(&load_mu_);
  RETURN_IF_ERROR(ValidateConfig(config));
  const size_t count = std::max(config.workers, 1);
  ASSIGN_OR_RETURN(std::unique_ptr<Generation> generation,
                   NewGeneration(config, count));
  Generation* const next = generation.get();
  const std::string next_key = next->zygote_key;
  const std::vector<uint64_t> spawn_ids =
      RegisterGeneration(std::move(generation));

  std::vector<std::shared_ptr<WorkerProcess>> started;
  absl::Status status = StartWorkers(*next, spawn_ids, &started);
  if (!status.ok()) {
    LogLoadFailure(config, status);
    DiscardGeneration(next->id, next_key, std::move(started));
    return status;
  }
  std::vector<std::shared_ptr<WorkerProcess>> old_workers;
  {
    absl::MutexLock lock(&mu_);
    old_workers = InstallLocked(*next, started);
  }
  // Outside mu_: a worker's own lock is never taken under the pool's.
  for (const auto& worker : old_workers) worker->Drain();
  PruneZygotes(next_key, next_key);
  TETHER_LOG(INFO) << "serving " << config.load.module() << "."
                   << config.load.name() << " from " << config.revision_dir
                   << " on " << count << " workers";
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WorkerPool::Generation>>
WorkerPool::NewGeneration(const WorkerConfig& config, size_t count) {
  auto generation = std::make_unique<Generation>();
  generation->revision_dir = config.revision_dir;
  generation->slots.resize(count, Slot(options_.restart_backoff));
  generation->worker_options = WorkerOptionsFor(options_, config);
  const bool python = config.runtime == tether::v1::RUNTIME_PYTHON ||
                      config.runtime == tether::v1::RUNTIME_UNSPECIFIED;
  if (python && options_.zygote) {
    RETURN_IF_ERROR(AttachZygote(config, *generation));
  }
  return generation;
}

absl::Status WorkerPool::AttachZygote(const WorkerConfig& config,
                                      Generation& generation) {
  generation.zygote_options = ZygoteOptionsFor(options_, config);
  const std::string key = ZygoteKey(generation.zygote_options);
  absl::StatusOr<std::shared_ptr<ZygoteProcess>> zygote =
      ZygoteFor(key, generation.zygote_options);
  if (zygote.ok()) {
    generation.zygote_key = key;
    generation.worker_options.zygote = *std::move(zygote);
    return absl::OkStatus();
  }
  // UNIMPLEMENTED: each worker starts from scratch instead.
  if (absl::IsUnimplemented(zygote.status())) return absl::OkStatus();
  LogLoadFailure(config, zygote.status());
  return zygote.status();
}

std::vector<uint64_t> WorkerPool::RegisterGeneration(
    std::unique_ptr<Generation> generation) {
  Generation& next = *generation;
  std::vector<uint64_t> spawn_ids(next.slots.size());
  absl::MutexLock lock(&mu_);
  next.id = ++next_generation_;
  for (size_t i = 0; i < spawn_ids.size(); ++i) {
    spawn_ids[i] = ++next_spawn_id_;
    next.slots[i].spawn_id = spawn_ids[i];
  }
  generations_[next.id] = std::move(generation);
  return spawn_ids;
}

absl::Status WorkerPool::StartWorkers(
    const Generation& generation, const std::vector<uint64_t>& spawn_ids,
    std::vector<std::shared_ptr<WorkerProcess>>* started) {
  for (size_t i = 0; i < spawn_ids.size(); ++i) {
    ASSIGN_OR_RETURN(
        std::unique_ptr<WorkerProcess> worker,
        WorkerProcess::Spawn(OptionsFor(generation, i, spawn_ids[i])));
    started->push_back(std::move(worker));
  }
  for (const auto& worker : *started) RETURN_IF_ERROR(worker->WaitLoaded());
  return absl::OkStatus();
}

void WorkerPool::DiscardGeneration(
    uint64_t id, const std::string& zygote_key,
    std::vector<std::shared_ptr<WorkerProcess>> started) {
  for (const auto& worker : started) worker->StopAsync();
  {
    absl::MutexLock lock(&mu_);
    generations_.erase(id);  // Later exit reports find nothing.
  }
  started.clear();  // Waits for the processes to be reaped.
  std::string serving_key;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (current_ != nullptr) serving_key = current_->zygote_key;
  }
  PruneZygotes(serving_key, zygote_key);
}

std::vector<std::shared_ptr<WorkerProcess>> WorkerPool::InstallLocked(
    Generation& next, std::vector<std::shared_ptr<WorkerProcess>>& started) {
  const absl::Time now = options_.clock->Now();
  for (size_t i = 0; i < next.slots.size(); ++i) {
    Slot& slot = next.slots[i];
    slot.started = now;
    if (slot.exited_early) {
      // Its exit report came while Load was still waiting on the others.
      ScheduleRestartLocked(slot, slot.last_exit);
    } else {
      slot.worker = std::move(started[i]);
    }
  }
  next.installed = true;
  Generation* const previous = current_;
  current_ = &next;
  wake_ = true;
  std::vector<std::shared_ptr<WorkerProcess>> old_workers;
  if (previous == nullptr) return old_workers;
  for (Slot& slot : previous->slots) {
    if (slot.worker != nullptr) old_workers.push_back(slot.worker);
  }
  if (old_workers.empty()) generations_.erase(previous->id);
  return old_workers;
}

void WorkerPool::LogLoadFailure(const WorkerConfig& config,
                                const absl::Status& status) {
  TETHER_LOG(WARNING) << "load of " << config.revision_dir
                      << " failed; still serving " << ServingRevisionDir()
                      << ": " << status;
}

void WorkerPool::Invoke(const tether::v1::InvokeRequest& request, Done done) {
  WorkerProcess::Call call;
  call.done = std::move(done);
  Invoke(request, std::move(call));
}

void WorkerPool::Invoke(const tether::v1::InvokeRequest& request,
                        WorkerProcess::Call call) {
  absl::Status refused;
  for (int attempt = 0; attempt < kInvokeAttempts; ++attempt) {
    std::shared_ptr<WorkerProcess> worker;
    {
      absl::ReaderMutexLock lock(&mu_);
      if (current_ == nullptr) {
        refused = absl::UnavailableError("no workers loaded yet");
        break;
      }
      const std::vector<Slot>& slots = current_->slots;
      const size_t n = slots.size();
      const size_t start =
          next_pick_.fetch_add(1, std::memory_order_relaxed) % n;
      int best = -1;
      for (size_t k = 0; k < n; ++k) {
        const Slot& slot = slots[(start + k) % n];
        if (slot.worker == nullptr || !slot.worker->serving()) continue;
        const int outstanding = slot.worker->outstanding();
        if (best < 0 || outstanding < best) {
          best = outstanding;
          worker = slot.worker;
        }
      }
      if (worker == nullptr) {
        std::string why;
        for (const Slot& slot : slots) {
          if (!slot.last_exit.ok()) why = std::string(slot.last_exit.message());
        }
        refused = absl::UnavailableError(
            absl::StrCat("no worker of ", current_->revision_dir,
                         " is serving right now; restarting",
                         why.empty() ? "" : " after: ", why));
        break;
      }
    }
    refused = worker->TryInvoke(request, call);
    if (refused.ok()) return;
    if (!absl::IsUnavailable(refused)) break;
  }
  call.done(std::move(refused));
}

std::string WorkerPool::ServingRevisionDir() const {
  absl::ReaderMutexLock lock(&mu_);
  return current_ == nullptr ? "" : current_->revision_dir;
}

std::vector<std::string> WorkerPool::RevisionDirsInUse() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> dirs;
  for (const auto& [id, generation] : generations_) {
    dirs.push_back(generation->revision_dir);
  }
  return dirs;
}

std::vector<pid_t> WorkerPool::ServingPids() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<pid_t> pids;
  if (current_ == nullptr) return pids;
  for (const Slot& slot : current_->slots) {
    if (slot.worker != nullptr && slot.worker->serving()) {
      pids.push_back(slot.worker->pid());
    }
  }
  return pids;
}

std::string WorkerPool::ServingPythonVersion() const {
  absl::ReaderMutexLock lock(&mu_);
  if (current_ == nullptr) return "";
  // Every worker of a generation runs the same interpreter.
  for (const Slot& slot : current_->slots) {
    if (slot.worker != nullptr && slot.worker->serving()) {
      return slot.worker->python_version();
    }
  }
  return "";
}

int64_t WorkerPool::restarts() const {
  absl::ReaderMutexLock lock(&mu_);
  return restarts_;
}

pid_t WorkerPool::ServingZygotePid() const {
  absl::ReaderMutexLock lock(&mu_);
  if (current_ == nullptr || current_->worker_options.zygote == nullptr) {
    return -1;
  }
  return current_->worker_options.zygote->pid();
}

void WorkerPool::ScheduleRestartLocked(Slot& slot, absl::Status why) {
  const absl::Time now = options_.clock->Now();
  const absl::Duration delay =
      slot.backoff.NextDelayAfterRun(now - slot.started);
  slot.restart_at = now + delay;
  slot.last_exit = std::move(why);
  TETHER_LOG(WARNING) << slot.last_exit.message() << "; restarting in "
                      << absl::FormatDuration(delay);
}

void WorkerPool::HandleExitLocked(
    const ExitReport& report,
    std::vector<std::shared_ptr<WorkerProcess>>* dead) {
  auto it = generations_.find(report.generation);
  if (it == generations_.end()) return;  // A failed Load's worker.
  Generation& generation = *it->second;
  Slot& slot = generation.slots[report.slot];
  if (slot.spawn_id != report.spawn_id) return;  // Already replaced.
  if (!generation.installed) {
    // Load is still waiting on this generation; it restarts the slot after
    // the switch (or drops the generation on failure).
    slot.exited_early = true;
    slot.last_exit = report.status.ok()
                         ? absl::AbortedError("worker stopped while loading")
                         : report.status;
    return;
  }
  if (slot.worker != nullptr) dead->push_back(std::move(slot.worker));
  if (&generation != current_) {
    // A drained generation goes away with its last worker.
    const bool empty =
        std::all_of(generation.slots.begin(), generation.slots.end(),
                    [](const Slot& s) { return s.worker == nullptr; });
    if (empty) generations_.erase(it);
    return;
  }
  if (report.status.ok()) return;  // Stopped on purpose.
  ScheduleRestartLocked(slot, report.status);
}

absl::StatusOr<std::unique_ptr<WorkerProcess>> WorkerPool::Respawn(
    WorkerProcess::Options& options, const std::string& zygote_key,
    const ZygoteProcess::Options& zygote_options) {
  if (options.zygote != nullptr && !options.zygote->alive()) {
    // The zygote died (and its workers with it): start another.
    ASSIGN_OR_RETURN(options.zygote, ZygoteFor(zygote_key, zygote_options));
  }
  return WorkerProcess::Spawn(options);
}

void WorkerPool::Supervise() {
  absl::MutexLock lock(&mu_);
  while (true) {
    if (HandleExitsLocked()) continue;
    if (shutdown_) return;
    absl::Time next_due = absl::InfiniteFuture();
    if (const std::optional<size_t> due = DueSlotLocked(&next_due)) {
      RestartSlotLocked(*due);
      continue;
    }
    wake_ = false;
    options_.clock->AwaitWithDeadline(&mu_, absl::Condition(&wake_), next_due);
  }
}

bool WorkerPool::HandleExitsLocked() {
  std::vector<std::shared_ptr<WorkerProcess>> dead;
  std::vector<ExitReport> exits;
  exits.swap(exits_);
  for (const ExitReport& report : exits) HandleExitLocked(report, &dead);
  if (dead.empty()) return false;
  // Joining their I/O threads must not hold up Invoke.
  mu_.Unlock();
  dead.clear();
  mu_.Lock();
  return true;
}

std::optional<size_t> WorkerPool::DueSlotLocked(absl::Time* next_due) {
  if (current_ == nullptr) return std::nullopt;
  const absl::Time now = options_.clock->Now();
  for (size_t i = 0; i < current_->slots.size(); ++i) {
    const Slot& slot = current_->slots[i];
    if (slot.worker != nullptr || slot.restart_at == absl::InfiniteFuture()) {
      continue;
    }
    if (slot.restart_at <= now) return i;
    *next_due = std::min(*next_due, slot.restart_at);
  }
  return std::nullopt;
}

void WorkerPool::RestartSlotLocked(size_t index) {
  const Generation& generation = *current_;
  const uint64_t generation_id = generation.id;
  const uint64_t spawn_id = ++next_spawn_id_;
  Slot& due = current_->slots[index];
  due.spawn_id = spawn_id;
  due.restart_at = absl::InfiniteFuture();
  WorkerProcess::Options worker_options =
      OptionsFor(generation, index, spawn_id);
  const std::string zygote_key = generation.zygote_key;
  const ZygoteProcess::Options zygote_options = generation.zygote_options;
  mu_.Unlock();
  absl::StatusOr<std::unique_ptr<WorkerProcess>> worker =
      Respawn(worker_options, zygote_key, zygote_options);
  mu_.Lock();
  AdoptRestartedLocked(generation_id, index, spawn_id, worker_options.zygote,
                       std::move(worker));
}

void WorkerPool::AdoptRestartedLocked(
    uint64_t generation_id, size_t index, uint64_t spawn_id,
    const std::shared_ptr<ZygoteProcess>& zygote,
    absl::StatusOr<std::unique_ptr<WorkerProcess>> worker) {
  auto it = generations_.find(generation_id);
  // Later restarts use the replacement zygote, if there was one.
  if (it != generations_.end()) it->second->worker_options.zygote = zygote;
  Slot* slot = it == generations_.end() ? nullptr : &it->second->slots[index];
  if (slot == nullptr || slot->spawn_id != spawn_id ||
      it->second.get() != current_) {
    // A Load replaced the generation meanwhile: not needed any more.
    if (worker.ok()) {
      std::shared_ptr<WorkerProcess> unneeded = std::move(*worker);
      unneeded->StopAsync();
      mu_.Unlock();
      unneeded.reset();
      mu_.Lock();
    }
    return;
  }
  if (!worker.ok()) {
    ScheduleRestartLocked(*slot, worker.status());
    return;
  }
  // Serves once loaded (Invoke skips it until then); a failed load comes
  // back as an exit report and another backoff.
  slot->worker = std::move(*worker);
  slot->started = options_.clock->Now();
  ++restarts_;
}

}  // namespace tether::agent
