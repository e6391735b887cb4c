// Sidecar mode end to end on the local backend (ServiceSpec.app): the
// team's server is Python's http.server reading $TETHER_CODE_DIR, run by a
// real agent under an in-process tetherd. Code syncs into it, the reload
// command runs after each change, and requests through the agent's proxy
// are the activity that keeps the service from its inactivity TTL.

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/http_test_client.h"
#include "common/runfiles.h"
#include "common/test_util.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "servicespec/service_file.h"
#include "tests/in_process_tetherd.h"
#include "tests/service_test_util.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {
namespace {

using ::testing::HasSubstr;
using tether::v1::ServiceStatus;

class SidecarIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tetherd = InProcessTetherd::Start(NewTempDir("state"), {});
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = *std::move(tetherd);
    code_ = NewTempDir("code");
    reloads_ = NewTempDir("reloads") + "/reloads";
    app_port_ = UnusedLoopbackPort();
  }

  // The team's app: a static file server on $PORT over $TETHER_CODE_DIR,
  // which keeps showing the newest revision.
  void Deploy(const std::string& page, const std::string& ttl = "") {
    WriteTree(code_, {{"index.html", page}});
    revision_ = UploadDir(*tetherd_, code_);
    tether::v1::ServiceSpec spec;
    spec.set_name("web");
    tether::v1::App* app = spec.mutable_app();
    for (const char* arg :
         {"sh", "-c",
          "exec python3 -m http.server \"$PORT\" --bind 127.0.0.1 "
          "--directory \"$TETHER_CODE_DIR\""}) {
      app->add_command(arg);
    }
    app->set_port(app_port_);
    for (const std::string& arg :
         {std::string("sh"), std::string("-c"),
          absl::StrCat("echo \"$TETHER_REVISION\" >> ", reloads_)}) {
      app->add_reload_command(arg);
    }
    if (!ttl.empty()) {
      spec.mutable_compute()->set_inactivity_ttl(ttl);
      // Reports every second, so a steady trickle of requests is seen
      // well within the TTL.
      (*spec.mutable_compute()->mutable_env())["OTEL_METRIC_EXPORT_INTERVAL"] =
          "1000";
    }
    const grpc::Status deployed = tetherd_->Deploy(spec, revision_);
    ASSERT_TRUE(deployed.ok()) << deployed.error_message();
  }

  ServiceStatus Status() {
    grpc::ClientContext context;
    tether::v1::GetServiceRequest request;
    request.set_name("web");
    ServiceStatus status;
    EXPECT_TRUE(tetherd_->stub().GetService(&context, request, &status).ok());
    return status;
  }

  // The proxy's port, from the replica's app address.
  int ProxyPort() {
    const ServiceStatus status = Status();
    if (status.replicas_size() != 1) return 0;
    const std::string& address = status.replicas(0).app_address();
    int port = 0;
    if (!absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port)) {
      return 0;
    }
    return port;
  }

  // The page through the proxy, once the app serves `want`.
  bool Serves(const std::string& want) {
    return WaitFor([&] {
      const int port = ProxyPort();
      return port != 0 && HttpBody(HttpRequest(port, "/index.html")) == want;
    });
  }

  std::unique_ptr<InProcessTetherd> tetherd_;
  std::string code_;
  std::string reloads_;
  // The same in every deploy: a new port is a new app, so a new process.
  int app_port_ = 0;
  std::string revision_;
};

TEST_F(SidecarIntegrationTest, CodeSyncsIntoTheAppAndTheReloadCommandRuns) {
  Deploy("one");
  ASSERT_TRUE(
      WaitFor([&] { return Status().phase() == ServiceStatus::PHASE_READY; }));
  EXPECT_THAT(Status().replicas(0).app_address(), HasSubstr("127.0.0.1:"));
  ASSERT_TRUE(Serves("one"));
  // The app started on its first revision: nothing to reload yet.
  EXPECT_FALSE(ReadFile(reloads_).ok());
  const pid_t agent = AgentPid(*tetherd_, "web-0");

  Deploy("two");
  ASSERT_TRUE(WaitFor([&] {
    const ServiceStatus status = Status();
    return status.phase() == ServiceStatus::PHASE_READY &&
           status.replicas(0).revision() == revision_;
  }));
  // Same processes, new code, and the reload command told once.
  EXPECT_TRUE(Serves("two"));
  EXPECT_EQ(AgentPid(*tetherd_, "web-0"), agent);
  EXPECT_EQ(ReadFile(reloads_).value_or(""), revision_ + "\n");

  // Tether's own calls are not how this service is called.
  EXPECT_THAT(CallService(*tetherd_, "web"),
              HasSubstr("runs its own server (sidecar mode)"));
}

TEST_F(SidecarIntegrationTest, TheExampleSiteServesItsPage) {
  absl::StatusOr<std::string> path =
      FindDataFile("examples/static_site/site.yaml");
  ASSERT_TRUE(path.ok()) << path.status();
  absl::StatusOr<servicespec::ServiceFile> file =
      servicespec::LoadServiceFile(*path);
  ASSERT_TRUE(file.ok()) << file.status();
  // Its fixed ports may be taken on a shared machine.
  file->spec.mutable_app()->set_port(app_port_);
  file->spec.mutable_app()->set_proxy_port(0);
  const std::string revision = UploadDir(*tetherd_, file->code_dir);
  const grpc::Status deployed = tetherd_->Deploy(file->spec, revision);
  ASSERT_TRUE(deployed.ok()) << deployed.error_message();
  ASSERT_TRUE(WaitFor([&] {
    grpc::ClientContext context;
    tether::v1::GetServiceRequest request;
    request.set_name("site");
    ServiceStatus status;
    if (!tetherd_->stub().GetService(&context, request, &status).ok() ||
        status.replicas_size() != 1) {
      return false;
    }
    const std::string& address = status.replicas(0).app_address();
    int port = 0;
    return absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port) &&
           absl::StrContains(HttpBody(HttpRequest(port, "/")),
                             "synced by Tether");
  }));
}

TEST_F(SidecarIntegrationTest, RequestsThroughTheProxyKeepItAwake) {
  Deploy("awake", "3s");
  ASSERT_TRUE(Serves("awake"));
  // Three TTLs of steady requests: the service stays up.
  const absl::Time until = absl::Now() + absl::Seconds(9);
  while (absl::Now() < until) {
    ASSERT_EQ(HttpBody(HttpRequest(ProxyPort(), "/index.html")), "awake");
    ASSERT_EQ(Status().phase(), ServiceStatus::PHASE_READY);
    absl::SleepFor(absl::Milliseconds(300));
  }
  EXPECT_TRUE(Status().activity().has_last_activity());
  // Then quiet: the TTL parks it, app and agent.
  ASSERT_TRUE(
      WaitFor([&] { return Status().phase() == ServiceStatus::PHASE_IDLE; }));
  EXPECT_TRUE(WaitFor([&] { return AgentPid(*tetherd_, "web-0") < 0; }));
}

}  // namespace
}  // namespace tether::testing
