// Load benchmark: many concurrent callers against one local service for a
// bounded time, on each call path, with the processes' peak memory.
//
//   bazel run -c opt //tools/bench:load [-- --callers=1000 --duration=20s]
//
// Cases, one JSON object each on stdout, all at the same concurrency:
//   raw_grpc  callback gRPC echo of the same bytes, in as many child
//             processes as the service has replicas: the floor of any path
//             on this machine (the anchor)
//   proxied   client → tetherd (ControlPlane.Call) → agent → native worker
//   direct    client → agent (Agent.Invoke, endpoints from WatchEndpoints,
//             the agent token) → native worker
// Callers are closed loops on gRPC's callback client: each issues its next
// call when its previous one completes, so 1,000 callers need no thread of
// their own. Reported: throughput, p50/p99/p999 latency, errors by status
// code, the peak RSS (VmHWM, reset before each case) of tetherd and of every
// process under it (agents and their workers), and each process's threads
// and CPU time per call.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "common/serving_process.h"
#include "grpcpp/grpcpp.h"
#include "sync/uploader.h"
#include "tests/tetherd_process.h"
#include "tether/v1/agent.grpc.pb.h"
#include "tether/v1/control_plane.grpc.pb.h"
#include "tools/bench/proc_stats.h"

ABSL_FLAG(int, callers, 1000, "concurrent closed-loop callers per case");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(20),
          "measured time per case");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2),
          "load before measuring, per case (not counted)");
ABSL_FLAG(int, payload_bytes, 16, "bytes each call sends and gets back");
// Two cores: one replica per core, each with one native worker. More
// processes than cores only add context switches to a call that does no
// work, and two replicas exercise the balancing of both paths.
ABSL_FLAG(int, replicas, 2, "replicas of the service");
ABSL_FLAG(int, workers, 1, "worker processes per replica");
ABSL_FLAG(int, channels, 4,
          "client connections per target (callers are spread over them)");
ABSL_FLAG(std::vector<std::string>, cases,
          std::vector<std::string>({"raw_grpc", "proxied", "direct"}),
          "cases to run, in order");
ABSL_FLAG(int, rounds, 1,
          "times to run the cases, interleaved (drift on a shared machine "
          "then hits every case alike)");

namespace tether::bench {
namespace {

using tether::testing::TetherdProcess;
using Clock = std::chrono::steady_clock;

// Starts one call for caller `caller`; `done` runs once when it completes,
// with "" on success or what went wrong (a status code name, or why the
// answer was wrong).
using Done = std::function<void(const std::string& error)>;
using StartCall = std::function<void(int caller, Done done)>;

std::string CodeName(const grpc::Status& status) {
  return absl::StatusCodeToString(
      static_cast<absl::StatusCode>(status.error_code()));
}

// What a case's callers measured.
struct Outcome {
  // One per caller.
  std::vector<std::vector<float>> latencies_us;
  // By status code name (or bad answer), warm-up included.
  std::map<std::string, int64_t> errors;
  // Calls that completed, warm-up and errors included: what the processes'
  // CPU time is shared over.
  int64_t completed = 0;
};

// One case's closed loops. The completion callbacks hold it, so the last
// one to finish destroys it, which hands `outcome` over and notifies `done`:
// after that no callback of the case touches anything of the bench's.
// Thread-safe: a caller's calls run one at a time, so its latencies need no
// lock; errors are under `mu`.
struct LoadRun {
  LoadRun(StartCall start_call, Clock::time_point measure_from,
          Clock::time_point measure_until, int callers, Outcome* outcome,
          absl::Notification* done)
      : start_call(std::move(start_call)),
        measure_from(measure_from),
        measure_until(measure_until),
        latencies_us(callers),
        outcome(outcome),
        done(done) {}
  ~LoadRun() {
    outcome->latencies_us = std::move(latencies_us);
    outcome->errors = std::move(errors);
    outcome->completed = completed;
    done->Notify();
  }

