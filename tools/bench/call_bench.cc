// Call-path benchmark: the same 16-byte call, side by side in one run.
//
//   bazel run -c opt //tools/bench:call [-- --calls=5000]
//
// Cases, each sequential (concurrency 1) and at concurrency 8:
//   raw_grpc          gRPC unary echo, sync server and client in one process
//                     (the floor every gRPC call path sits on)
//   tetherd_native    client → tetherd → agent → native worker (libecho.so)
//   tetherd_python    client → tetherd → agent → Python worker (hello.noop)
//   direct_native     client library (DirectCaller: endpoints from tetherd,
//                     least outstanding) → two agents → native workers
//   direct_python     the same with Python workers (hello.noop)
//   agent_native      client → agent → native worker, bypassing tetherd
//   raw_grpc_stream   items/s of a gRPC server stream of 1 KiB messages
//   proxy_stream      the same relayed by invoke_proxy: one more process
//                     on the way, the floor of any relayed stream
//   stream_python     items/s of a Python generator of 1 KiB strings,
//                     streamed straight from its agent (DirectCaller)
//   proxy_native      client → invoke_proxy → agent → native worker: a gRPC
//                     proxy with no logic in tetherd's place, the floor of
//                     any gRPC hop on this gRPC (invoke_proxy.cc)
//   tls_tetherd_native, tls_direct_native
//                     tetherd_native and direct_native with TLS on every
//                     hop (a second tetherd with deploy/make_certs.sh's
//                     certificates), 3 rounds, each after the plaintext
//                     case (plain_*) so both meet the same load: the
//                     target is a p50 at most 1.3x the plaintext one
//   py_grpc_echo,     sequential only, from Python (py_client_bench.py):
//   py_grpc_agent,    a bare grpcio unary echo to this process, a bare grpcio
//   py_client         stub to a no-op's agent, and the Python client
//                     (clients/python) calling that no-op on the direct path
// One JSON object per case and concurrency on stdout.

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "clients/cpp/direct_caller.h"
#include "common/child_process.h"
#include "common/exec_args.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "common/serving_process.h"
#include "common/test_util.h"
#include "grpcpp/grpcpp.h"
#include "sync/uploader.h"
#include "tests/tetherd_process.h"
#include "tether/v1/agent.grpc.pb.h"
#include "tools/bench/proc_stats.h"

ABSL_FLAG(int, calls, 5000, "measured calls per case (after warm-up)");
ABSL_FLAG(int, warmup, 500, "calls per case before measuring");
ABSL_FLAG(int, stream_items, 20000, "items of the stream cases");

