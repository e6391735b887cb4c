// Activity benchmark: what idle services and their activity cost tetherd.
//
//   bazel run -c opt //tools/bench:activity [-- --requests=40000]
//
// Cases, one JSON object each on stdout:
//   otlp_ingest      OTLP export requests per second tetherd's receiver
//                    (OtlpReceiver + ActivityTracker on a GrpcServer, as
//                    tetherd wires them) takes from 1,000 simulated agents,
//                    each with its own token, service and replica
//   raw_grpc_echo    the floor: a gRPC unary echo of the same bytes at the
//                    same concurrency, same server helper, same client
//   idle_services    a real tetherd's resident memory per registered idle
//                    (parked) service, 10,000 services against none
//   wake_from_zero   local backend: a call to a service at zero until its
//                    answer (tetherd wakes it; the agent starts warm)

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/grpc_server.h"
#include "common/proto_time.h"
#include "common/runfiles.h"
#include "common/test_util.h"
#include "controlplane/activity_tracker.h"
#include "controlplane/api_authorizer.h"
#include "controlplane/otlp_receiver.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "sync/uploader.h"
#include "tests/tetherd_process.h"
#include "tether/v1/control_plane.grpc.pb.h"
#include "tools/bench/proc_stats.h"

ABSL_FLAG(int, requests, 40000, "OTLP exports measured per case and round");
ABSL_FLAG(int, rounds, 3, "alternating echo/ingest rounds (medians reported)");
ABSL_FLAG(int, in_flight, 64, "OTLP exports in flight at once");
ABSL_FLAG(int, agents, 1000, "simulated agents (distinct services)");
ABSL_FLAG(int, idle_services, 10000, "services registered for idle_services");
ABSL_FLAG(int, wakes, 20, "wake-ups measured");

