#include "controlplane/local_backend.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/child_process.h"
#include "common/command_flag.h"
#include "common/files.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "servicespec/validate.h"

namespace tether::controlplane {
namespace {

// Lines of an agent's log quoted when it crashes.
constexpr int kLogTailLines = 20;
// LogLine.level of the lines ReplicaLogs reads.
constexpr char kAgentLogLevel[] = "agent";

// Where an agent's stdout and stderr go, in its replica's work dir; every
// run of the replica appends.
std::string AgentLogPath(const std::string& workdir) {
  return workdir + "/agent.log";
}

// The whole lines of the end of `path` (at most kReplicaLogsMaxBytes; a line
// that bound cuts is dropped), without trailing blank ones. Empty when the
// file cannot be read (the agent never started).
std::vector<std::string> AgentLogLines(const std::string& path) {
  absl::StatusOr<std::string> log =
      ReadFileTail(path, Backend::kReplicaLogsMaxBytes);
  if (!log.ok()) return {};
  const absl::string_view text = absl::StripTrailingAsciiWhitespace(*log);
  if (text.empty()) return {};
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (log->size() == Backend::kReplicaLogsMaxBytes) {
    lines.erase(lines.begin());
  }
  return lines;
}

std::string LogTail(const std::string& path) {
  std::vector<std::string> lines = AgentLogLines(path);
  if (lines.size() > kLogTailLines) {
    lines.erase(lines.begin(), lines.end() - kLogTailLines);
  }
  return std::string(
      absl::StripLeadingAsciiWhitespace(absl::StrJoin(lines, "\n")));
}

// Whether `pid` runs a tether-agent (so a stale pid file never kills a
// process that merely reused the pid).
bool IsAgentProcess(pid_t pid) {
  absl::StatusOr<std::string> cmdline =
      ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
  return cmdline.ok() && absl::StrContains(*cmdline, "tether-agent");
}

// Agents on this machine serve Invoke on an abstract Unix socket: no port
// to allocate, no TCP stack on the call path, and no path length limit.
// Abstract names are shared by every process in the network namespace, and
// pids repeat across PID namespaces (containers, sandboxed tests): a random
// instance id keeps two tetherds' agents apart.
std::string ListenAddress(const std::string& instance,
                          const std::string& replica) {
  return absl::StrCat("--listen=unix-abstract:tether-", instance, "-", replica);
}

// A command flag of the agent (common/command_flag.h).
std::string CommandFlag(
    absl::string_view flag,
    const google::protobuf::RepeatedPtrField<std::string>& command) {
  return absl::StrCat(
      "--", flag, "=",
      EncodeCommand(std::vector<std::string>(command.begin(), command.end())));
}

// Sidecar mode's flags for replica `index`. Replicas share the machine, so
// replica i's server gets port + i (and its proxy proxy_port + i).
std::vector<std::string> SidecarFlags(const tether::v1::App& app, int index) {
  std::vector<std::string> flags = {
      "--sidecar", CommandFlag("app_command", app.command()),
      absl::StrCat("--app_port=", app.port() + index),
      absl::StrCat("--proxy_listen=127.0.0.1:",
                   app.proxy_port() == 0 ? 0 : app.proxy_port() + index)};
  if (!app.reload_command().empty()) {
    flags.push_back(CommandFlag("reload_command", app.reload_command()));
  }
  return flags;
}

std::string NewInstanceId() {
  uint64_t bits = 0;
  if (getrandom(&bits, sizeof(bits), 0) != sizeof(bits)) {
    bits = static_cast<uint64_t>(getpid()) ^
           static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  }
  return absl::StrCat(absl::Hex(bits, absl::kZeroPad16));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LocalBackend>> LocalBackend::Create(
    Options options) {
  if (access(options.agent_binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "agent binary ", options.agent_binary, " is not executable"));
  }
  // The supervisor learns of exits through pidfds.
  const int self = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
  if (self < 0) {
    return absl::FailedPreconditionError(
        "the local backend needs pidfd_open (Linux 5.3+)");
  }
  close(self);
  RETURN_IF_ERROR(WithContext("restart_backoff",
                              Backoff::Validate(options.restart_backoff)));
  RETURN_IF_ERROR(MakeDirs(options.state_dir + "/replicas"));
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) return ErrnoStatus(errno, "eventfd", "");
  return std::unique_ptr<LocalBackend>(
      new LocalBackend(std::move(options), wake_fd));
}

LocalBackend::LocalBackend(Options options, int wake_fd)
    : options_(std::move(options)),
      wake_fd_(wake_fd),
      instance_id_(NewInstanceId()) {}

LocalBackend::~LocalBackend() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (auto& [name, replica] : replicas_) replica.wanted = false;
  }
  Wake();
  if (supervisor_.joinable()) supervisor_.join();
  close(wake_fd_);
}