  const StartCall start_call;
  const Clock::time_point measure_from;
  const Clock::time_point measure_until;
  std::vector<std::vector<float>> latencies_us;
  Outcome* const outcome;
  absl::Notification* const done;
  absl::Mutex mu;
  std::map<std::string, int64_t> errors ABSL_GUARDED_BY(mu);
  std::atomic<int64_t> completed{0};
};

// Issues `caller`'s next call unless the run is over.
void Issue(const std::shared_ptr<LoadRun>& run, int caller) {
  const Clock::time_point start = Clock::now();
  if (start >= run->measure_until) return;
  run->start_call(caller, [run, caller, start](const std::string& error) {
    run->completed.fetch_add(1, std::memory_order_relaxed);
    if (!error.empty()) {
      absl::MutexLock lock(&run->mu);
      ++run->errors[error];
    } else if (start >= run->measure_from) {
      run->latencies_us[caller].push_back(
          std::chrono::duration<float, std::micro>(Clock::now() - start)
              .count());
    }
    Issue(run, caller);
  });
}

struct LoadResult {
  int64_t calls = 0;
  int64_t completed = 0;  // Outcome::completed
  double calls_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
  int64_t errors = 0;
  std::string errors_by_code;  // A JSON object.
};

LoadResult Drive(StartCall start_call) {
  const int callers = absl::GetFlag(FLAGS_callers);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const Clock::time_point measure_from =
      Clock::now() + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_warmup));
  Outcome outcome;
  absl::Notification done;
  {
    auto run = std::make_shared<LoadRun>(
        std::move(start_call), measure_from,
        measure_from + absl::ToChronoNanoseconds(duration), callers, &outcome,
        &done);
    for (int caller = 0; caller < callers; ++caller) Issue(run, caller);
  }
  done.WaitForNotification();

  std::vector<float> all;
  for (const auto& latencies : outcome.latencies_us) {
    all.insert(all.end(), latencies.begin(), latencies.end());
  }
  std::sort(all.begin(), all.end());
  LoadResult result;
  result.calls = all.size();
  result.completed = outcome.completed;
  result.calls_per_s = all.size() / absl::ToDoubleSeconds(duration);
  auto at = [&all](double p) {
    return all.empty() ? 0.0
                       : all[std::min(all.size() - 1,
                                      static_cast<size_t>(p * all.size()))];
  };
  result.p50_us = at(0.5);
  result.p99_us = at(0.99);
  result.p999_us = at(0.999);
  result.max_us = all.empty() ? 0.0 : all.back();
  std::vector<std::string> codes;
  for (const auto& [code, count] : outcome.errors) {
    result.errors += count;
    codes.push_back(absl::StrFormat("\"%s\":%d", code, count));
  }
  result.errors_by_code = absl::StrCat("{", absl::StrJoin(codes, ","), "}");
  return result;
}

// Appends `--channels` stubs of `Service` on as many connections to
// `address`: distinct channel args keep gRPC from sharing one subchannel
// (and so one TCP connection) between them.
template <typename Service>
void AddStubs(const std::string& address,
              std::vector<std::unique_ptr<typename Service::Stub>>* stubs) {
  for (int i = 0; i < absl::GetFlag(FLAGS_channels); ++i) {
    grpc::ChannelArguments args;
    args.SetInt("tether.bench.connection", i);
    stubs->push_back(Service::NewStub(grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), args)));
  }
}

// What is wrong with an echo's answer: "" when `payload` came back.
std::string EchoError(const grpc::Status& status,
                      const tether::v1::CallResult& result,
                      const std::string& payload) {
  if (!status.ok()) return CodeName(status);
  if (result.has_error()) return "result_error";
  return result.payload() == payload ? "" : "wrong_answer";
}

