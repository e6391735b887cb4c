#include "tools/cli/daemon_commands.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/child_process.h"
#include "common/exec_args.h"
#include "common/files.h"
#include "common/random_token.h"
#include "common/runfiles.h"
#include "common/status_macros.h"
#include "common/tls.h"
#include "grpcpp/channel.h"
#include "tools/cli/client.h"
#include "tools/cli/daemon.h"
#include "tools/cli/endpoint.h"
#include "tools/cli/exit_codes.h"

namespace tether::cli {
namespace {

constexpr char kDefaultListen[] = "127.0.0.1:7700";
constexpr char kProgram[] = "tetherd";
// How long `up` waits for tetherd to answer and `stop` for it to exit.
constexpr absl::Duration kDaemonTimeout = absl::Seconds(15);
constexpr absl::Duration kPollInterval = absl::Milliseconds(50);

std::string Describe(const std::string& address, const std::string& state_dir) {
  return absl::StrCat(address, " (state: ", state_dir,
                      ", log: ", LogFile(state_dir), ")");
}

// The API token tetherd requires, made on the first start and kept in the
// state dir, readable by this user alone, where the CLI and the Python
// client find it. A token already there is kept.
absl::Status EnsureToken(const std::string& state_dir) {
  const std::string file = TokenFile(state_dir);
  if (access(file.c_str(), F_OK) == 0) return absl::OkStatus();
  return WriteFileAtomically(file, absl::StrCat(NewRandomToken(), "\n"), 0600);
}

// --tls: the certificates deploy/make_certs.sh made in <state_dir>/tls on
// the first start (a CA, tetherd's and the agents'), as tetherd's flags.
absl::StatusOr<std::vector<std::string>> TlsFlags(
    const std::string& state_dir) {
  const std::string dir = TlsDir(state_dir);
  if (access((dir + "/ca.crt").c_str(), R_OK) != 0) {
    ASSIGN_OR_RETURN(const std::string script,
                     FindDataFile("deploy/make_certs.sh"));
    ChildSpec spec;
    spec.executable = script;
    spec.argv = {script, dir};
    spec.socket_type = 0;
    spec.output_path = LogFile(state_dir);
    ASSIGN_OR_RETURN(const SpawnedChild child, SpawnChild(spec));
    if (const ProcessExit exit = WaitChild(child.pid);
        !(exit == ProcessExit{})) {
      return absl::InternalError(absl::StrCat("making certificates in ", dir,
                                              " failed (", exit.ToString(),
                                              "); see ", LogFile(state_dir)));
    }
  }
  return std::vector<std::string>{
      absl::StrCat("--tls_cert_file=", dir, "/tetherd.crt"),
      absl::StrCat("--tls_key_file=", dir, "/tetherd.key"),
      absl::StrCat("--tls_ca_file=", dir, "/ca.crt"),
      absl::StrCat("--agent_tls_cert_file=", dir, "/agent.crt"),
      absl::StrCat("--agent_tls_key_file=", dir, "/agent.key")};
}

// The TLS a health check of the state dir's tetherd needs: its own CA when
// `tether up --tls` made one.
TlsFiles OwnTls(const std::string& state_dir) {
  const std::string ca = absl::StrCat(TlsDir(state_dir), "/ca.crt");
  return access(ca.c_str(), R_OK) == 0 ? TlsFiles{"", "", ca} : TlsFiles{};
}

// Polls the endpoint file until tetherd answers its health check. While
// `child` runs (when set) its early exit ends the wait. Returns the address.
absl::StatusOr<std::string> WaitUntilServing(const std::string& state_dir,
                                             std::optional<pid_t> child) {
  const absl::Time deadline = absl::Now() + kDaemonTimeout;
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  absl::Status last = absl::UnavailableError("no endpoint file yet");
  while (absl::Now() < deadline) {
    if (child.has_value()) {
      if (std::optional<std::string> exit = ChildExit(*child)) {
        return absl::InternalError(absl::StrCat(
            "tetherd exited (", *exit, ") before serving; last lines of ",
            LogFile(state_dir), ":\n", TailOfFile(LogFile(state_dir), 20)));
      }
    }
    absl::StatusOr<std::string> endpoint = ReadFile(EndpointFile(state_dir));
    if (endpoint.ok()) {
      const std::string current(absl::StripAsciiWhitespace(*endpoint));
      if (current != address || channel == nullptr) {
        address = current;
        ASSIGN_OR_RETURN(channel, NewChannel(address, OwnTls(state_dir)));
      }
      last = CheckHealth(channel, absl::Seconds(1), "");
      if (last.ok()) return address;
    }
    absl::SleepFor(kPollInterval);
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "tetherd did not answer within ", absl::FormatDuration(kDaemonTimeout),
      " (", last.message(), "); see ", LogFile(state_dir)));
}

int RunUp(const CommandSpec& spec, const ParsedArgs& args, Context& ctx) {
  const std::string listen = args.Get("listen", kDefaultListen);
  if (absl::Status status = CheckAddress(listen); !status.ok()) {
    return UsageError(ctx, spec, absl::StrCat("--listen: ", status.message()));
  }
  const std::string backend = args.Get("backend", "local");
  std::vector<std::string> backend_flags = {
      absl::StrCat("--backend=", backend)};
  if (backend == "kubernetes") {
    // Pods must reach this tetherd: no default can guess that address.
    if (!args.Has("advertise-address") || !args.Has("agent-image")) {
      return UsageError(
          ctx, spec,
          "--backend kubernetes needs --agent-image (the agent bundle image "
          "pods pull) and --advertise-address (HOST:PORT where pods reach "
          "this tetherd)");
    }
    backend_flags.push_back(
        absl::StrCat("--agent_image=", args.Get("agent-image")));
    backend_flags.push_back(
        absl::StrCat("--advertise_address=", args.Get("advertise-address")));
    if (args.Has("namespace")) {
      backend_flags.push_back(
          absl::StrCat("--kube_namespace=", args.Get("namespace")));
    }
  } else if (backend != "local") {
    return UsageError(ctx, spec,
                      absl::StrCat("--backend: \"", backend,
                                   "\" is not local or kubernetes"));
  }
  std::string state_dir = ResolveStateDir(args.Get("state-dir"), ctx.env);
  if (absl::Status status = MakeDirs(state_dir); !status.ok()) {
    return Fail(ctx, status);
  }
  // tetherd and the printed paths get an absolute directory.
  char resolved[PATH_MAX];
  if (realpath(state_dir.c_str(), resolved) != nullptr) state_dir = resolved;

  absl::StatusOr<pid_t> pid = ReadPidFile(PidFile(state_dir));
  if (pid.ok() && IsProgramRunning(*pid, kProgram)) {
    absl::StatusOr<std::string> address =
        WaitUntilServing(state_dir, std::nullopt);
    if (!address.ok()) {
      return Fail(ctx, absl::Status(address.status().code(),
                                    absl::StrCat("tetherd (pid ", *pid,
                                                 ") is running but ",
                                                 address.status().message())));
    }
    *ctx.out << "tetherd already running at " << Describe(*address, state_dir)
             << std::endl;
    if (args.Has("listen") && *address != listen) {
      *ctx.err << "note: --listen " << listen
               << " ignored; run 'tether stop' first to move it" << std::endl;
    }
    return kExitOk;
  }
  // Whatever a dead tetherd left behind must not be mistaken for the new one.
  unlink(PidFile(state_dir).c_str());
  unlink(EndpointFile(state_dir).c_str());
  if (absl::Status status = EnsureToken(state_dir); !status.ok()) {
    return Fail(ctx, status);
  }
  backend_flags.push_back(
      absl::StrCat("--api_tokens_file=", TokenFile(state_dir)));
  if (args.Has("tls")) {
    if (backend != "local") {
      return UsageError(ctx, spec,
                        "--tls makes certificates for the local backend; in "
                        "a cluster give tetherd its --tls_* flags");
    }
    absl::StatusOr<std::vector<std::string>> tls = TlsFlags(state_dir);
    if (!tls.ok()) return Fail(ctx, tls.status());
    backend_flags.insert(backend_flags.end(), tls->begin(), tls->end());
  }

  absl::StatusOr<std::string> binary = FindDataFile("controlplane/tetherd");
  if (!binary.ok()) {
    return Fail(ctx, absl::FailedPreconditionError(
                         absl::StrCat("cannot find the tetherd binary: ",
                                      binary.status().message())));
  }
  std::vector<std::string> argv = {*binary, absl::StrCat("--listen=", listen),
                                   absl::StrCat("--state_dir=", state_dir)};
  argv.insert(argv.end(), backend_flags.begin(), backend_flags.end());
  if (args.Has("foreground")) {
    std::vector<char*> raw = ExecArgs(argv);
    execv(raw[0], raw.data());
    return Fail(ctx, ErrnoStatus(errno, "exec", *binary));
  }
  absl::StatusOr<pid_t> child = SpawnDetached(argv, LogFile(state_dir));
  if (!child.ok()) return Fail(ctx, child.status());
  absl::StatusOr<std::string> address = WaitUntilServing(state_dir, *child);
  if (!address.ok()) return Fail(ctx, address.status());
  *ctx.out << "tetherd running at " << Describe(*address, state_dir)
           << std::endl;
  return kExitOk;
}

int RunStop(const ParsedArgs& args, Context& ctx) {
  const std::string state_dir = ResolveStateDir(args.Get("state-dir"), ctx.env);
  const std::string pid_file = PidFile(state_dir);
  absl::StatusOr<pid_t> pid = ReadPidFile(pid_file);
  if (absl::IsNotFound(pid.status())) {
    *ctx.out << "tetherd is not running (no " << pid_file << ")" << std::endl;
    return kExitOk;
  }
  if (!pid.ok()) return Fail(ctx, pid.status());
  if (!IsProgramRunning(*pid, kProgram)) {
    unlink(pid_file.c_str());
    unlink(EndpointFile(state_dir).c_str());
    *ctx.out << "tetherd is not running (removed the stale " << pid_file << ")"
             << std::endl;
    return kExitOk;
  }
  if (kill(*pid, SIGTERM) != 0) {
    return Fail(ctx, ErrnoStatus(errno, absl::StrCat("kill ", *pid), pid_file));
  }
  const absl::Time deadline = absl::Now() + kDaemonTimeout;
  while (IsProgramRunning(*pid, kProgram)) {
    if (absl::Now() >= deadline) {
      return Fail(ctx, absl::DeadlineExceededError(absl::StrCat(
                           "tetherd (pid ", *pid, ") did not exit within ",
                           absl::FormatDuration(kDaemonTimeout),
                           " of SIGTERM; see ", LogFile(state_dir))));
    }
    absl::SleepFor(kPollInterval);
  }
  *ctx.out << "tetherd stopped (pid " << *pid << ")" << std::endl;
  return kExitOk;
}

}  // namespace