void LocalBackend::Wake() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void LocalBackend::Start(const std::string& gateway_address,
                         BackendListener* listener) {
  KillLeftovers();
  listener_ = listener;
  absl::MutexLock lock(&mu_);
  TETHER_CHECK(!supervisor_.joinable()) << "LocalBackend started twice";
  gateway_address_ = gateway_address;
  supervisor_ = std::thread([this] { SupervisorLoop(); });
}

void LocalBackend::KillLeftovers() {
  const std::string dir = options_.state_dir + "/replicas";
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir);
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    const std::string pid_file = absl::StrCat(dir, "/", name, "/agent.pid");
    absl::StatusOr<std::string> text = ReadFile(pid_file);
    int pid = 0;
    if (!text.ok() || !absl::SimpleAtoi(*text, &pid) || pid <= 1) continue;
    if (IsAgentProcess(pid)) {
      TETHER_LOG(INFO) << "stopping leftover agent " << name << " (pid " << pid
                       << ")";
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
    }
    unlink(pid_file.c_str());
  }
}

LocalBackend::Replica LocalBackend::MakeReplica(
    const tether::v1::ServiceSpec& spec, const std::string& token,
    int index) const {
  Replica replica(options_.restart_backoff);
  replica.service = spec.name();
  replica.name = absl::StrCat(spec.name(), "-", index);
  replica.workdir =
      absl::StrCat(options_.state_dir, "/replicas/", replica.name);
  // Sorted so equal specs give equal keys (protobuf maps are unordered).
  std::vector<std::pair<std::string, std::string>> user_env;
  for (const auto& [key, value] : spec.compute().env()) {
    user_env.emplace_back(key, value);
  }
  if (spec.compute().gpus() > 0) {
    std::vector<int> gpus(spec.compute().gpus());
    for (int i = 0; i < spec.compute().gpus(); ++i) gpus[i] = i;
    user_env.emplace_back("CUDA_VISIBLE_DEVICES", absl::StrJoin(gpus, ","));
  }
  std::sort(user_env.begin(), user_env.end());
  replica.env_key = absl::StrJoin(user_env, "\n", absl::PairFormatter("="));

  replica.env = std::move(user_env);
  replica.env.emplace_back("TETHER_SERVICE", spec.name());
  replica.env.emplace_back("TETHER_REPLICA", replica.name);
  // Passed in the environment, not argv, so `ps` does not show it. It also
  // replaces any token in tetherd's own environment.
  replica.env.emplace_back("TETHER_SERVICE_TOKEN", token);
  return replica;
}

absl::Status LocalBackend::Validate(const tether::v1::ServiceSpec& spec) const {
  if (spec.has_workload()) {
    return absl::InvalidArgumentError(
        "workload: a Kubernetes manifest runs on tetherd's Kubernetes "
        "backend (tetherd --backend=kubernetes); this one runs local "
        "processes");
  }
  if (spec.has_app() && spec.app().command().empty()) {
    return absl::InvalidArgumentError(
        "app.command: required on the local backend (it starts your server)");
  }
  return absl::OkStatus();
}

absl::Status LocalBackend::Apply(const tether::v1::ServiceSpec& spec,
                                 const std::string& token) {
  return Run(spec, token, servicespec::InitialReplicas(spec.compute()),
             /*keep_workdirs=*/false);
}

absl::Status LocalBackend::Scale(const tether::v1::ServiceSpec& spec,
                                 const std::string& token, int32_t replicas) {
  return Run(spec, token, replicas, /*keep_workdirs=*/true);
}