namespace tether::bench {
namespace {

using tether::testing::TetherdProcess;

const std::string kPayload(16, 'x');
constexpr int kStreamItemBytes = 1024;

// One call; false on error (which ends the run: numbers with errors lie).
using CallFn = std::function<bool()>;

struct Result {
  // Calls measured (the warm-up is not counted).
  size_t calls = 0;
  double p50_us = 0;
  double p99_us = 0;
  double calls_per_s = 0;
};

Result Measure(const CallFn& call, int concurrency) {
  const int calls = absl::GetFlag(FLAGS_calls);
  for (int i = 0; i < absl::GetFlag(FLAGS_warmup); ++i) {
    if (!call()) {
      fprintf(stderr, "warm-up call failed\n");
      exit(1);
    }
  }
  std::vector<std::vector<double>> latencies(concurrency);
  std::atomic<bool> failed{false};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      const int share = calls / concurrency;
      latencies[t].reserve(share);
      for (int i = 0; i < share && !failed; ++i) {
        const absl::Time before = absl::Now();
        if (!call()) failed = true;
        latencies[t].push_back(
            absl::ToDoubleMicroseconds(absl::Now() - before));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const double wall_s = absl::ToDoubleSeconds(absl::Now() - start);
  if (failed) {
    fprintf(stderr, "a measured call failed\n");
    exit(1);
  }
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Result result;
  result.p50_us = all[all.size() / 2];
  result.p99_us = all[all.size() * 99 / 100];
  result.calls = all.size();
  result.calls_per_s = all.size() / wall_s;
  return result;
}

// Prints one line per concurrency. `processes` (name, pid) get their CPU
// time per call reported, which shows where the time goes.
void Report(const std::string& name, const CallFn& call,
            const std::vector<std::pair<std::string, pid_t>>& processes) {
  for (int concurrency : {1, 8}) {
    std::vector<double> cpu_before;
    for (const auto& process : processes) {
      cpu_before.push_back(CpuSeconds(process.second));
    }
    const Result r = Measure(call, concurrency);
    std::string cpu;
    for (size_t i = 0; i < processes.size(); ++i) {
      const double used = CpuSeconds(processes[i].second) - cpu_before[i];
      absl::StrAppend(
          &cpu, absl::StrFormat(",\"%s_cpu_us_per_call\":%.1f",
                                processes[i].first, used * 1e6 / r.calls));
    }
    printf(
        "{\"bench\":\"call\",\"case\":\"%s\",\"concurrency\":%d,"
        "\"p50_us\":%.1f,\"p99_us\":%.1f,\"calls_per_s\":%.0f%s}\n",
        name.c_str(), concurrency, r.p50_us, r.p99_us, r.calls_per_s,
        cpu.c_str());
    fflush(stdout);
  }
}

// The floor: an echo service on the same API shape, no Tether in between.
// Its InvokeStream sends `payload` (a count) items of kStreamItemBytes.
class EchoService final : public tether::v1::Agent::Service {
  grpc::Status Invoke(grpc::ServerContext*,
                      const tether::v1::InvokeRequest* request,
                      tether::v1::InvokeResponse* response) override {
    response->mutable_result()->set_payload(request->payload());
    return grpc::Status::OK;
  }
  grpc::Status InvokeStream(
      grpc::ServerContext*, const tether::v1::InvokeRequest* request,
      grpc::ServerWriter<tether::v1::InvokeEvent>* writer) override {
    int count = 0;
    if (!absl::SimpleAtoi(request->payload(), &count)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "count");
    }
    tether::v1::InvokeEvent event;
    event.mutable_items()->add_item(std::string(kStreamItemBytes, 'x'));
    for (int i = 0; i < count; ++i) {
      if (!writer->Write(event)) break;
    }
    event.mutable_result();
    writer->Write(event);
    return grpc::Status::OK;
  }
};

// Items per second of one stream of `items`, read to its end by `read`
// (which returns how many items it got, or -1 on error).
void ReportStream(const std::string& name, const std::function<int()>& read,
                  int items) {
  read();  // Warm-up.
  const absl::Time start = absl::Now();
  const int got = read();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (got != items) {
    fprintf(stderr, "%s: %d of %d items\n", name.c_str(), got, items);
    exit(1);
  }
  printf(
      "{\"bench\":\"call\",\"case\":\"%s\",\"items\":%d,"
      "\"item_bytes\":%d,\"items_per_s\":%.0f}\n",
      name.c_str(), items, kStreamItemBytes, items / seconds);
  fflush(stdout);
}

CallFn AgentCall(tether::v1::Agent::Stub* stub, std::string token) {
  return [stub, token = std::move(token)] {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    tether::v1::InvokeRequest request;
    request.set_codec(tether::v1::CODEC_RAW);
    request.set_payload(kPayload);
    tether::v1::InvokeResponse response;
    return stub->Invoke(&context, request, &response).ok();
  };
}

CallFn DirectCall(client::DirectCaller* caller, const std::string& service,
                  tether::v1::Codec codec, const std::string& payload) {
  return [=] {
    tether::v1::CallRequest request;
    request.set_service(service);
    request.set_codec(codec);
    request.set_payload(payload);
    tether::v1::CallResponse response;
    client::CallInfo info;
    return caller->Call(request, &response, absl::InfiniteFuture(), &info)
               .ok() &&
           info.direct && !response.results(0).has_error();
  };
}

CallFn TetherdCall(TetherdProcess* tetherd, const std::string& service,
                   tether::v1::Codec codec, const std::string& payload) {
  return [=] {
    grpc::ClientContext context;
    tether::v1::CallRequest request;
    request.set_service(service);
    request.set_codec(codec);
    request.set_payload(payload);
    tether::v1::CallResponse response;
    return tetherd->stub().Call(&context, request, &response).ok() &&
           !response.results(0).has_error();
  };
}

// Starts invoke_proxy in front of `upstream`; returns its pid and port
// (pid 0 on failure, said on stderr).
std::pair<pid_t, std::string> StartProxy(const std::string& upstream,
                                         const std::string& token) {
  auto binary = FindDataFile("tools/bench/invoke_proxy");
  if (!binary.ok()) {
    fprintf(stderr, "%s\n", binary.status().ToString().c_str());
    return {0, ""};
  }
  const std::string port_file = testing::NewTempDir("bench-proxy") + "/port";
  std::vector<std::string> args = {
      *binary, absl::StrCat("--upstream=", upstream),
      absl::StrCat("--token=", token), absl::StrCat("--port_file=", port_file)};
  std::vector<char*> argv = ExecArgs(args);
  const pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  std::string port;
  for (int i = 0; i < 1000 && port.empty(); ++i) {
    port = ReadFile(port_file).value_or("");
    if (port.empty()) absl::SleepFor(absl::Milliseconds(10));
  }
  if (port.empty()) {
    fprintf(stderr, "invoke_proxy did not start\n");
    kill(pid, SIGKILL);
    return {0, ""};
  }
  return {pid, port};
}

// Items of one InvokeStream of `count` on `stub`; -1 on error.
int ReadStream(tether::v1::Agent::Stub& stub, int count) {
  grpc::ClientContext context;
  tether::v1::InvokeRequest request;
  request.set_payload(absl::StrCat(count));
  auto reader = stub.InvokeStream(&context, request);
  tether::v1::InvokeEvent event;
  int items = 0;
  while (reader->Read(&event)) items += event.items().item_size();
  return reader->Finish().ok() ? items : -1;
}

std::string MustUpload(TetherdProcess& tetherd, const std::string& dir) {
  auto uploaded = sync::UploadTree(tetherd.stub(), dir, sync::UploadOptions());
  if (!uploaded.ok()) {
    fprintf(stderr, "upload %s: %s\n", dir.c_str(),
            uploaded.status().ToString().c_str());
    exit(1);
  }
  return uploaded->result.revision();
}

void MustDeploy(TetherdProcess& tetherd, const tether::v1::ServiceSpec& spec,
                const std::string& revision) {
  grpc::Status status = tetherd.Deploy(spec, revision);
  if (!status.ok()) {
    fprintf(stderr, "deploy %s: %s\n", spec.name().c_str(),
            status.error_message().c_str());
    exit(1);
  }
}

// Serves `echo` on a loopback port of its own, written to `port`.
std::unique_ptr<grpc::Server> StartEcho(EchoService* echo, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           port);
  builder.RegisterService(echo);
  return builder.BuildAndStart();
}

// The py_* cases: py_client_bench.py measures the Python client beside bare
// grpcio calls, against an EchoService of this process and `tetherd`, and
// prints their lines. False (said on stderr) when it could not.
bool ReportPyClient(const TetherdProcess& tetherd) {
  EchoService echo;
  int port = 0;
  const std::unique_ptr<grpc::Server> server = StartEcho(&echo, &port);
  std::vector<std::string> paths;
  for (const char* file :
       {"tools/bench/py_client_bench.py", "clients/python/tether_python.zip",
        "tools/cli/tether", "examples/hello/hello.py"}) {
    absl::StatusOr<std::string> path = FindDataFile(file);
    if (!path.ok()) {
      fprintf(stderr, "%s\n", path.status().ToString().c_str());
      return false;
    }
    paths.push_back(*std::move(path));
  }
  ChildSpec spec;
  spec.executable = "/usr/bin/python3";
  spec.argv = {"python3",
               paths[0],
               absl::StrCat("--echo=127.0.0.1:", port),
               absl::StrCat("--hello=", paths[3]),
               absl::StrCat("--calls=", absl::GetFlag(FLAGS_calls)),
               absl::StrCat("--warmup=", absl::GetFlag(FLAGS_warmup))};
  spec.env = {{"PYTHONPATH", paths[1]},
              {"TETHER_ENDPOINT", tetherd.address()},
              {"TETHER_CLI", paths[2]}};
  spec.socket_type = 0;
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  if (!child.ok()) {
    fprintf(stderr, "py_client_bench.py: %s\n",
            child.status().ToString().c_str());
    return false;
  }
  const ProcessExit exit = WaitChild(child->pid);
  if (child->pidfd >= 0) close(child->pidfd);
  server->Shutdown();
  if (!(exit == ProcessExit{})) {
    fprintf(stderr, "py_client_bench.py ended with %s\n",
            exit.ToString().c_str());
    return false;
  }
  return true;
}

// A DirectCaller of `service` (two replicas) on `tetherd`'s channel; null,
// said on stderr, without its endpoints.
std::unique_ptr<client::DirectCaller> TwoReplicaCaller(
    TetherdProcess& tetherd, const std::string& service,
    const std::string& agent_ca_file) {
  client::DirectCaller::Options options;
  options.tetherd = tetherd.channel();
  options.service = service;
  options.agent_ca_file = agent_ca_file;
  auto caller = client::DirectCaller::Create(options);
  if (!caller.ok() || !(*caller)->endpoints().has_value() ||
      (*caller)->endpoints()->endpoints_size() != 2) {
    fprintf(stderr, "no endpoints for %s\n", service.c_str());
    return nullptr;
  }
  return *std::move(caller);
}

// tetherd_native and direct_native on a tetherd with TLS on every hop,
// each right after the same case on `plain` (plaintext), in 3 rounds, so
// the two meet the same load. False (said on stderr) on set-up errors.
bool ReportTls(TetherdProcess& plain, const std::string& native_dir) {
  const std::string certs = testing::NewTempDir("bench-certs");
  if (!testing::MakeCertificates(certs)) return false;
  auto tls = TetherdProcess::Start(
      testing::NewTempDir("bench-tls-state"),
      {absl::StrCat("--tls_cert_file=", certs, "/tetherd.crt"),
       absl::StrCat("--tls_key_file=", certs, "/tetherd.key"),
       absl::StrCat("--tls_ca_file=", certs, "/ca.crt"),
       absl::StrCat("--agent_tls_cert_file=", certs, "/agent.crt"),
       absl::StrCat("--agent_tls_key_file=", certs, "/agent.key")});
  if (!tls.ok()) {
    fprintf(stderr, "tetherd: %s\n", tls.status().ToString().c_str());
    return false;
  }
  (*tls)->UseTls({"", "", absl::StrCat(certs, "/ca.crt")});
  tether::v1::ServiceSpec native;
  native.set_name("echo");
  native.mutable_callable()->set_runtime(tether::v1::RUNTIME_NATIVE);
  native.mutable_callable()->set_module("libecho.so");
  const std::string revision = MustUpload(**tls, native_dir);
  MustDeploy(**tls, native, revision);
  native.set_name("echo2");
  native.mutable_compute()->set_replicas(2);
  MustDeploy(**tls, native, revision);

  auto plain_caller = TwoReplicaCaller(plain, "echo2", "");
  auto tls_caller =
      TwoReplicaCaller(**tls, "echo2", absl::StrCat(certs, "/ca.crt"));
  if (plain_caller == nullptr || tls_caller == nullptr) return false;
  for (int round = 0; round < 3; ++round) {
    for (TetherdProcess* tetherd : {&plain, tls->get()}) {
      const std::string state = tetherd->state_dir();
      Report(tetherd == &plain ? "plain_tetherd_native" : "tls_tetherd_native",
             TetherdCall(tetherd, "echo", tether::v1::CODEC_RAW, kPayload),
             {{"bench", getpid()},
              {"tetherd", PidIn(state + "/tetherd.pid")},
              {"agent", PidIn(state + "/replicas/echo-0/agent.pid")}});
    }
    for (TetherdProcess* tetherd : {&plain, tls->get()}) {
      const std::string state = tetherd->state_dir();
      Report(
          tetherd == &plain ? "plain_direct_native" : "tls_direct_native",
          DirectCall(tetherd == &plain ? plain_caller.get() : tls_caller.get(),
                     "echo2", tether::v1::CODEC_RAW, kPayload),
          {{"bench", getpid()},
           {"agent0", PidIn(state + "/replicas/echo2-0/agent.pid")},
           {"agent1", PidIn(state + "/replicas/echo2-1/agent.pid")}});
    }
  }
  return true;
}

int Run() {
  // raw_grpc
  EchoService echo;
  int port = 0;
  const std::unique_ptr<grpc::Server> server = StartEcho(&echo, &port);
  auto raw_stub = tether::v1::Agent::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  Report("raw_grpc", AgentCall(raw_stub.get(), ""), {{"bench", getpid()}});
  const int stream_items = absl::GetFlag(FLAGS_stream_items);
  ReportStream(
      "raw_grpc_stream", [&] { return ReadStream(*raw_stub, stream_items); },
      stream_items);
  // The same stream relayed by a proxy with no logic: the floor of any
  // stream that crosses one more process.
  const auto stream_proxy = StartProxy(absl::StrCat("127.0.0.1:", port), "");
  if (stream_proxy.first <= 0) return 1;
  auto relayed_stub = tether::v1::Agent::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", stream_proxy.second),
                          grpc::InsecureChannelCredentials()));
  ReportStream(
      "proxy_stream", [&] { return ReadStream(*relayed_stub, stream_items); },
      stream_items);
  kill(stream_proxy.first, SIGTERM);
  waitpid(stream_proxy.first, nullptr, 0);
  server->Shutdown();

  auto tetherd = TetherdProcess::Start(testing::NewTempDir("bench-state"));
  if (!tetherd.ok()) {
    fprintf(stderr, "tetherd: %s\n", tetherd.status().ToString().c_str());
    return 1;
  }
  // Native service: a code dir holding just the library.
  const std::string native_dir = testing::NewTempDir("bench-native");
  auto library = FindDataFile("examples/native_echo/libecho.so");
  auto bytes = library.ok() ? ReadFile(*library) : library.status();
  if (!bytes.ok() ||
      !WriteFileAtomically(native_dir + "/libecho.so", *bytes).ok()) {
    fprintf(stderr, "cannot stage libecho.so\n");
    return 1;
  }
  chmod((native_dir + "/libecho.so").c_str(), 0755);
  tether::v1::ServiceSpec native;
  native.set_name("echo");
  native.mutable_callable()->set_runtime(tether::v1::RUNTIME_NATIVE);
  native.mutable_callable()->set_module("libecho.so");
  MustDeploy(**tetherd, native, MustUpload(**tetherd, native_dir));

  auto hello = FindDataFile("examples/hello/hello.py");
  if (!hello.ok()) {
    fprintf(stderr, "%s\n", hello.status().ToString().c_str());
    return 1;
  }
  tether::v1::ServiceSpec python;
  python.set_name("noop");
  python.mutable_callable()->set_module("hello");
  python.mutable_callable()->set_name("noop");
  MustDeploy(**tetherd, python,
             MustUpload(**tetherd, hello->substr(0, hello->rfind('/'))));

  const std::string state = (*tetherd)->state_dir();
  const pid_t tetherd_pid = PidIn(state + "/tetherd.pid");
  Report("tetherd_native",
         TetherdCall(tetherd->get(), "echo", tether::v1::CODEC_RAW, kPayload),
         {{"bench", getpid()},
          {"tetherd", tetherd_pid},
          {"agent", PidIn(state + "/replicas/echo-0/agent.pid")}});
  Report("tetherd_python",
         TetherdCall(tetherd->get(), "noop", tether::v1::CODEC_JSON, ""),
         {{"bench", getpid()},
          {"tetherd", tetherd_pid},
          {"agent", PidIn(state + "/replicas/noop-0/agent.pid")}});

  // The same services on two replicas, called through the client
  // library's endpoint balancing, straight to the agents.
  for (tether::v1::ServiceSpec* spec : {&native, &python}) {
    spec->set_name(spec->name() + "2");
    spec->mutable_compute()->set_replicas(2);
  }
  MustDeploy(**tetherd, native, MustUpload(**tetherd, native_dir));
  MustDeploy(**tetherd, python,
             MustUpload(**tetherd, hello->substr(0, hello->rfind('/'))));
  for (const auto& [name, service, codec, payload] :
       {std::tuple<std::string, std::string, tether::v1::Codec, std::string>{
            "direct_native", "echo2", tether::v1::CODEC_RAW, kPayload},
        {"direct_python", "noop2", tether::v1::CODEC_JSON, ""}}) {
    auto caller = TwoReplicaCaller(**tetherd, service, "");
    if (caller == nullptr) return 1;
    Report(name, DirectCall(caller.get(), service, codec, payload),
           {{"bench", getpid()},
            {"agent0",
             PidIn(absl::StrCat(state, "/replicas/", service, "-0/agent.pid"))},
            {"agent1", PidIn(absl::StrCat(state, "/replicas/", service,
                                          "-1/agent.pid"))}});
  }

  if (!ReportPyClient(**tetherd)) return 1;

  // A Python generator of 1 KiB strings, streamed straight from its agent.
  const std::string generator_dir = testing::NewTempDir("bench-generator");
  testing::WriteTree(generator_dir,
                     {{"gen.py", absl::StrCat("def items(n):\n"
                                              "    item = 'x' * ",
                                              kStreamItemBytes,
                                              "\n"
                                              "    for _ in range(n):\n"
                                              "        yield item\n")}});
  tether::v1::ServiceSpec generator;
  generator.set_name("items");
  generator.mutable_callable()->set_module("gen");
  generator.mutable_callable()->set_name("items");
  MustDeploy(**tetherd, generator, MustUpload(**tetherd, generator_dir));
  {
    client::DirectCaller::Options options;
    options.tetherd = grpc::CreateChannel((*tetherd)->address(),
                                          grpc::InsecureChannelCredentials());
    options.service = "items";
    auto caller = client::DirectCaller::Create(options);
    if (!caller.ok()) return 1;
    ReportStream(
        "stream_python",
        [&] {
          tether::v1::CallRequest request;
          request.set_service("items");
          request.set_payload(
              absl::StrCat(R"({"args": [)", stream_items, "]}"));
          int items = 0;
          const absl::Status streamed =
              (*caller)->Stream(request, absl::InfiniteFuture(),
                                [&](const tether::v1::InvokeEvent& event) {
                                  items += event.items().item_size();
                                  return true;
                                });
          return streamed.ok() ? items : -1;
        },
        stream_items);
  }

  grpc::ClientContext context;
  tether::v1::GetServiceRequest get;
  get.set_name("echo");
  tether::v1::ServiceStatus status;
  if (!(*tetherd)->stub().GetService(&context, get, &status).ok() ||
      status.replicas_size() == 0) {
    fprintf(stderr, "cannot find the echo replica\n");
    return 1;
  }
  auto agent_stub = tether::v1::Agent::NewStub(grpc::CreateChannel(
      status.replicas(0).address(), grpc::InsecureChannelCredentials()));
  const std::string token = (*tetherd)->ServiceToken("echo");
  Report("agent_native", AgentCall(agent_stub.get(), token),
         {{"bench", getpid()},
          {"agent", PidIn(state + "/replicas/echo-0/agent.pid")}});

  const auto proxy = StartProxy(status.replicas(0).address(), token);
  if (proxy.first <= 0) return 1;
  auto proxy_stub = tether::v1::Agent::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", proxy.second),
                          grpc::InsecureChannelCredentials()));
  Report("proxy_native", AgentCall(proxy_stub.get(), ""),
         {{"bench", getpid()},
          {"proxy", proxy.first},
          {"agent", PidIn(state + "/replicas/echo-0/agent.pid")}});
  kill(proxy.first, SIGTERM);
  waitpid(proxy.first, nullptr, 0);
  return ReportTls(**tetherd, native_dir) ? 0 : 1;
}

}  // namespace
}  // namespace tether::bench

int main(int argc, char** argv) {
  tether::ExportRunfilesDir();
  tether::ConfigureServingProcess();
  absl::ParseCommandLine(argc, argv);
  return tether::bench::Run();
}
