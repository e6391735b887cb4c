#include "controlplane/local_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/exec_args.h"
#include "common/files.h"
#include "common/log.h"
#include "servicespec/validate.h"

namespace tether::controlplane {
namespace {

// How often the supervisor looks for exited agents and due restarts.
constexpr absl::Duration kPollInterval = absl::Milliseconds(20);
// Lines of an agent's log quoted when it crashes.
constexpr int kLogTailLines = 20;

std::string DescribeExit(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    return absl::StrCat("killed by signal ", WTERMSIG(wait_status));
  }
  return absl::StrCat("exited with code ", WEXITSTATUS(wait_status));
}

std::string LogTail(const std::string& path) {
  absl::StatusOr<std::string> log = ReadFile(path);
  if (!log.ok()) return "";
  absl::string_view text = absl::StripTrailingAsciiWhitespace(*log);
  size_t pos = text.size();
  for (int lines = 0; lines < kLogTailLines && pos != 0; ++lines) {
    const size_t nl = text.rfind('\n', pos - 1);
    pos = nl == absl::string_view::npos ? 0 : nl;
  }
  return std::string(absl::StripLeadingAsciiWhitespace(text.substr(pos)));
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
  absl::Status status = MakeDirs(options.state_dir + "/replicas");
  if (!status.ok()) return status;
  return std::unique_ptr<LocalBackend>(new LocalBackend(std::move(options)));
}

LocalBackend::LocalBackend(Options options)
    : options_(std::move(options)), instance_id_(NewInstanceId()) {}

LocalBackend::~LocalBackend() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (auto& [name, replica] : replicas_) replica.wanted = false;
  }
  if (supervisor_.joinable()) supervisor_.join();
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
  Replica replica;
  replica.service = spec.name();
  replica.name = absl::StrCat(spec.name(), "-", index);
  replica.workdir =
      absl::StrCat(options_.state_dir, "/replicas/", replica.name);
  replica.backoff = options_.initial_backoff;
  // Sorted so equal specs give equal keys (protobuf maps are unordered).
  std::vector<std::string> user_env;
  for (const auto& [key, value] : spec.compute().env()) {
    user_env.push_back(absl::StrCat(key, "=", value));
  }
  if (spec.compute().gpus() > 0) {
    std::vector<int> gpus(spec.compute().gpus());
    for (int i = 0; i < spec.compute().gpus(); ++i) gpus[i] = i;
    user_env.push_back(
        absl::StrCat("CUDA_VISIBLE_DEVICES=", absl::StrJoin(gpus, ",")));
  }
  std::sort(user_env.begin(), user_env.end());
  replica.env_key = absl::StrJoin(user_env, "\n");

  for (char** e = environ; *e != nullptr; ++e) {
    // The token must not leak from tetherd's own environment into agents.
    if (absl::StartsWith(*e, "TETHER_SERVICE_TOKEN=")) continue;
    replica.env.push_back(*e);
  }
  replica.env.insert(replica.env.end(), user_env.begin(), user_env.end());
  replica.env.push_back(absl::StrCat("TETHER_SERVICE=", spec.name()));
  replica.env.push_back(absl::StrCat("TETHER_REPLICA=", replica.name));
  // Passed in the environment, not argv, so `ps` does not show it.
  replica.env.push_back(absl::StrCat("TETHER_SERVICE_TOKEN=", token));
  return replica;
}

absl::Status LocalBackend::Apply(const tether::v1::ServiceSpec& spec,
                                 const std::string& token) {
  const int count = servicespec::InitialReplicas(spec.compute());
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
    names.push_back(wanted.name);
    auto it = replicas_.find(wanted.name);
    if (it == replicas_.end()) {
      wanted.next_start = absl::InfinitePast();
      replicas_.emplace(wanted.name, std::move(wanted));
      continue;
    }
    Replica& current = it->second;
    current.wanted = true;
    if (current.env_key != wanted.env_key || current.env != wanted.env) {
      // A new environment needs a new process: stop the old one; the
      // supervisor starts the new one as soon as the old one is reaped.
      current.env_key = wanted.env_key;
      current.env = std::move(wanted.env);
      current.argv = std::move(wanted.argv);
      if (current.pid > 0 && !current.stopping) {
        kill(-current.pid, SIGTERM);
        current.stopping = true;
        current.stop_deadline = absl::Now() + options_.stop_grace;
      }
      current.next_start = absl::InfinitePast();
    }
  }
  // Scale down: replicas beyond the count stop for good.
  for (auto& [name, replica] : replicas_) {
    if (replica.service == spec.name() &&
        std::find(names.begin(), names.end(), name) == names.end()) {
      replica.wanted = false;
    }
  }
  return absl::OkStatus();
}

