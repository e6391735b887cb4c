// Load benchmark: many concurrent callers against one local service for a
// bounded time, on each call path, with the processes' peak memory.
//
//   bazel run -c opt //tools/bench:load [-- --callers=1000 --duration=20s]
//
// Cases, one JSON object each on stdout, all at the same concurrency:
//   raw_grpc  callback gRPC echo of the same bytes in this process: the
//             floor of any path on this machine (the anchor)
//   proxied   client → tetherd (ControlPlane.Call) → agent → native worker
//   direct    client → agent (Agent.Invoke, endpoints from WatchEndpoints,
//             the agent token) → native worker
// Callers are closed loops on gRPC's callback client: each issues its next
// call when its previous one completes, so 1,000 callers need no thread of
// their own. Reported: throughput, p50/p99/p999 latency, errors by status
// code, and the peak RSS (VmHWM, reset before each case) of tetherd and of
// every process under it (agents and their workers).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "common/serving_process.h"
#include "grpcpp/grpcpp.h"
#include "sync/uploader.h"
#include "tests/tetherd_process.h"
#include "tether/v1/agent.grpc.pb.h"
#include "tether/v1/control_plane.grpc.pb.h"

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

// One case's closed loops: shared with the completion callbacks, so it
// lives until the last of them.
struct LoadRun {
  StartCall start_call;
  Clock::time_point measure_from;
  Clock::time_point measure_until;
  // One per caller; only its own (serialized) calls touch it.
  std::vector<std::vector<float>> latencies_us;
  absl::Mutex mu;
  int running ABSL_GUARDED_BY(mu) = 0;
  std::map<std::string, int64_t> errors ABSL_GUARDED_BY(mu);
};

// Issues `caller`'s next call unless the run is over.
void Issue(const std::shared_ptr<LoadRun>& run, int caller) {
  const Clock::time_point start = Clock::now();
  if (start >= run->measure_until) {
    absl::MutexLock lock(&run->mu);
    --run->running;
    return;
  }
  run->start_call(caller, [run, caller, start](const std::string& error) {
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
  auto run = std::make_shared<LoadRun>();
  run->start_call = std::move(start_call);
  run->latencies_us.resize(callers);
  run->measure_from =
      Clock::now() + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_warmup));
  run->measure_until = run->measure_from + absl::ToChronoNanoseconds(duration);
  {
    absl::MutexLock lock(&run->mu);
    run->running = callers;
  }
  for (int caller = 0; caller < callers; ++caller) Issue(run, caller);
  absl::MutexLock lock(&run->mu);
  auto finished = [&run]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(run->mu) {
    return run->running == 0;
  };
  run->mu.Await(absl::Condition(&finished));

  std::vector<float> all;
  for (const auto& latencies : run->latencies_us) {
    all.insert(all.end(), latencies.begin(), latencies.end());
  }
  std::sort(all.begin(), all.end());
  LoadResult result;
  result.calls = all.size();
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
  for (const auto& [code, count] : run->errors) {
    result.errors += count;
    codes.push_back(absl::StrFormat("\"%s\":%d", code, count));
  }
  result.errors_by_code = absl::StrCat("{", absl::StrJoin(codes, ","), "}");
  return result;
}

// `channels` connections to `address`: distinct channel args keep gRPC from
// sharing one subchannel (and so one TCP connection) between them.
std::vector<std::shared_ptr<grpc::Channel>> Channels(
    const std::string& address) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < absl::GetFlag(FLAGS_channels); ++i) {
    grpc::ChannelArguments args;
    args.SetInt("tether.bench.connection", i);
    channels.push_back(grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), args));
  }
  return channels;
}