namespace tether::bench {
namespace {

namespace collector = opentelemetry::proto::collector::metrics::v1;
namespace metrics = opentelemetry::proto::metrics::v1;
using tether::testing::TetherdProcess;

constexpr char kExportMethod[] =
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

// The report an agent sends (agent/otlp_exporter.cc): resource attributes,
// two cumulative Sums and a Gauge.
std::string AgentReport(const std::string& service, int64_t calls) {
  collector::ExportMetricsServiceRequest request;
  metrics::ResourceMetrics* resource = request.add_resource_metrics();
  for (const auto& [key, value] :
       {std::pair<std::string, std::string>{"service.name", service},
        {"tether.service", service},
        {"tether.replica", service + "-0"},
        {"k8s.namespace.name", "default"},
        {"k8s.pod.name", service + "-7d9f8c6b5-x2k4p"}}) {
    auto* attribute = resource->mutable_resource()->add_attributes();
    attribute->set_key(key);
    attribute->mutable_value()->set_string_value(value);
  }
  metrics::ScopeMetrics* scope = resource->add_scope_metrics();
  scope->mutable_scope()->set_name("tether-agent");
  const uint64_t now = absl::ToUnixNanos(absl::Now());
  for (const char* name : {"tether.calls.started", "tether.calls.finished"}) {
    metrics::Metric* metric = scope->add_metrics();
    metric->set_name(name);
    metric->set_unit("{call}");
    metrics::Sum* sum = metric->mutable_sum();
    sum->set_is_monotonic(true);
    sum->set_aggregation_temporality(
        metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
    metrics::NumberDataPoint* point = sum->add_data_points();
    point->set_start_time_unix_nano(now - 3'600'000'000'000);
    point->set_time_unix_nano(now);
    point->set_as_int(calls);
  }
  metrics::Metric* in_flight = scope->add_metrics();
  in_flight->set_name("tether.calls.in_flight");
  in_flight->mutable_gauge()->add_data_points()->set_as_int(0);
  return request.SerializeAsString();
}

// Answers with the request's own bytes: gRPC and nothing else.
class EchoService final
    : public collector::MetricsService::WithRawCallbackMethod_Export<
          collector::MetricsService::Service> {
 public:
  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    *response = *request;
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

struct Throughput {
  double per_s = 0;
  int64_t failed = 0;
};

// One Drive's shared state: the callbacks hold it, so the last one to
// finish (not Drive's return) frees it.
struct DriveState {
  DriveState(const std::string& address,
             const std::vector<std::pair<std::string, std::string>>& agents,
             int total)
      : channel(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        stub(channel),
        agents(agents),
        total(total) {}

  std::shared_ptr<grpc::Channel> channel;
  grpc::GenericStub stub;
  const std::vector<std::pair<std::string, std::string>>& agents;
  const int total;
  absl::Mutex mu;
  int sent ABSL_GUARDED_BY(mu) = 0;
  int done ABSL_GUARDED_BY(mu) = 0;
  int64_t failed ABSL_GUARDED_BY(mu) = 0;
};

// Sends the next export of `state`, if any is left; its completion sends
// the one after.
void SendOne(const std::shared_ptr<DriveState>& state) {
  int index;
  {
    absl::MutexLock lock(&state->mu);
    if (state->sent == state->total) return;
    index = state->sent++;
  }
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
  };
  const auto& [token, bytes] = state->agents[index % state->agents.size()];
  auto call = std::make_shared<Call>();
  call->context.AddMetadata("authorization", "Bearer " + token);
  grpc::Slice slice(bytes);
  call->request = grpc::ByteBuffer(&slice, 1);
  state->stub.UnaryCall(&call->context, kExportMethod, grpc::StubOptions(),
                        &call->request, &call->response,
                        [state, call](const grpc::Status& status) {
                          SendOne(state);
                          absl::MutexLock lock(&state->mu);
                          ++state->done;
                          if (!status.ok()) ++state->failed;
                        });
}

// Sends `total` exports round-robin over the agents' (token, bytes), with
// `in_flight` outstanding, through the callback client.
Throughput Drive(const std::string& address,
                 const std::vector<std::pair<std::string, std::string>>& agents,
                 int total, int in_flight) {
  auto state = std::make_shared<DriveState>(address, agents, total);
  const absl::Time start = absl::Now();
  for (int i = 0; i < in_flight; ++i) SendOne(state);
  absl::MutexLock lock(&state->mu);
  auto all_done = [&state]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu) {
    return state->done == state->total;
  };
  state->mu.Await(absl::Condition(&all_done));
  return {total / absl::ToDoubleSeconds(absl::Now() - start), state->failed};
}

// The simulated agents: one service each, with its token.
std::vector<std::pair<std::string, std::string>> Agents(int count) {
  std::vector<std::pair<std::string, std::string>> agents;
  for (int i = 0; i < count; ++i) {
    agents.emplace_back(absl::StrCat("token-", i),
                        AgentReport(absl::StrCat("svc-", i), i));
  }
  return agents;
}

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1,
                         static_cast<size_t>(p * values.size()))];
}