// Agent.Invoke of `payload` over `stubs` (caller i uses stub i mod size;
// they must outlive the case), with `token` as bearer when not empty.
StartCall InvokeCalls(
    const std::vector<std::unique_ptr<tether::v1::Agent::Stub>>* stubs,
    std::string token, std::string payload) {
  return [stubs, token = std::move(token), payload = std::move(payload)](
             int caller, Done done) {
    struct Call {
      grpc::ClientContext context;
      tether::v1::InvokeRequest request;
      tether::v1::InvokeResponse response;
    };
    auto call = std::make_shared<Call>();
    if (!token.empty()) {
      call->context.AddMetadata("authorization", "Bearer " + token);
    }
    call->request.set_codec(tether::v1::CODEC_RAW);
    call->request.set_payload(payload);
    Call* raw = call.get();
    (*stubs)[caller % stubs->size()]->async()->Invoke(
        &raw->context, &raw->request, &raw->response,
        [call = std::move(call),
         done = std::move(done)](const grpc::Status& status) mutable {
          const std::string error = EchoError(status, call->response.result(),
                                              call->request.payload());
          call.reset();  // No ClientContext outlives its case.
          done(error);
        });
  };
}

// ControlPlane.Call of `payload` to `service` over `stubs` (which must
// outlive the case).
StartCall ProxiedCalls(
    const std::vector<std::unique_ptr<tether::v1::ControlPlane::Stub>>* stubs,
    std::string service, std::string payload) {
  return [stubs, service = std::move(service), payload = std::move(payload)](
             int caller, Done done) {
    struct Call {
      grpc::ClientContext context;
      tether::v1::CallRequest request;
      tether::v1::CallResponse response;
    };
    auto call = std::make_shared<Call>();
    call->request.set_service(service);
    call->request.set_codec(tether::v1::CODEC_RAW);
    call->request.set_payload(payload);
    Call* raw = call.get();
    (*stubs)[caller % stubs->size()]->async()->Call(
        &raw->context, &raw->request, &raw->response,
        [call = std::move(call),
         done = std::move(done)](const grpc::Status& status) mutable {
          const std::string error =
              status.ok() && call->response.results_size() != 1
                  ? "no_result"
                  : EchoError(status,
                              status.ok() ? call->response.results(0)
                                          : tether::v1::CallResult(),
                              call->request.payload());
          call.reset();  // No ClientContext outlives its case.
          done(error);
        });
  };
}

// The floor: Agent.Invoke echoed by a callback server, nothing else.
class EchoService final : public tether::v1::Agent::CallbackService {
  grpc::ServerUnaryReactor* Invoke(
      grpc::CallbackServerContext* context,
      const tether::v1::InvokeRequest* request,
      tether::v1::InvokeResponse* response) override {
    response->mutable_result()->set_payload(request->payload());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// --- Processes and their memory -------------------------------------------

struct ProcessInfo {
  pid_t pid = 0;
  pid_t parent = 0;
  std::string name;  // /proc/PID/comm
  int64_t rss_before_kib = 0;
  double cpu_before_s = 0;
};

std::vector<ProcessInfo> AllProcesses() {
  std::vector<ProcessInfo> processes;
  auto entries = ListDir("/proc");
  if (!entries.ok()) return processes;
  for (const std::string& entry : *entries) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry, &pid)) continue;
    auto stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
    if (!stat.ok() || stat->rfind(')') == std::string::npos) continue;
    // "PID (comm) STATE PPID ...": comm may hold spaces and parentheses.
    const size_t open = stat->find('(');
    const size_t close = stat->rfind(')');
    std::vector<std::string> fields =
        absl::StrSplit(stat->substr(close + 2), ' ');
    int parent = 0;
    if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &parent)) continue;
    processes.push_back(
        {pid, parent, stat->substr(open + 1, close - open - 1)});
  }
  return processes;
}

// `root` and every process under it.
std::vector<ProcessInfo> Tree(pid_t root) {
  const std::vector<ProcessInfo> all = AllProcesses();
  std::vector<ProcessInfo> tree;
  for (const ProcessInfo& process : all) {
    if (process.pid == root) tree.push_back(process);
  }
  for (size_t i = 0; i < tree.size(); ++i) {
    for (const ProcessInfo& process : all) {
      if (process.parent == tree[i].pid) tree.push_back(process);
    }
  }
  return tree;
}