// Agent.Invoke of `payload` over `stubs` (caller i uses stub i mod size),
// with `token` as bearer when not empty. Answers must echo the payload.
StartCall InvokeCalls(
    std::vector<std::unique_ptr<tether::v1::Agent::Stub>> stubs,
    std::string token, std::string payload) {
  auto shared_stubs =
      std::make_shared<std::vector<std::unique_ptr<tether::v1::Agent::Stub>>>(
          std::move(stubs));
  return [shared_stubs, token = std::move(token), payload = std::move(payload)](
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
    tether::v1::Agent::Stub& stub =
        *(*shared_stubs)[caller % shared_stubs->size()];
    stub.async()->Invoke(&call->context, &call->request, &call->response,
                         [call, done = std::move(done)](grpc::Status status) {
                           if (!status.ok()) return done(CodeName(status));
                           const auto& result = call->response.result();
                           if (result.has_error()) return done("result_error");
                           done(result.payload() == call->request.payload()
                                    ? ""
                                    : "wrong_answer");
                         });
  };
}

// ControlPlane.Call of `payload` to `service`, over `channels`.
StartCall ProxiedCalls(
    const std::vector<std::shared_ptr<grpc::Channel>>& channels,
    std::string service, std::string payload) {
  auto stubs = std::make_shared<
      std::vector<std::unique_ptr<tether::v1::ControlPlane::Stub>>>();
  for (const auto& channel : channels) {
    stubs->push_back(tether::v1::ControlPlane::NewStub(channel));
  }
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
    (*stubs)[caller % stubs->size()]->async()->Call(
        &call->context, &call->request, &call->response,
        [call, done = std::move(done)](grpc::Status status) {
          if (!status.ok()) return done(CodeName(status));
          if (call->response.results_size() != 1) return done("no_result");
          const auto& result = call->response.results(0);
          if (result.has_error()) return done("result_error");
          done(result.payload() == call->request.payload() ? ""
                                                           : "wrong_answer");
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

// A "Vm...:   123 kB" line of /proc/PID/status, in KiB; 0 if gone.
int64_t StatusKib(pid_t pid, absl::string_view field) {
  auto status = ReadFile(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return 0;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (!absl::ConsumePrefix(&line, field) || !absl::ConsumePrefix(&line, ":"))
      continue;
    line = absl::StripLeadingAsciiWhitespace(line);
    int64_t kib = 0;
    return absl::SimpleAtoi(line.substr(0, line.find(' ')), &kib) ? kib : 0;
  }
  return 0;
}

// Resets VmHWM to the current RSS (clear_refs "5", Linux 4.0+), so the next
// reading is this case's peak.
void ResetPeaks(const std::vector<ProcessInfo>& processes) {
  for (const ProcessInfo& process : processes) {
    const int fd =
        open(absl::StrCat("/proc/", process.pid, "/clear_refs").c_str(),
             O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)!write(fd, "5", 1);
    close(fd);
  }
}

// JSON fields: tetherd's peak, the sum of the peaks under it, and each one.
std::string PeakMemory(const std::vector<ProcessInfo>& tree) {
  int64_t under = 0;
  std::vector<std::string> each;
  for (size_t i = 0; i < tree.size(); ++i) {
    const int64_t hwm = StatusKib(tree[i].pid, "VmHWM");
    if (i > 0) under += hwm;
    each.push_back(
        absl::StrFormat("{\"pid\":%d,\"name\":\"%s\",\"vmhwm_kib\":%d}",
                        tree[i].pid, tree[i].name, hwm));
  }
  return absl::StrFormat(
      ",\"tetherd_vmhwm_kib\":%d,\"agents_vmhwm_kib\":%d,\"processes\":[%s]",
      tree.empty() ? 0 : StatusKib(tree[0].pid, "VmHWM"), under,
      absl::StrJoin(each, ","));
}

std::string LoadAverage() {
  auto text = ReadFile("/proc/loadavg");
  if (!text.ok()) return "";
  std::vector<std::string> fields = absl::StrSplit(*text, ' ');
  return fields.size() >= 3
             ? absl::StrCat(fields[0], " ", fields[1], " ", fields[2])
             : "";
}

// Runs one case and prints its line. `tree_root` (0: none) is the process
// whose tree's memory is reported.
LoadResult Report(const std::string& name, StartCall start_call,
                  pid_t tree_root, double anchor_per_s) {
  std::vector<ProcessInfo> tree;
  if (tree_root > 0) {
    tree = Tree(tree_root);
    ResetPeaks(tree);
  }
  const std::string load_before = LoadAverage();
  const LoadResult r = Drive(std::move(start_call));
  std::string extra;
  if (anchor_per_s > 0) {
    extra = absl::StrFormat(",\"vs_raw\":%.2f", r.calls_per_s / anchor_per_s);
  }
  // Processes may have come (a restarted worker) since the reset.
  if (tree_root > 0) absl::StrAppend(&extra, PeakMemory(Tree(tree_root)));
  printf("%s\n",
         absl::StrFormat(
             "{\"bench\":\"load\",\"case\":\"%s\",\"callers\":%d,"
             "\"channels\":%d,\"replicas\":%d,\"workers\":%d,"
             "\"payload_bytes\":%d,\"duration_s\":%.0f,\"calls\":%d,"
             "\"calls_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
             "\"p999_us\":%.1f,\"max_us\":%.1f,\"errors\":%d,"
             "\"errors_by_code\":%s%s,\"loadavg_before\":\"%s\","
             "\"loadavg_after\":\"%s\"}",
             name, absl::GetFlag(FLAGS_callers), absl::GetFlag(FLAGS_channels),
             absl::GetFlag(FLAGS_replicas), absl::GetFlag(FLAGS_workers),
             absl::GetFlag(FLAGS_payload_bytes),
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

int Run() {
  const std::string payload(absl::GetFlag(FLAGS_payload_bytes), 'x');
  std::unique_ptr<TetherdProcess> tetherd;
  pid_t tetherd_pid = 0;
  std::vector<std::string> agents;
  std::string token;
  double anchor_per_s = 0;
  for (const std::string& name : absl::GetFlag(FLAGS_cases)) {
    if (name == "raw_grpc") {
      EchoService echo;
      grpc::ServerBuilder builder;
      int port = 0;
      builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                               &port);
      builder.RegisterService(&echo);
      const std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
      std::vector<std::unique_ptr<tether::v1::Agent::Stub>> stubs;
      for (const auto& channel : Channels(absl::StrCat("127.0.0.1:", port))) {
        stubs.push_back(tether::v1::Agent::NewStub(channel));
      }
      anchor_per_s =
          Report(name, InvokeCalls(std::move(stubs), "", payload), 0, 0)
              .calls_per_s;
      server->Shutdown();
      continue;
    }
    if (name != "proxied" && name != "direct") {
      fprintf(stderr, "unknown case %s\n", name.c_str());
      return 1;
    }
    if (tetherd == nullptr) {
      auto started = TetherdProcess::Start(testing::NewTempDir("load-state"));
      if (!started.ok()) {
        fprintf(stderr, "tetherd: %s\n", started.status().ToString().c_str());
        return 1;
      }
      tetherd = *std::move(started);
      if (!DeployEcho(*tetherd, "echo")) return 1;
      agents = ReadyEndpoints(*tetherd, "echo");
      token = tetherd->ServiceToken("echo");
      if (agents.empty() || token.empty()) return 1;
      auto pid = ReadFile(tetherd->state_dir() + "/tetherd.pid");
      if (!pid.ok() || !absl::SimpleAtoi(*pid, &tetherd_pid)) {
        fprintf(stderr, "no tetherd.pid\n");
        return 1;
      }
    }
    if (name == "proxied") {
      Report(name, ProxiedCalls(Channels(tetherd->address()), "echo", payload),
             tetherd_pid, anchor_per_s);
    } else {
      // Each agent gets its share of the connections, as a client library
      // holding one channel set per endpoint would.
      std::vector<std::unique_ptr<tether::v1::Agent::Stub>> stubs;
      for (const std::string& agent : agents) {
        for (const auto& channel : Channels(agent)) {
          stubs.push_back(tether::v1::Agent::NewStub(channel));
        }
      }
      Report(name, InvokeCalls(std::move(stubs), token, payload), tetherd_pid,
             anchor_per_s);
    }
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