void OtlpIngest() {
  const int agents_count = absl::GetFlag(FLAGS_agents);
  const auto agents = Agents(agents_count);
  const int total = absl::GetFlag(FLAGS_requests);
  const int in_flight = absl::GetFlag(FLAGS_in_flight);

  controlplane::ActivityTracker tracker({});
  absl::flat_hash_map<std::string, std::string> services;
  for (int i = 0; i < agents_count; ++i) {
    services[absl::StrCat("token-", i)] = absl::StrCat("svc-", i);
  }
  absl::Mutex services_mu;  // As ServiceManager guards its registry.
  controlplane::OtlpReceiver::Options options;
  options.activity = &tracker;
  options.service_for_token =
      [&](const std::string& token) -> std::optional<std::string> {
    absl::MutexLock lock(&services_mu);
    auto it = services.find(token);
    if (it == services.end()) return std::nullopt;
    return it->second;
  };
  // An open API: reports need an agent token only to be bound to it.
  const controlplane::ApiAuthorizer open_api(nullptr, [](const std::string&) {
    return std::optional<std::string>("default");
  });
  options.authorizer = &open_api;
  controlplane::OtlpReceiver receiver(options);
  EchoService echo;

  auto serve = [](grpc::Service* service) {
    GrpcServer::Options server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.services = {service};
    return *GrpcServer::Create(server_options);
  };
  auto receiver_server = serve(&receiver);
  auto echo_server = serve(&echo);
  // Warm both (connections, allocators), then measure in alternating
  // rounds so drift on the machine hits both alike; medians are reported.
  Drive(receiver_server->address(), agents, 2000, in_flight);
  Drive(echo_server->address(), agents, 2000, in_flight);
  std::vector<double> echo_rates;
  std::vector<double> ingest_rates;
  Throughput echoed;
  Throughput ingested;
  for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
    const Throughput e =
        Drive(echo_server->address(), agents, total, in_flight);
    const Throughput i =
        Drive(receiver_server->address(), agents, total, in_flight);
    echo_rates.push_back(e.per_s);
    ingest_rates.push_back(i.per_s);
    echoed.failed += e.failed;
    ingested.failed += i.failed;
  }
  echoed.per_s = Percentile(echo_rates, 0.5);
  ingested.per_s = Percentile(ingest_rates, 0.5);
  const size_t bytes = agents[0].second.size();
  printf("%s\n",
         absl::StrFormat("{\"case\":\"raw_grpc_echo\",\"requests\":%d,"
                         "\"in_flight\":%d,\"request_bytes\":%d,"
                         "\"requests_per_s\":%.0f,\"failed\":%d}",
                         total, in_flight, bytes, echoed.per_s, echoed.failed)
             .c_str());
  printf("%s\n",
         absl::StrFormat(
             "{\"case\":\"otlp_ingest\",\"agents\":%d,\"requests\":%d,"
             "\"in_flight\":%d,\"request_bytes\":%d,\"reports_per_s\":%.0f,"
             "\"failed\":%d,\"vs_echo\":%.2f}",
             agents_count, total, in_flight, bytes, ingested.per_s,
             ingested.failed, ingested.per_s / echoed.per_s)
             .c_str());
  fflush(stdout);
}

// A parked service record, as tetherd stores one after the TTL acted.
tether::v1::ServiceStatus ParkedRecord(int index) {
  tether::v1::ServiceStatus record;
  record.set_name(absl::StrFormat("idle-%05d", index));
  tether::v1::ServiceSpec* spec = record.mutable_spec();
  spec->set_name(record.name());
  spec->mutable_callable()->set_module("app");
  spec->mutable_callable()->set_name("predict");
  spec->mutable_compute()->set_replicas(1);
  spec->mutable_compute()->set_cpus("1");
  spec->mutable_compute()->set_memory("2Gi");
  spec->mutable_compute()->set_inactivity_ttl("30m");
  spec->mutable_compute()->add_allowed_serialization(tether::v1::CODEC_JSON);
  spec->mutable_compute()->add_allowed_serialization(tether::v1::CODEC_RAW);
  (*spec->mutable_compute()->mutable_env())["MODEL"] = "resnet50";
  record.set_revision(std::string(64, 'a'));
  record.set_phase(tether::v1::ServiceStatus::PHASE_IDLE);
  record.set_message("no calls for 30m (inactivity_ttl)");
  record.set_generation(1);
  record.set_token(absl::StrFormat("%064d", index));
  record.set_scale(0);
  *record.mutable_created() = ToProtoTimestamp(absl::Now());
  *record.mutable_updated() = ToProtoTimestamp(absl::Now());
  return record;
}

// RSS of a tetherd that recovered `count` parked services, once settled.
int64_t TetherdRss(int count) {
  const std::string state = absl::StrCat(testing::NewTempDir("idle"));
  (void)MakeDirs(state + "/services");
  for (int i = 0; i < count; ++i) {
    const tether::v1::ServiceStatus record = ParkedRecord(i);
    (void)WriteFileAtomically(
        absl::StrCat(state, "/services/", record.name(), ".pb"),
        record.SerializeAsString());
  }
  auto tetherd = TetherdProcess::Start(state);
  if (!tetherd.ok()) {
    fprintf(stderr, "tetherd: %s\n", tetherd.status().ToString().c_str());
    exit(1);
  }
  // A ListServices answers once every record is loaded; then let
  // allocations settle.
  grpc::ClientContext context;
  tether::v1::ListServicesResponse list;
  (void)(*tetherd)->stub().ListServices(&context, {}, &list);
  absl::SleepFor(absl::Seconds(2));
  const int64_t rss =
      StatusNumber(PidIn(state + "/tetherd.pid"), "VmRSS") * 1024;
  if (list.services_size() != count) {
    fprintf(stderr, "tetherd lists %d services, not %d\n", list.services_size(),
            count);
    exit(1);
  }
  return rss;
}