// Resets VmHWM to the current RSS (clear_refs "5", Linux 4.0+), so the next
// reading is this case's peak; keeps that RSS and the CPU time so far.
void ResetPeaks(std::vector<ProcessInfo>& processes) {
  for (ProcessInfo& process : processes) {
    process.rss_before_kib = StatusNumber(process.pid, "VmRSS");
    process.cpu_before_s = CpuSeconds(process.pid);
    const int fd =
        open(absl::StrCat("/proc/", process.pid, "/clear_refs").c_str(),
             O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)!write(fd, "5", 1);
    close(fd);
  }
}

// JSON fields: each process's RSS before, peak, threads and CPU per call
// (over `calls`); with `tetherd` (0: none) also tetherd's RSS before and
// peak, and the sums of those of every process under it. `now` is the tree
// after the load, `before` as reset (a process that came since, such as a
// restarted worker, counts from 0).
std::string Processes(const std::vector<ProcessInfo>& before,
                      const std::vector<ProcessInfo>& now, pid_t tetherd,
                      int64_t calls) {
  int64_t hwm_sum[2] = {0, 0};     // tetherd, under it
  int64_t before_sum[2] = {0, 0};  // the same
  std::vector<std::string> each;
  for (const ProcessInfo& process : now) {
    const int64_t hwm = StatusNumber(process.pid, "VmHWM");
    ProcessInfo old;
    for (const ProcessInfo& candidate : before) {
      if (candidate.pid == process.pid) old = candidate;
    }
    // Whether tetherd is this process or one of its ancestors.
    int under = -1;
    for (pid_t pid = process.pid; pid > 0 && under < 0;) {
      if (pid == tetherd) under = pid == process.pid ? 0 : 1;
      pid_t parent = 0;
      for (const ProcessInfo& candidate : now) {
        if (candidate.pid == pid) parent = candidate.parent;
      }
      pid = parent;
    }
    if (under >= 0) {
      hwm_sum[under] += hwm;
      before_sum[under] += old.rss_before_kib;
    }
    each.push_back(absl::StrFormat(
        "{\"pid\":%d,\"name\":\"%s\",\"rss_before_kib\":%d,"
        "\"vmhwm_kib\":%d,\"threads\":%d,\"cpu_us_per_call\":%.1f}",
        process.pid, process.name, old.rss_before_kib, hwm,
        StatusNumber(process.pid, "Threads"),
        (CpuSeconds(process.pid) - old.cpu_before_s) * 1e6 /
            std::max<int64_t>(calls, 1)));
  }
  std::string fields;
  if (tetherd > 0) {
    fields = absl::StrFormat(
        ",\"tetherd_rss_before_kib\":%d,\"tetherd_vmhwm_kib\":%d,"
        "\"agents_rss_before_kib\":%d,\"agents_vmhwm_kib\":%d",
        before_sum[0], hwm_sum[0], before_sum[1], hwm_sum[1]);
  }
  return absl::StrCat(fields, ",\"processes\":[", absl::StrJoin(each, ","),
                      "]");
}

std::string LoadAverage() {
  auto text = ReadFile("/proc/loadavg");
  if (!text.ok()) return "";
  std::vector<std::string> fields = absl::StrSplit(*text, ' ');
  return fields.size() >= 3
             ? absl::StrCat(fields[0], " ", fields[1], " ", fields[2])
             : "";
}