absl::Status LocalBackend::Run(const tether::v1::ServiceSpec& spec,
                               const std::string& token, int count,
                               bool keep_workdirs) {
  absl::MutexLock lock(&mu_);
  if (gateway_address_.empty()) {
    return absl::FailedPreconditionError("LocalBackend used before Start");
  }
  std::vector<std::string>& names = services_[spec.name()];
  names.clear();
  for (int i = 0; i < count; ++i) {
    Replica wanted = MakeReplica(spec, token, i);
    wanted.argv = {
        options_.agent_binary,
        absl::StrCat("--gateway=", gateway_address_),
        absl::StrCat("--service=", spec.name()),
        absl::StrCat("--replica=", wanted.name),
        absl::StrCat("--workdir=", wanted.workdir),
        ListenAddress(instance_id_, wanted.name),
        absl::StrCat("--max_payload_bytes=", options_.max_payload_bytes)};
    if (!options_.agent_health_listen_address.empty()) {
      wanted.argv.push_back(absl::StrCat("--health_listen=",
                                         options_.agent_health_listen_address));
    }
    if (!options_.agent_tls.ca_file.empty()) {
      for (const auto& [flag, file] :
           {std::pair{"tls_cert_file", options_.agent_tls.cert_file},
            std::pair{"tls_key_file", options_.agent_tls.key_file},
            std::pair{"tls_ca_file", options_.agent_tls.ca_file}}) {
        wanted.argv.push_back(absl::StrCat("--", flag, "=", file));
      }
    }
    if (spec.has_app()) {
      for (std::string& flag : SidecarFlags(spec.app(), i)) {
        wanted.argv.push_back(std::move(flag));
      }
    }
    names.push_back(wanted.name);
    auto it = replicas_.find(wanted.name);
    if (it == replicas_.end()) {
      wanted.next_start = absl::InfinitePast();
      replicas_.emplace(wanted.name, std::move(wanted));
      continue;
    }
    Replica& current = it->second;
    current.wanted = true;
    current.keep_workdir = false;
    if (current.env_key != wanted.env_key || current.env != wanted.env ||
        current.argv != wanted.argv) {
      // A new environment (or app) needs a new process: stop the old one;
      // the supervisor starts the new one as soon as the old one is reaped.
      current.env_key = wanted.env_key;
      current.env = std::move(wanted.env);
      current.argv = std::move(wanted.argv);
      if (current.pid > 0 && !current.stopping) StopLocked(current);
      current.next_start = absl::InfinitePast();
    }
  }
  // Scale down: replicas beyond the count stop for good.
  for (auto& [name, replica] : replicas_) {
    if (replica.service == spec.name() &&
        std::find(names.begin(), names.end(), name) == names.end()) {
      replica.wanted = false;
      replica.keep_workdir = keep_workdirs;
    }
  }
  Wake();
  return absl::OkStatus();
}

absl::Status LocalBackend::Delete(const tether::v1::ServiceSpec& spec) {
  const std::string& service = spec.name();
  absl::MutexLock lock(&mu_);
  services_.erase(service);
  bool any = false;
  for (auto& [name, replica] : replicas_) {
    if (replica.service == service) {
      replica.wanted = false;
      any = true;
    }
  }
  if (!any) return absl::OkStatus();
  Wake();
  // Wait until the supervisor reaped them, so a redeploy under the same
  // name never races the old processes.
  auto gone = [this, &service]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::none_of(replicas_.begin(), replicas_.end(), [&](const auto& r) {
      return r.second.service == service;
    });
  };
  if (!options_.clock->AwaitWithDeadline(
          &mu_, absl::Condition(&gone),
          options_.clock->Now() + options_.stop_grace + absl::Seconds(2))) {
    return absl::DeadlineExceededError(
        absl::StrCat("replicas of ", service, " did not stop in time"));
  }
  return absl::OkStatus();
}

std::vector<std::string> LocalBackend::Replicas(
    const std::string& service) const {
  absl::MutexLock lock(&mu_);
  auto it = services_.find(service);
  if (it == services_.end()) return {};
  return it->second;
}

