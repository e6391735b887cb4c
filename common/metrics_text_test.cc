#include "common/metrics_text.h"

#include <stdio.h>
#include <unistd.h>

#include <string>

#include "common/http_test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tether {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

void Fill(prometheus::Registry& registry) {
  prometheus::BuildCounter()
      .Name("test_requests_total")
      .Help("Requests seen.")
      .Register(registry)
      .Add({{"outcome", "ok"}})
      .Increment(3);
  prometheus::BuildHistogram()
      .Name("test_latency_seconds")
      .Help("Latency.")
      .Register(registry)
      .Add({}, prometheus::Histogram::BucketBoundaries{0.1, 1})
      .Observe(0.5);
}

TEST(MetricsTextTest, RendersTheTextFormat) {
  prometheus::Registry registry;
  Fill(registry);
  const std::string text = MetricsText(registry);
  EXPECT_THAT(text, HasSubstr("# HELP test_requests_total Requests seen.\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE test_requests_total counter\n"));
  EXPECT_THAT(text, HasSubstr("test_requests_total{outcome=\"ok\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("test_latency_seconds_bucket{le=\"1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("test_latency_seconds_count 1\n"));
}

// Prometheus's own linter accepts it (promtool comes with the prometheus
// package tools/setup installs).
TEST(MetricsTextTest, PromtoolAcceptsIt) {
  if (access("/usr/bin/promtool", X_OK) != 0) {
    GTEST_SKIP() << "no /usr/bin/promtool (tools/setup installs prometheus)";
  }
  prometheus::Registry registry;
  Fill(registry);
  FILE* check = popen("/usr/bin/promtool check metrics", "w");
  ASSERT_NE(check, nullptr);
  const std::string text = MetricsText(registry);
  fwrite(text.data(), 1, text.size(), check);
  EXPECT_EQ(pclose(check), 0) << text;
}

TEST(MetricsTextTest, TheRouteServesTheRegistry) {
  prometheus::Registry registry;
  Fill(registry);
  HttpServer::Options options;
  options.listen_address = "127.0.0.1:0";
  options.routes = {MetricsRoute(&registry)};
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string reply = testing::HttpRequest((*server)->port(), "/metrics");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_EQ(testing::HttpBody(reply), MetricsText(registry));
}

TEST(MetricsTextTest, OutcomeLabelsAreLowercaseCodeNames) {
  EXPECT_EQ(OutcomeLabel(absl::StatusCode::kOk), "ok");
  EXPECT_EQ(OutcomeLabel(absl::StatusCode::kInvalidArgument),
            "invalid_argument");
  EXPECT_EQ(OutcomeLabel(absl::StatusCode::kUnauthenticated),
            "unauthenticated");
  EXPECT_EQ(OutcomeLabel(static_cast<absl::StatusCode>(42)), "unknown");
}

}  // namespace
}  // namespace tether