Command UpCommand() {
  Command command;
  CommandSpec& spec = command.spec;
  spec.name = "up";
  spec.summary = "Start a local tetherd in the background.";
  spec.description =
      "Runs tetherd, logging to <state-dir>/tetherd.log, and waits until it\n"
      "answers. Does nothing when it is already running. The first start\n"
      "makes an API token in <state-dir>/tetherd.token (mode 0600): tetherd\n"
      "requires it, and the CLI and the Python client send it. With the local\n"
      "backend replicas are processes on this machine; with --backend\n"
      "kubernetes they are pods in the cluster $KUBECONFIG (or\n"
      "~/.kube/config) points at, whose agents dial --advertise-address.\n";
  spec.flags = {
      {"state-dir", '\0', "DIR",
       "state directory (default: $TETHER_STATE_DIR, then\n~/.tether)"},
      {"listen", '\0', "HOST:PORT",
       absl::StrCat("address to serve on (default: ", kDefaultListen,
                    ";\nport 0 picks a free one)")},
      {"foreground", '\0', "", "run in this terminal instead of as a daemon"},
      {"tls", '\0', "",
       "local: serve TLS to the CLI, clients and agents, with\n"
       "certificates made once in <state-dir>/tls (a CA of its own;\n"
       "clients find its ca.crt there)"},
      {"backend", '\0', "NAME", "local (default) or kubernetes"},
      {"namespace", '\0', "NS",
       "kubernetes: namespace of the services (default: the\nkubeconfig "
       "context's)"},
      {"agent-image", '\0', "IMAGE",
       "kubernetes: image with the agent bundle\n(deploy/agent.Dockerfile)"},
      {"advertise-address", '\0', "HOST:PORT",
       "kubernetes: where pods reach this tetherd"},
  };
  command.run = [spec](const ParsedArgs& args, Context& ctx) {
    return RunUp(spec, args, ctx);
  };
  return command;
}

Command StopCommand() {
  Command command;
  CommandSpec& spec = command.spec;
  spec.name = "stop";
  spec.summary = "Stop the tetherd started by 'tether up'.";
  spec.description =
      "Sends SIGTERM to the pid in <state-dir>/tetherd.pid and waits for it\n"
      "to exit. Its replicas stop with it; service records stay and come\n"
      "back with the next 'tether up'.\n";
  spec.flags = {{"state-dir", '\0', "DIR",
                 "state directory (default: $TETHER_STATE_DIR, then\n"
                 "~/.tether)"}};
  command.run = RunStop;
  return command;
}

}  // namespace tether::cli