absl::Status LocalBackend::Delete(const std::string& service) {
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
  // Wait until the supervisor reaped them, so a redeploy under the same
  // name never races the old processes.
  auto gone = [this, &service]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::none_of(replicas_.begin(), replicas_.end(), [&](const auto& r) {
      return r.second.service == service;
    });
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&gone),
                            options_.stop_grace + absl::Seconds(2))) {
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

void LocalBackend::Spawn(Replica& replica) {
  absl::Status status = MakeDirs(replica.workdir);
  if (!status.ok()) {
    TETHER_LOG(ERROR) << "cannot start " << replica.name << ": " << status;
    replica.next_start = absl::Now() + replica.backoff;
    return;
  }
  const std::string log_path = replica.workdir + "/agent.log";
  const int log_fd =
      open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  std::vector<char*> argv = ExecArgs(replica.argv);
  std::vector<char*> envp = ExecArgs(replica.env);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    if (log_fd >= 0) {
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
    }
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (log_fd >= 0) close(log_fd);
  if (pid < 0) {
    TETHER_LOG(ERROR) << "fork for " << replica.name << ": " << strerror(errno);
    replica.next_start = absl::Now() + replica.backoff;
    return;
  }
  replica.pid = pid;
  replica.started = absl::Now();
  (void)WriteFileAtomically(replica.workdir + "/agent.pid", absl::StrCat(pid));
}

void LocalBackend::Reap() {
  for (auto& [name, replica] : replicas_) {
    if (replica.pid <= 0) continue;
    int wait_status = 0;
    const pid_t done = waitpid(replica.pid, &wait_status, WNOHANG);
    if (done == 0) {
      if (replica.stopping && absl::Now() > replica.stop_deadline) {
        kill(-replica.pid, SIGKILL);
      }
      continue;
    }
    // The agent's workers are in its process group; make sure none linger.
    kill(-replica.pid, SIGKILL);
    replica.pid = 0;
    unlink((replica.workdir + "/agent.pid").c_str());
    if (!replica.stopping) {
      // A crash: back off, unless the replica had been healthy for a while.
      if (absl::Now() - replica.started > options_.backoff_reset_after) {
        replica.backoff = options_.initial_backoff;
      }
      replica.next_start = absl::Now() + replica.backoff;
      replica.backoff = std::min(replica.backoff * 2, options_.max_backoff);
      replica.restarts++;
      replica.exit_reason = DescribeExit(wait_status);
    } else {
      replica.exit_reason = "stopped";
    }
    replica.stopping = false;
    replica.exited = true;
  }
}

void LocalBackend::SupervisorLoop() {
  while (true) {
    std::vector<std::function<void()>> events;
    {
      absl::MutexLock lock(&mu_);
      Reap();
      for (auto it = replicas_.begin(); it != replicas_.end();) {
        Replica& replica = it->second;
        const std::string service = replica.service;
        const std::string name = replica.name;
        if (replica.exited) {
          replica.exited = false;
          std::string reason = replica.exit_reason;
          if (reason != "stopped") {
            reason = absl::StrCat(name, " ", reason);
            const std::string tail = LogTail(replica.workdir + "/agent.log");
            if (!tail.empty()) absl::StrAppend(&reason, "; agent log:\n", tail);
          }
          const bool restart = replica.wanted && !shutting_down_;
          events.push_back([this, service, name, reason, restart] {
            if (listener_ != nullptr) {
              listener_->OnReplicaExited(service, name, reason, restart);
            }
          });
        }
        if (!replica.wanted && replica.pid > 0 && !replica.stopping) {
          kill(-replica.pid, SIGTERM);
          replica.stopping = true;
          replica.stop_deadline = absl::Now() + options_.stop_grace;
        }
        if (!replica.wanted && replica.pid == 0) {
          // Deleted or scaled down: its code cache goes too. On shutdown the
          // work dir stays, so a restarted tetherd's agents start warm.
          if (!shutting_down_) (void)RemoveAll(replica.workdir);
          it = replicas_.erase(it);
          continue;
        }
        if (replica.wanted && replica.pid == 0 && !shutting_down_ &&
            absl::Now() >= replica.next_start) {
          Spawn(replica);
          if (replica.pid > 0) {
            events.push_back([this, service, name] {
              if (listener_ != nullptr) {
                listener_->OnReplicaStarted(service, name);
              }
            });
          }
        }
        ++it;
      }
      if (shutting_down_ && replicas_.empty()) break;
    }
    for (auto& event : events) event();
    absl::SleepFor(kPollInterval);
  }
}

}  // namespace tether::controlplane
