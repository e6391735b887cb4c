// A real OpenTelemetry SDK (the JS SDK's OTLP/gRPC metric exporter, run by
// Node from tests/otel_js) reports a service's calls to tetherd in-process:
// cumulative and delta, on the main gRPC port and on --otlp_listen. tetherd
// accepts the reports, rejects the points it does not use, and the
// service's last activity moves.
//
// Needs node on PATH and tests/otel_js/node_modules (tools/setup runs
// `npm ci` there); skips and says so without them. node_modules is outside
// Bazel's view, so the target is tagged "external" (never cached).

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/child_process.h"
#include "common/files.h"
#include "common/http_test_client.h"
#include "common/proto_time.h"
#include "common/runfiles.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/in_process_tetherd.h"
#include "tests/service_test_util.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {
namespace {

using tether::v1::ServiceStatus;

// `name` found in a directory of $PATH; "" if none.
std::string FindOnPath(const std::string& name) {
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':')) {
    if (dir.empty()) continue;
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// The value of the series `series` (name and labels exactly as tetherd
// writes them) in Prometheus text; 0 when absent.
double SeriesValue(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, series + " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return 0;
}

// What one run of export_activity.js did.
struct ExportRun {
  ProcessExit exit;
  // Its last stdout line, parsed (null when it printed no JSON).
  nlohmann::json result;
  // Everything it printed, for failure messages.
  std::string output;
};

class OtelSdkIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = FindOnPath("node");
    if (node_.empty()) GTEST_SKIP() << "skipped: node is not on PATH";
    absl::StatusOr<std::string> script =
        FindDataFile("tests/otel_js/export_activity.js");
    ASSERT_TRUE(script.ok()) << script.status();
    // The runfile links to the source tree, where tools/setup put
    // node_modules; node resolves its modules from the real path too.
    char real[PATH_MAX];
    ASSERT_NE(realpath(script->c_str(), real), nullptr) << *script;
    script_ = real;
    const std::string modules =
        absl::StrCat(script_.substr(0, script_.rfind('/')),
                     "/node_modules/@opentelemetry/sdk-metrics");
    if (access(modules.c_str(), F_OK) != 0) {
      GTEST_SKIP() << "skipped: " << modules
                   << " is missing (tools/setup runs npm ci in tests/otel_js)";
    }

    // Agents report their own activity to tetherd over OTLP; switched off
    // (they inherit this environment) so the counters below are the SDK's.
    setenv("OTEL_METRICS_EXPORTER", "none", 1);
    controlplane::Tetherd::Options options;
    options.http_listen_address = "127.0.0.1:0";
    options.otlp_listen_address = "127.0.0.1:0";
    auto tetherd = InProcessTetherd::Start(NewTempDir("state"), options);
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = *std::move(tetherd);
    const std::string code = NewTempDir("code");
    WriteTree(code,
              {{"app.py", "def greet(name):\n    return 'hi ' + name\n"}});
    const grpc::Status deployed = tetherd_->Deploy(PythonSpec("greet", "greet"),
                                                   UploadDir(*tetherd_, code));
    ASSERT_TRUE(deployed.ok()) << deployed.error_message();
    token_ = tetherd_->ServiceToken("greet");
    ASSERT_FALSE(token_.empty());
  }

  void TearDown() override { unsetenv("OTEL_METRICS_EXPORTER"); }

  ServiceStatus Status() {
    grpc::ClientContext context;
    tether::v1::GetServiceRequest request;
    request.set_name("greet");
    ServiceStatus status;
    const grpc::Status got =
        tetherd_->stub().GetService(&context, request, &status);
    EXPECT_TRUE(got.ok()) << got.error_message();
    return status;
  }

  absl::Time LastActivity() {
    const ServiceStatus status = Status();
    if (!status.activity().has_last_activity()) return absl::InfinitePast();
    return FromProtoTimestamp(status.activity().last_activity());
  }

  std::string Metrics() {
    return HttpBody(HttpRequest(tetherd_->tetherd().http_port(), "/metrics"));
  }

  // Runs the script against `endpoint` with the service's token.
  ExportRun Export(const std::string& endpoint,
                   const std::string& temporality) {
    const std::string out = NewTempDir("node") + "/out";
    ChildSpec spec;
    spec.executable = node_;
    spec.argv = {node_, script_, endpoint, token_, temporality, "greet"};
    spec.socket_type = 0;
    spec.output_path = out;
    ExportRun run;
    absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
    if (!child.ok()) {
      ADD_FAILURE() << "cannot run node: " << child.status();
      return run;
    }
    run.exit = WaitChild(child->pid);
    if (child->pidfd >= 0) close(child->pidfd);
    run.output = ReadFile(out).value_or("");
    std::vector<absl::string_view> lines =
        absl::StrSplit(run.output, '\n', absl::SkipWhitespace());
    if (!lines.empty() && absl::StartsWith(lines.back(), "{")) {
      run.result = nlohmann::json::parse(lines.back(), nullptr,
                                         /*allow_exceptions=*/false);
    }
    return run;
  }

  // One export of the script's metrics is accepted, its histogram point
  // rejected, and the service's activity moves.
  void ExpectAcceptedReport(const std::string& endpoint,
                            const std::string& temporality) {
    SCOPED_TRACE(absl::StrCat(temporality, " to ", endpoint));
    const std::string before = Metrics();
    const absl::Time activity_before = LastActivity();

    const ExportRun run = Export(endpoint, temporality);
    ASSERT_EQ(run.exit, ProcessExit{}) << run.exit.ToString() << "\n"
                                       << run.output;
    ASSERT_TRUE(run.result.is_object()) << run.output;
    EXPECT_EQ(run.result.value("ok", false), true) << run.output;
    const nlohmann::json& exports = run.result["exports"];
    ASSERT_EQ(exports.size(), 1u) << run.output;
    EXPECT_EQ(exports[0].value("code", -1), 0) << run.output;
    // started, finished, in_flight and the histogram: one point each.
    EXPECT_EQ(exports[0].value("dataPoints", 0), 4) << run.output;
    // The SDK saw tetherd's partial_success: the histogram's one point.
    const nlohmann::json& partial = run.result["partialSuccess"];
    ASSERT_EQ(partial.size(), 1u) << run.output;
    EXPECT_EQ(partial[0].value("rejectedDataPoints", 0), 1) << run.output;
    EXPECT_TRUE(absl::StrContains(partial[0].value("errorMessage", ""),
                                  "tether.calls.started"))
        << run.output;

    const std::string after = Metrics();
    const std::string accepted =
        "tether_otlp_reports_total{result=\"accepted\"}";
    const std::string rejected =
        "tether_otlp_reports_total{result=\"rejected\"}";
    const std::string points = "tether_otlp_data_points_rejected_total";
    EXPECT_EQ(SeriesValue(after, accepted), SeriesValue(before, accepted) + 1)
        << after;
    EXPECT_EQ(SeriesValue(after, rejected), SeriesValue(before, rejected));
    EXPECT_EQ(SeriesValue(after, points), SeriesValue(before, points) + 1)
        << after;
    EXPECT_GT(LastActivity(), activity_before);
  }

  std::string node_;
  std::string script_;
  std::unique_ptr<InProcessTetherd> tetherd_;
  std::string token_;
};

TEST_F(OtelSdkIntegrationTest, CumulativeAndDeltaReportsOnTheGrpcPort) {
  ExpectAcceptedReport(tetherd_->tetherd().address(), "cumulative");
  // The UpDownCounter stays cumulative under a delta preference: one call
  // of the three is still running.
  EXPECT_EQ(Status().activity().calls_in_flight(), 1);
  ExpectAcceptedReport(tetherd_->tetherd().address(), "delta");
}

TEST_F(OtelSdkIntegrationTest, ReportOnTheSeparateOtlpPort) {
  const int port = tetherd_->tetherd().otlp_port();
  ASSERT_NE(port, 0);
  ExpectAcceptedReport(absl::StrCat("127.0.0.1:", port), "cumulative");
}

}  // namespace
}  // namespace tether::testing