// Runs one case and prints its line, with every process of the bench's
// tree; `tetherd` (0: none) gets its memory and its agents' summed up.
LoadResult Report(const std::string& name, int round, StartCall start_call,
                  pid_t tetherd, double anchor_per_s) {
  std::vector<ProcessInfo> tree = Tree(getpid());
  ResetPeaks(tree);
  const std::string load_before = LoadAverage();
  LoadResult r = Drive(std::move(start_call));
  std::string extra;
  if (anchor_per_s > 0) {
    extra = absl::StrFormat(",\"vs_raw\":%.2f", r.calls_per_s / anchor_per_s);
  }
  absl::StrAppend(&extra,
                  Processes(tree, Tree(getpid()), tetherd, r.completed));
  printf("%s\n",
         absl::StrFormat(
             "{\"bench\":\"load\",\"case\":\"%s\",\"round\":%d,"
             "\"callers\":%d,"
             "\"channels\":%d,\"replicas\":%d,\"workers\":%d,"
             "\"payload_bytes\":%d,\"duration_s\":%.0f,\"calls\":%d,"
             "\"calls_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
             "\"p999_us\":%.1f,\"max_us\":%.1f,\"errors\":%d,"
             "\"errors_by_code\":%s%s,\"loadavg_before\":\"%s\","
             "\"loadavg_after\":\"%s\"}",
             name, round, absl::GetFlag(FLAGS_callers),
             absl::GetFlag(FLAGS_channels), absl::GetFlag(FLAGS_replicas),
             absl::GetFlag(FLAGS_workers), absl::GetFlag(FLAGS_payload_bytes),
             absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration)), r.calls,
             r.calls_per_s, r.p50_us, r.p99_us, r.p999_us, r.max_us, r.errors,
             r.errors_by_code, extra, load_before, LoadAverage())
             .c_str());
  fflush(stdout);
  return r;
}

// --- The service ----------------------------------------------------------

// Deploys libecho.so as `name` with the flags' replicas and workers.
bool DeployEcho(TetherdProcess& tetherd, const std::string& name) {
  const std::string dir = testing::NewTempDir("load-echo");
  auto library = FindDataFile("examples/native_echo/libecho.so");
  auto bytes = library.ok() ? ReadFile(*library) : library.status();
  if (!bytes.ok() || !WriteFileAtomically(dir + "/libecho.so", *bytes).ok()) {
    fprintf(stderr, "cannot stage libecho.so\n");
    return false;
  }
  chmod((dir + "/libecho.so").c_str(), 0755);
  auto uploaded = sync::UploadTree(tetherd.stub(), dir, sync::UploadOptions());
  if (!uploaded.ok()) {
    fprintf(stderr, "upload: %s\n", uploaded.status().ToString().c_str());
    return false;
  }
  tether::v1::ServiceSpec spec;
  spec.set_name(name);
  spec.mutable_callable()->set_runtime(tether::v1::RUNTIME_NATIVE);
  spec.mutable_callable()->set_module("libecho.so");
  spec.mutable_compute()->set_replicas(absl::GetFlag(FLAGS_replicas));
  spec.mutable_compute()->set_workers(absl::GetFlag(FLAGS_workers));
  const grpc::Status deployed =
      tetherd.Deploy(spec, uploaded->result.revision());
  if (!deployed.ok()) {
    fprintf(stderr, "deploy: %s\n", deployed.error_message().c_str());
    return false;
  }
  return true;
}

// The agents' addresses once every replica is an endpoint (empty on
// timeout, said on stderr).
std::vector<std::string> ReadyEndpoints(TetherdProcess& tetherd,
                                        const std::string& service) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  tether::v1::WatchEndpointsRequest request;
  request.set_service(service);
  auto reader = tetherd.stub().WatchEndpoints(&context, request);
  tether::v1::Endpoints endpoints;
  std::vector<std::string> addresses;
  while (reader->Read(&endpoints)) {
    if (endpoints.endpoints_size() == absl::GetFlag(FLAGS_replicas)) {
      for (const auto& endpoint : endpoints.endpoints()) {
        addresses.push_back(endpoint.address());
      }
      break;
    }
  }
  context.TryCancel();
  reader->Finish();
  if (addresses.empty()) fprintf(stderr, "the replicas never became ready\n");
  return addresses;
}

// Serves EchoService in a child process, as an agent serves in its own, so
// the anchor's server does not share this process's gRPC threads with its
// client. Must run before this process starts gRPC (fork). Returns the pid
// (0 on failure) and sets `port`.
pid_t StartEchoProcess(int* port) {
  int fds[2];
  if (pipe(fds) != 0) return 0;
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(fds[0]);
    EchoService echo;
    grpc::ServerBuilder builder;
    int bound = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &bound);
    builder.RegisterService(&echo);
    const std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    (void)!write(fds[1], &bound, sizeof bound);
    close(fds[1]);
    server->Wait();  // Until the bench kills it.
    _exit(0);
  }
  close(fds[1]);
  const bool got = pid > 0 && read(fds[0], port, sizeof *port) ==
                                  static_cast<ssize_t>(sizeof *port);
  close(fds[0]);
  return got && *port > 0 ? pid : 0;
}

