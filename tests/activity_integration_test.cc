// Scale to zero and wake on call with real processes: tetherd in-process
// on the local backend, real agents that report their activity over OTLP,
// a TTL of a few seconds.

#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/http_test_client.h"
#include "common/test_util.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/in_process_tetherd.h"
#include "tests/service_test_util.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {
namespace {

using ::testing::HasSubstr;
using tether::v1::ServiceStatus;

class ActivityIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    controlplane::Tetherd::Options options;
    options.http_listen_address = "127.0.0.1:0";
    auto tetherd = InProcessTetherd::Start(NewTempDir("state"), options);
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = *std::move(tetherd);
    const std::string code = NewTempDir("code");
    WriteTree(code, {{"app.py",
                      "def greet(name):\n"
                      "    return 'hi ' + name\n"}});
    revision_ = UploadDir(*tetherd_, code);
  }

  void Deploy(const std::string& ttl) {
    tether::v1::ServiceSpec spec = PythonSpec("greet", "greet");
    spec.mutable_compute()->set_inactivity_ttl(ttl);
    const grpc::Status deployed = tetherd_->Deploy(spec, revision_);
    ASSERT_TRUE(deployed.ok()) << deployed.error_message();
  }

  ServiceStatus Status() {
    grpc::ClientContext context;
    tether::v1::GetServiceRequest request;
    request.set_name("greet");
    ServiceStatus status;
    EXPECT_TRUE(tetherd_->stub().GetService(&context, request, &status).ok());
    return status;
  }

  // Parks the service by hand and waits until its agent is gone.
  void ScaleToZero() {
    grpc::ClientContext context;
    tether::v1::ScaleServiceRequest request;
    request.set_name("greet");
    request.set_replicas(0);
    ServiceStatus status;
    const grpc::Status scaled =
        tetherd_->stub().ScaleService(&context, request, &status);
    ASSERT_TRUE(scaled.ok()) << scaled.error_message();
    EXPECT_EQ(status.phase(), ServiceStatus::PHASE_IDLE);
    ASSERT_TRUE(WaitFor([&] { return AgentPid(*tetherd_, "greet-0") < 0; }));
  }

  struct CallOutcome {
    grpc::Status status;
    std::string payload;
    std::string woke_after_ms;
  };

  CallOutcome Call(absl::Duration timeout = absl::Seconds(60)) {
    tether::v1::CallRequest request;
    request.set_service("greet");
    request.set_payload(R"({"args": ["Ada"]})");
    tether::v1::CallResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    CallOutcome outcome;
    outcome.status = tetherd_->stub().Call(&context, request, &response);
    if (response.results_size() > 0) {
      outcome.payload = response.results(0).payload();
    }
    const auto& trailers = context.GetServerTrailingMetadata();
    if (auto it = trailers.find("tether-woke-after-ms"); it != trailers.end()) {
      outcome.woke_after_ms.assign(it->second.data(), it->second.size());
    }
    return outcome;
  }

  std::string Metrics() {
    return HttpBody(HttpRequest(tetherd_->tetherd().http_port(), "/metrics"));
  }

  std::unique_ptr<InProcessTetherd> tetherd_;
  std::string revision_;
};

TEST_F(ActivityIntegrationTest, AnIdleServiceScalesToZeroAndACallWakesIt) {
  Deploy("3s");
  ASSERT_GT(AgentPid(*tetherd_, "greet-0"), 0);
  // Nobody calls it: the TTL parks it and its agent stops, warm dir kept.
  ASSERT_TRUE(
      WaitFor([&] { return Status().phase() == ServiceStatus::PHASE_IDLE; }));
  EXPECT_THAT(Status().message(), HasSubstr("inactivity_ttl"));
  ASSERT_TRUE(WaitFor([&] { return AgentPid(*tetherd_, "greet-0") < 0; }));
  EXPECT_EQ(access(ReplicaDir(*tetherd_, "greet-0").c_str(), F_OK), 0);
  EXPECT_THAT(
      Metrics(),
      HasSubstr("tether_ttl_actions_total{action=\"scale_to_zero\"} 1"));

  const CallOutcome woken = Call();
  ASSERT_TRUE(woken.status.ok()) << woken.status.error_message();
  EXPECT_EQ(woken.payload, "\"hi Ada\"");
  EXPECT_FALSE(woken.woke_after_ms.empty());
  // The call went as soon as its replica was ready; the wake-up's own
  // bookkeeping (the backend's scale returning) may end a moment later.
  ASSERT_TRUE(
      WaitFor([&] { return Status().phase() == ServiceStatus::PHASE_READY; }));
  const ServiceStatus status = Status();
  EXPECT_TRUE(status.activity().has_last_activity());
  EXPECT_TRUE(status.activity().has_idle_action_at());

  // A call to a running service does not say it woke anything.
  const CallOutcome warm = Call();
  ASSERT_TRUE(warm.status.ok());
  EXPECT_TRUE(warm.woke_after_ms.empty());
}

TEST_F(ActivityIntegrationTest, EightConcurrentCallersShareOneWakeUp) {
  Deploy("10m");
  ScaleToZero();
  std::vector<CallOutcome> outcomes(8);
  std::vector<std::thread> callers;
  for (CallOutcome& outcome : outcomes) {
    callers.emplace_back([&] { outcome = Call(); });
  }
  for (std::thread& caller : callers) caller.join();
  for (const CallOutcome& outcome : outcomes) {
    ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    EXPECT_EQ(outcome.payload, "\"hi Ada\"");
  }
  const std::string metrics = Metrics();
  EXPECT_THAT(metrics, HasSubstr("tether_wakeups_total{outcome=\"ok\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("tether_wake_duration_seconds_count 1\n"));
}

TEST_F(ActivityIntegrationTest, AReplicaThatCannotStartFailsTheWaitingCalls) {
  Deploy("10m");
  ScaleToZero();
  // Its warm work dir becomes a file: the agent cannot start there.
  const std::string dir = ReplicaDir(*tetherd_, "greet-0");
  ASSERT_TRUE(RemoveAll(dir).ok());
  ASSERT_TRUE(WriteFileAtomically(dir, "not a directory").ok());

  const absl::Time start = absl::Now();
  const CallOutcome failed = Call(absl::Seconds(120));
  EXPECT_EQ(failed.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(failed.status.error_message(), HasSubstr("could not wake up"));
  EXPECT_THAT(failed.status.error_message(),
              HasSubstr("cannot start its agent"));
  // Failed fast, not at the deadline.
  EXPECT_LT(absl::Now() - start, absl::Seconds(60));
  EXPECT_EQ(Status().phase(), ServiceStatus::PHASE_FAILED);
  EXPECT_THAT(Metrics(),
              HasSubstr("tether_wakeups_total{outcome=\"failed\"} 1"));
}

}  // namespace
}  // namespace tether::testing
