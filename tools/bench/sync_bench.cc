// Code sync benchmark: Tether's sync against a real rsync daemon, side by
// side in one run, on the same tree and the same changes.
//
//   bazel run -c opt //tools/bench:sync [-- --files=2000 --big_mib=64]
//
// Tree: --files source files of ~--file_bytes each plus one --big_mib random
// binary. Cases, in order: initial (empty receivers), one_line_edit (one
// line of one source file), append (--append_mib random bytes appended to
// the binary), no_change.
//
// rsync: `rsync -a --stats SRC/ rsync://127.0.0.1:PORT/bench/` against
// `rsync --daemon --no-detach` on a free loopback port, started and stopped
// here. wall_s is the client's run (it exits once the receiver finished);
// bytes = "Total bytes sent" + "Total bytes received" from --stats.
//
// Tether: a real tetherd (tests/tetherd_process.h) on loopback. wall_s runs
// from creating the channel (as a CLI command would) through UploadTree,
// the index cache load and save included, to the revision stored in
// tetherd; bytes = serialized request + response messages of every RPC on
// that channel, counted by a client interceptor (not by the code under
// test). Then an agent-side PullRevision of the revision into an agent work
// dir (authenticated with a service token) is measured the same way:
// pull_s, pull_bytes. Every receiver's tree is checked against the source.
//
// Before each case the tree changes, then the run pauses --think_ms (the
// person saving a file, then typing the command) outside the measurement.
// One JSON line per case and tool on stdout.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/exec_args.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "common/test_util.h"
#include "google/protobuf/message_lite.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/client_interceptor.h"
#include "sync/code_puller.h"
#include "sync/revision_builder.h"
#include "sync/tree.h"
#include "sync/uploader.h"
#include "tests/tetherd_process.h"
#include "tether/v1/agent.grpc.pb.h"

ABSL_FLAG(int, files, 2000, "source files in the tree");
ABSL_FLAG(int, file_bytes, 4096, "approximate size of each source file");
ABSL_FLAG(int, big_mib, 64, "size of the random binary, MiB");
ABSL_FLAG(int, append_mib, 1, "bytes appended to the binary, MiB");
ABSL_FLAG(int, think_ms, 200,
          "pause between changing the tree and syncing it (not measured)");

namespace tether::bench {
namespace {

using tether::testing::TetherdProcess;

[[noreturn]] void Die(const std::string& what) {
  fprintf(stderr, "sync bench: %s\n", what.c_str());
  exit(1);
}

void Check(const absl::Status& status, const std::string& what) {
  if (!status.ok()) Die(absl::StrCat(what, ": ", status.ToString()));
}

// ---- The tree ---------------------------------------------------------

std::string SourceFile(int index, size_t bytes, std::mt19937_64& rng) {
  std::string out = absl::StrCat("# module ", index, "\nimport math\n\n");
  for (int f = 0; out.size() < bytes; ++f) {
    absl::StrAppend(&out, "def f", index, "_", f, "(x):\n    return x * ",
                    rng() % 100000, " + math.sqrt(", rng() % 1000, ")\n\n");
  }
  return out;
}

std::string SourcePath(int index) {
  return absl::StrFormat("pkg%02d/mod%04d.py", index / 100, index);
}

void AppendRandom(const std::string& path, uint64_t bytes, uint64_t seed) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) Die("open " + path);
  std::mt19937_64 rng(seed);
  std::string buf(1 << 20, '\0');
  for (uint64_t done = 0; done < bytes; done += buf.size()) {
    for (size_t i = 0; i < buf.size(); i += 8) {
      const uint64_t x = rng();
      memcpy(buf.data() + i, &x, 8);
    }
    if (write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) {
      Die("write " + path);
    }
  }
  close(fd);
}