absl::StatusOr<std::vector<tether::v1::LogLine>> LocalBackend::ReplicaLogs(
    const std::string& service, const std::string& replica, absl::Time since,
    size_t max_lines) const {
  std::string path;
  {
    absl::MutexLock lock(&mu_);
    auto names = services_.find(service);
    auto it = replicas_.find(replica);
    if (names == services_.end() || it == replicas_.end() ||
        std::find(names->second.begin(), names->second.end(), replica) ==
            names->second.end()) {
      return absl::NotFoundError(absl::StrCat(
          "service \"", service, "\" has no replica \"", replica, "\""));
    }
    path = AgentLogPath(it->second.workdir);
  }
  std::vector<std::string> texts = AgentLogLines(path);
  // The agent stamps its lines with the wall clock (common/log.h); a line
  // it did not write (a worker's crash on stderr) takes the time of the
  // stamped line before it, or after it at the start.
  const absl::Time now = absl::Now();
  std::vector<absl::Time> times(texts.size(), absl::InfinitePast());
  std::optional<absl::Time> last;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (std::optional<absl::Time> stamped = LogLineTime(texts[i], now)) {
      if (!last.has_value()) {
        std::fill(times.begin(), times.begin() + i, *stamped);
      }
      last = stamped;
    }
    if (last.has_value()) times[i] = *last;
  }
  std::vector<tether::v1::LogLine> lines;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (times[i] < since) continue;
    tether::v1::LogLine& line = lines.emplace_back();
    line.set_replica(replica);
    line.set_level(kAgentLogLevel);
    *line.mutable_time() = ToProtoTimestamp(times[i]);
    line.set_text(std::move(texts[i]));
  }
  if (lines.size() > max_lines) {
    lines.erase(lines.begin(), lines.end() - max_lines);
  }
  return lines;
}

void LocalBackend::StopLocked(Replica& replica) {
  SignalGroup(replica.pid, SIGTERM);
  replica.stopping = true;
  replica.stop_deadline = options_.clock->Now() + options_.stop_grace;
}

absl::Status LocalBackend::Spawn(Replica& replica) {
  absl::Status status = MakeDirs(replica.workdir);
  absl::StatusOr<SpawnedChild> child;
  if (status.ok()) {
    ChildSpec spec;
    spec.executable = replica.argv[0];
    spec.argv = replica.argv;
    spec.env = replica.env;
    spec.socket_type = 0;
    spec.output_path = AgentLogPath(replica.workdir);
    // The agent stops its workers on SIGTERM.
    spec.parent_death_signal = SIGTERM;
    child = SpawnChild(spec);
    status = child.status();
  }
  if (status.ok() && child->pidfd < 0) {
    // Create checked pidfd_open (out of fds?); without a pidfd the exit
    // would go unnoticed.
    SignalGroup(child->pid, SIGKILL);
    WaitChild(child->pid);
    status = absl::ResourceExhaustedError("pidfd_open failed");
  }
  if (!status.ok()) {
    const absl::Duration delay = replica.backoff.NextDelay();
    TETHER_LOG(ERROR) << "cannot start " << replica.name << ": " << status
                      << "; trying again in " << delay;
    replica.next_start = options_.clock->Now() + delay;
    return status;
  }
  replica.pid = child->pid;
  replica.pidfd = child->pidfd;
  replica.started = options_.clock->Now();
  (void)WriteFileAtomically(replica.workdir + "/agent.pid",
                            absl::StrCat(replica.pid));
  return absl::OkStatus();
}