void IdleServices() {
  const int count = absl::GetFlag(FLAGS_idle_services);
  const int64_t empty = TetherdRss(0);
  const int64_t full = TetherdRss(count);
  printf("%s\n", absl::StrFormat("{\"case\":\"idle_services\",\"services\":%d,"
                                 "\"rss_empty_bytes\":%d,\"rss_bytes\":%d,"
                                 "\"bytes_per_service\":%.0f}",
                                 count, empty, full,
                                 static_cast<double>(full - empty) / count)
                     .c_str());
  fflush(stdout);
}

void WakeFromZero() {
  const std::string state = testing::NewTempDir("wake");
  auto tetherd = TetherdProcess::Start(state);
  if (!tetherd.ok()) exit(1);
  const std::string code = testing::NewTempDir("code");
  testing::WriteTree(code, {{"app.py",
                             "def greet(name):\n"
                             "    return 'hi ' + name\n"}});
  auto uploaded =
      sync::UploadTree((*tetherd)->stub(), code, sync::UploadOptions());
  if (!uploaded.ok()) exit(1);
  tether::v1::ServiceSpec spec;
  spec.set_name("greet");
  spec.mutable_callable()->set_module("app");
  spec.mutable_callable()->set_name("greet");
  if (!(*tetherd)->Deploy(spec, uploaded->result.revision()).ok()) exit(1);

  std::vector<double> wake_ms;
  for (int i = 0; i < absl::GetFlag(FLAGS_wakes); ++i) {
    grpc::ClientContext scale_context;
    tether::v1::ScaleServiceRequest scale;
    scale.set_name("greet");
    scale.set_replicas(0);
    tether::v1::ServiceStatus status;
    if (!(*tetherd)->stub().ScaleService(&scale_context, scale, &status).ok()) {
      exit(1);
    }
    // At zero once the agent process is gone.
    const std::string pid_file = state + "/replicas/greet-0/agent.pid";
    if (!testing::WaitFor([&] { return access(pid_file.c_str(), F_OK) != 0; },
                          absl::Seconds(30))) {
      fprintf(stderr, "the agent did not stop\n");
      exit(1);
    }
    tether::v1::CallRequest request;
    request.set_service("greet");
    request.set_payload(R"({"args": ["Ada"]})");
    tether::v1::CallResponse response;
    grpc::ClientContext context;
    const absl::Time start = absl::Now();
    const grpc::Status called =
        (*tetherd)->stub().Call(&context, request, &response);
    const absl::Duration took = absl::Now() - start;
    if (!called.ok() || response.results(0).payload() != "\"hi Ada\"") {
      fprintf(stderr, "wake call failed: %s\n", called.error_message().c_str());
      exit(1);
    }
    wake_ms.push_back(absl::ToDoubleMilliseconds(took));
  }
  printf("%s\n",
         absl::StrFormat("{\"case\":\"wake_from_zero\",\"wakes\":%d,"
                         "\"p50_ms\":%.1f,\"p99_ms\":%.1f,"
                         "\"min_ms\":%.1f}",
                         wake_ms.size(), Percentile(wake_ms, 0.5),
                         Percentile(wake_ms, 0.99), Percentile(wake_ms, 0))
             .c_str());
  fflush(stdout);
}

}  // namespace
}  // namespace tether::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  tether::ExportRunfilesDir();
  tether::bench::OtlpIngest();
  tether::bench::IdleServices();
  tether::bench::WakeFromZero();
  return 0;
}