void MakeTree(const std::string& src) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < absl::GetFlag(FLAGS_files); ++i) {
    const std::string path = absl::StrCat(src, "/", SourcePath(i));
    Check(MakeDirs(path.substr(0, path.rfind('/'))), "mkdir");
    Check(WriteFileAtomically(
              path, SourceFile(i, absl::GetFlag(FLAGS_file_bytes), rng)),
          "write");
  }
  Check(MakeDirs(src + "/data"), "mkdir");
  AppendRandom(src + "/data/blob.bin",
               uint64_t(absl::GetFlag(FLAGS_big_mib)) << 20, 7);
}

std::string TreeIdOf(const std::string& dir) {
  absl::StatusOr<tether::v1::Tree> tree = sync::ScanTree(dir, {});
  if (!tree.ok())
    Die(absl::StrCat("scan ", dir, ": ", tree.status().ToString()));
  return sync::TreeId(*tree);
}

// ---- rsync --------------------------------------------------------------

bool CanConnect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok =
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

pid_t Spawn(const std::vector<std::string>& args, int stdout_fd) {
  std::vector<char*> argv = ExecArgs(args);
  const pid_t pid = fork();
  if (pid == 0) {
    if (stdout_fd >= 0) dup2(stdout_fd, 1);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// An rsync daemon serving module "bench" (writable) on a loopback port.
class RsyncDaemon {
 public:
  explicit RsyncDaemon(const std::string& dir) : dest_(dir + "/dest") {
    Check(MakeDirs(dest_), "mkdir");
    const std::string config = dir + "/rsyncd.conf";
    Check(WriteFileAtomically(
              config,
              absl::StrCat("pid file = ", dir, "/rsyncd.pid\nlog file = ", dir,
                           "/rsyncd.log\nuse chroot = no\nuid = ", getuid(),
                           "\ngid = ", getgid(), "\n[bench]\n  path = ", dest_,
                           "\n  read only = no\n")),
          "rsyncd.conf");
    port_ = testing::UnusedLoopbackPort();
    if (port_ == 0) Die("cannot find a free port");
    pid_ = Spawn(
        {"rsync", "--daemon", "--no-detach", "--address=127.0.0.1",
         absl::StrCat("--port=", port_), absl::StrCat("--config=", config)},
        -1);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!CanConnect(port_)) {
      if (absl::Now() > deadline) Die("rsync daemon did not start");
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  ~RsyncDaemon() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }

  const std::string& dest() const { return dest_; }

  // Runs one client sync; returns wall seconds and wire bytes.
  std::pair<double, int64_t> Sync(const std::string& src) const {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) Die("pipe");
    const absl::Time start = absl::Now();
    const pid_t pid =
        Spawn({"rsync", "-a", "--stats", src + "/",
               absl::StrCat("rsync://127.0.0.1:", port_, "/bench/")},
              pipe_fds[1]);
    close(pipe_fds[1]);
    std::string output;
    char buf[4096];
    ssize_t n;
    while ((n = read(pipe_fds[0], buf, sizeof(buf))) > 0) output.append(buf, n);
    close(pipe_fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    const double wall = absl::ToDoubleSeconds(absl::Now() - start);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      Die("rsync failed:\n" + output);
    }
    int64_t bytes = 0;
    for (absl::string_view line : absl::StrSplit(output, '\n')) {
      for (absl::string_view key :
           {"Total bytes sent: ", "Total bytes received: "}) {
        if (absl::ConsumePrefix(&line, key)) {
          int64_t value = 0;
          if (!absl::SimpleAtoi(absl::StrReplaceAll(line, {{",", ""}}),
                                &value)) {
            Die("cannot parse rsync --stats");
          }
          bytes += value;
        }
      }
    }
    return {wall, bytes};
  }

 private:
  const std::string dest_;
  int port_ = 0;
  pid_t pid_ = 0;
};

// ---- Tether ---------------------------------------------------------------

// Adds the serialized size of every message sent and received on a channel.
class CountingInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(std::atomic<int64_t>* bytes) : bytes_(bytes) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_MESSAGE)) {
      if (const auto* message =
              static_cast<const google::protobuf::MessageLite*>(
                  methods->GetSendMessage())) {
        *bytes_ += message->ByteSizeLong();
      }
    }
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_MESSAGE)) {
      if (const auto* message =
              static_cast<const google::protobuf::MessageLite*>(
                  methods->GetRecvMessage())) {
        *bytes_ += message->ByteSizeLong();
      }
    }
    methods->Proceed();
  }

 private:
  std::atomic<int64_t>* const bytes_;
};

class CountingFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit CountingFactory(std::atomic<int64_t>* bytes) : bytes_(bytes) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new CountingInterceptor(bytes_);
  }

 private:
  std::atomic<int64_t>* const bytes_;
};

std::shared_ptr<grpc::Channel> CountingChannel(const std::string& address,
                                               std::atomic<int64_t>* bytes) {
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      factories;
  factories.push_back(std::make_unique<CountingFactory>(bytes));
  grpc::ChannelArguments args;
  // A fresh connection per sync, as a new CLI process would make.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      address, grpc::InsecureChannelCredentials(), args, std::move(factories));
}

struct TetherRun {
  double wall_s = 0;
  int64_t bytes = 0;
  sync::UploadResult upload;
  double pull_s = 0;
  int64_t pull_bytes = 0;
};

class Tether {
 public:
  explicit Tether(const std::string& dir)
      : cache_dir_(dir + "/cache"), workdir_(dir + "/agent") {
    absl::StatusOr<std::unique_ptr<TetherdProcess>> tetherd =
        TetherdProcess::Start(dir + "/state");
    if (!tetherd.ok()) Die(tetherd.status().ToString());
    tetherd_ = *std::move(tetherd);
    token_ = DeployTokenService(dir + "/echo");
  }

  TetherRun Sync(const std::string& src) {
    TetherRun run;
    std::atomic<int64_t> wire{0};
    absl::Time start = absl::Now();
    {
      auto stub =
          tether::v1::ControlPlane::NewStub(CountingChannel(address(), &wire));
      sync::UploadOptions options;
      options.cache_dir = cache_dir_;
      options.endpoint = address();
      absl::StatusOr<sync::UploadResult> upload =
          sync::UploadTree(*stub, src, options);
      if (!upload.ok()) Die("UploadTree: " + upload.status().ToString());
      run.upload = *std::move(upload);
    }
    run.wall_s = absl::ToDoubleSeconds(absl::Now() - start);
    run.bytes = wire;

    std::atomic<int64_t> pull_wire{0};
    start = absl::Now();
    {
      auto gateway = tether::v1::AgentGateway::NewStub(
          CountingChannel(address(), &pull_wire));
      absl::StatusOr<std::string> dir = sync::PullRevision(
          *gateway, workdir_, run.upload.result.revision(),
          [this](grpc::ClientContext& context) {
            context.AddMetadata("authorization", "Bearer " + token_);
          });
      if (!dir.ok()) Die("PullRevision: " + dir.status().ToString());
    }
    run.pull_s = absl::ToDoubleSeconds(absl::Now() - start);
    run.pull_bytes = pull_wire;
    return run;
  }

  std::string agent_dir(const std::string& revision) const {
    return sync::RevisionDir(workdir_, revision);
  }

 private:
  const std::string& address() const { return tetherd_->address(); }

  // PullCode wants a service token; a native echo service provides one.
  std::string DeployTokenService(const std::string& dir) {
    absl::StatusOr<std::string> library =
        FindDataFile("examples/native_echo/libecho.so");
    if (!library.ok()) Die(library.status().ToString());
    absl::StatusOr<std::string> bytes = ReadFile(*library);
    if (!bytes.ok()) Die(bytes.status().ToString());
    Check(MakeDirs(dir), "mkdir");
    Check(WriteFileAtomically(dir + "/libecho.so", *bytes), "stage libecho");
    chmod((dir + "/libecho.so").c_str(), 0755);
    sync::UploadOptions options;
    options.use_cache = false;
    absl::StatusOr<sync::UploadResult> upload =
        sync::UploadTree(tetherd_->stub(), dir, options);
    if (!upload.ok()) Die(upload.status().ToString());
    tether::v1::ServiceSpec spec;
    spec.set_name("echo");
    spec.mutable_callable()->set_runtime(tether::v1::RUNTIME_NATIVE);
    spec.mutable_callable()->set_module("libecho.so");
    grpc::Status deployed = tetherd_->Deploy(spec, upload->result.revision());
    if (!deployed.ok()) Die("deploy: " + deployed.error_message());
    std::string token = tetherd_->ServiceToken("echo");
    if (token.empty()) Die("no service token");
    return token;
  }