int Run() {
  const std::vector<std::string> cases = absl::GetFlag(FLAGS_cases);
  bool raw = false;
  bool tether = false;
  for (const std::string& name : cases) {
    if (name == "raw_grpc") {
      raw = true;
    } else if (name == "proxied" || name == "direct") {
      tether = true;
    } else {
      fprintf(stderr, "unknown case %s\n", name.c_str());
      return 1;
    }
  }
  // The anchor has as many server processes as the service has replicas.
  std::vector<std::pair<pid_t, int>> echoes;
  for (int i = 0; raw && i < absl::GetFlag(FLAGS_replicas); ++i) {
    int port = 0;
    const pid_t pid = StartEchoProcess(&port);
    if (pid <= 0) {
      fprintf(stderr, "the echo process did not start\n");
      return 1;
    }
    echoes.emplace_back(pid, port);
  }
  std::vector<std::unique_ptr<tether::v1::Agent::Stub>> raw_stubs;
  for (const auto& [pid, port] : echoes) {
    AddStubs<tether::v1::Agent>(absl::StrCat("127.0.0.1:", port), &raw_stubs);
  }

  std::unique_ptr<TetherdProcess> tetherd;
  pid_t tetherd_pid = 0;
  std::string token;
  std::vector<std::unique_ptr<tether::v1::ControlPlane::Stub>> tetherd_stubs;
  // Each agent gets `--channels` connections, as a client holding one
  // channel set per endpoint would.
  std::vector<std::unique_ptr<tether::v1::Agent::Stub>> agent_stubs;
  if (tether) {
    auto started = TetherdProcess::Start(testing::NewTempDir("load-state"));
    if (!started.ok()) {
      fprintf(stderr, "tetherd: %s\n", started.status().ToString().c_str());
      return 1;
    }
    tetherd = *std::move(started);
    if (!DeployEcho(*tetherd, "echo")) return 1;
    const std::vector<std::string> agents = ReadyEndpoints(*tetherd, "echo");
    token = tetherd->ServiceToken("echo");
    if (agents.empty() || token.empty()) return 1;
    tetherd_pid = PidIn(tetherd->state_dir() + "/tetherd.pid");
    if (tetherd_pid <= 0) {
      fprintf(stderr, "no tetherd.pid\n");
      return 1;
    }
    AddStubs<tether::v1::ControlPlane>(tetherd->address(), &tetherd_stubs);
    for (const std::string& agent : agents) {
      AddStubs<tether::v1::Agent>(agent, &agent_stubs);
    }
  }

  const std::string payload(absl::GetFlag(FLAGS_payload_bytes), 'x');
  for (int round = 1; round <= absl::GetFlag(FLAGS_rounds); ++round) {
    double anchor_per_s = 0;
    for (const std::string& name : cases) {
      if (name == "raw_grpc") {
        anchor_per_s =
            Report(name, round, InvokeCalls(&raw_stubs, "", payload), 0, 0)
                .calls_per_s;
      } else if (name == "proxied") {
        Report(name, round, ProxiedCalls(&tetherd_stubs, "echo", payload),
               tetherd_pid, anchor_per_s);
      } else {
        Report(name, round, InvokeCalls(&agent_stubs, token, payload),
               tetherd_pid, anchor_per_s);
      }
    }
  }
  for (const auto& [pid, port] : echoes) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  return 0;
}

}  // namespace
}  // namespace tether::bench

int main(int argc, char** argv) {
  tether::ExportRunfilesDir();
  tether::ConfigureServingProcess();
  absl::ParseCommandLine(argc, argv);
  return tether::bench::Run();
}