void LocalBackend::Reap() {
  const absl::Time now = options_.clock->Now();
  for (auto& [name, replica] : replicas_) {
    if (replica.pid <= 0) continue;
    int wait_status = 0;
    const pid_t done = waitpid(replica.pid, &wait_status, WNOHANG);
    if (done == 0) {
      if (replica.stopping && now >= replica.stop_deadline) {
        SignalGroup(replica.pid, SIGKILL);
        // Once: its pidfd tells when it is gone.
        replica.stop_deadline = absl::InfiniteFuture();
      }
      continue;
    }
    // The agent's workers are in its process group; make sure none linger.
    kill(-replica.pid, SIGKILL);
    replica.pid = 0;
    close(replica.pidfd);
    replica.pidfd = -1;
    unlink((replica.workdir + "/agent.pid").c_str());
    ReplicaExit exit;
    if (!replica.stopping) {
      // A crash: back off, unless the replica had been healthy for a while.
      replica.next_start =
          now + replica.backoff.NextDelayAfterRun(now - replica.started);
      exit.cause = ReplicaExit::Cause::kCrashed;
      exit.description = absl::StrCat(
          replica.name, " exited (",
          ProcessExit::FromWaitStatus(wait_status).ToString(), ")");
      const std::string tail = LogTail(AgentLogPath(replica.workdir));
      if (!tail.empty()) {
        absl::StrAppend(&exit.description, "; agent log:\n", tail);
      }
    } else {
      exit.cause = ReplicaExit::Cause::kStoppedByBackend;
      exit.description = absl::StrCat(replica.name, " stopped");
    }
    replica.stopping = false;
    replica.exit = std::move(exit);
  }
}

void LocalBackend::SupervisorLoop() {
  while (true) {
    std::vector<std::function<void()>> events;
    // The wake-up eventfd, then the pidfd of each running agent.
    std::vector<pollfd> fds = {{wake_fd_, POLLIN, 0}};
    absl::Time next_due = absl::InfiniteFuture();
    {
      absl::MutexLock lock(&mu_);
      Reap();
      const absl::Time now = options_.clock->Now();
      for (auto it = replicas_.begin(); it != replicas_.end();) {
        Replica& replica = it->second;
        const std::string service = replica.service;
        const std::string name = replica.name;
        if (replica.exit.has_value()) {
          ReplicaExit exit = *std::move(replica.exit);
          replica.exit.reset();
          exit.will_restart = replica.wanted && !shutting_down_;
          events.push_back([this, service, name, exit] {
            if (listener_ != nullptr) {
              listener_->OnReplicaExited(service, name, exit);
            }
          });
        }
        if (!replica.wanted && replica.pid > 0 && !replica.stopping) {
          StopLocked(replica);
        }
        if (!replica.wanted && replica.pid == 0) {
          // Deleted or scaled down: its code cache goes too. On shutdown or
          // when parked the work dir stays, so the agent starts warm.
          if (!shutting_down_ && !replica.keep_workdir) {
            (void)RemoveAll(replica.workdir);
          }
          it = replicas_.erase(it);
          continue;
        }
        if (replica.wanted && replica.pid == 0 && !shutting_down_) {
          if (now >= replica.next_start) {
            const absl::Status spawned = Spawn(replica);
            if (replica.pid > 0) {
              events.push_back([this, service, name] {
                if (listener_ != nullptr) {
                  listener_->OnReplicaStarted(service, name);
                }
              });
            } else {
              // It cannot become ready until someone fixes the host (its
              // work dir, the agent binary): say so instead of retrying
              // in silence.
              events.push_back([this, service, name, spawned] {
                if (listener_ != nullptr) {
                  listener_->OnReplicaFailing(
                      service, name,
                      absl::StrCat("cannot start its agent: ",
                                   spawned.message()));
                }
              });
            }
          }
          if (replica.pid == 0) {
            next_due = std::min(next_due, replica.next_start);
          }
        }
        if (replica.pid > 0) {
          fds.push_back({replica.pidfd, POLLIN, 0});
          if (replica.stopping) {
            next_due = std::min(next_due, replica.stop_deadline);
          }
        }
        ++it;
      }
      if (shutting_down_ && replicas_.empty()) break;
    }
    for (auto& event : events) event();
    // Only the supervisor closes pidfds, so these stay valid while it waits.
    const absl::StatusOr<int> ready =
        options_.clock->Poll(absl::MakeSpan(fds), next_due);
    // Fails only without memory: our own fds are valid.
    TETHER_CHECK(ready.ok()) << "local backend supervisor: " << ready.status();
    if (fds[0].revents != 0) {
      uint64_t count;
      (void)!read(wake_fd_, &count, sizeof(count));
    }
  }
}

}  // namespace tether::controlplane