  const std::string cache_dir_;
  const std::string workdir_;
  std::unique_ptr<TetherdProcess> tetherd_;
  std::string token_;
};

// ---- Cases ----------------------------------------------------------------

void Print(const std::string& tool, const std::string& name, double wall_s,
           int64_t bytes, const std::string& extra = "") {
  printf(
      "{\"bench\":\"sync\",\"tool\":\"%s\",\"case\":\"%s\",\"wall_s\":%.4f,"
      "\"bytes\":%lld%s}\n",
      tool.c_str(), name.c_str(), wall_s, static_cast<long long>(bytes),
      extra.c_str());
  fflush(stdout);
}

void RunCase(const std::string& name, const std::string& src,
             RsyncDaemon& rsync, Tether& tether) {
  absl::SleepFor(absl::Milliseconds(absl::GetFlag(FLAGS_think_ms)));
  const std::string want = TreeIdOf(src);

  const auto [rsync_wall, rsync_bytes] = rsync.Sync(src);
  if (TreeIdOf(rsync.dest()) != want) Die("rsync receiver differs: " + name);
  Print("rsync", name, rsync_wall, rsync_bytes);

  const TetherRun run = tether.Sync(src);
  if (run.upload.result.revision() != want) Die("tetherd revision differs");
  if (TreeIdOf(tether.agent_dir(want)) != want) Die("agent tree differs");
  // The interceptor and the uploader's own count must agree.
  const uint64_t counted = run.upload.bytes_sent + run.upload.bytes_received;
  if (static_cast<uint64_t>(run.bytes) != counted) {
    fprintf(stderr, "note: interceptor counted %lld bytes, uploader %llu\n",
            static_cast<long long>(run.bytes),
            static_cast<unsigned long long>(counted));
  }
  Print("tether", name, run.wall_s, run.bytes,
        absl::StrFormat(",\"blobs_sent\":%d,\"deltas_sent\":%d,"
                        "\"manifest_diff\":%s,\"pull_s\":%.4f,"
                        "\"pull_bytes\":%lld",
                        run.upload.blobs_sent, run.upload.deltas_sent,
                        run.upload.manifest_diff ? "true" : "false", run.pull_s,
                        static_cast<long long>(run.pull_bytes)));
}

int Run() {
  const std::string dir = testing::NewTempDir("sync-bench");
  const std::string src = dir + "/src";
  MakeTree(src);
  RsyncDaemon rsync(dir + "/rsync");
  Tether tether(dir + "/tether");

  RunCase("initial", src, rsync, tether);

  // One line of one source file.
  const std::string edited = absl::StrCat(src, "/", SourcePath(700));
  absl::StatusOr<std::string> text = ReadFile(edited);
  if (!text.ok()) Die(text.status().ToString());
  const size_t line = text->find("return x * ");
  if (line == std::string::npos) Die("no line to edit");
  text->replace(line, 11, "return x / ");
  Check(WriteFileAtomically(edited, *text), "edit");
  RunCase("one_line_edit", src, rsync, tether);

  AppendRandom(src + "/data/blob.bin",
               uint64_t(absl::GetFlag(FLAGS_append_mib)) << 20, 8);
  RunCase("append", src, rsync, tether);

  RunCase("no_change", src, rsync, tether);
  Check(RemoveAll(dir), "cleanup");
  return 0;
}

}  // namespace
}  // namespace tether::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tether::bench::Run();
}
