// The probe routes over a real HttpServer, with readiness the test flips.

#include "common/health_routes.h"

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/http_test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::tether::testing::HttpRequest;

class HealthRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServer::Options options;
    options.listen_address = "127.0.0.1:0";
    options.routes = HealthRoutes([this] {
      absl::MutexLock lock(&mu_);
      return ready_;
    });
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Create(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void SetReady(absl::Status status) {
    absl::MutexLock lock(&mu_);
    ready_ = std::move(status);
  }

  std::string Get(const std::string& path, const std::string& method = "GET") {
    return HttpRequest(server_->port(), path, method);
  }

  absl::Mutex mu_;
  absl::Status ready_ ABSL_GUARDED_BY(mu_) =
      absl::UnavailableError("no revision loaded yet");
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HealthRoutesTest, HealthzIsOkWhileServing) {
  const std::string reply = Get("/healthz");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\nok\n"));
}

TEST_F(HealthRoutesTest, ReadyzFollowsReadiness) {
  std::string reply = Get("/readyz");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\nnot ready: no revision loaded yet\n"));

  SetReady(absl::OkStatus());
  reply = Get("/readyz?verbose=1");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\nready\n"));

  // The reason stays on one line whatever readiness says.
  SetReady(absl::UnavailableError("draining\r\nsecond line"));
  EXPECT_THAT(Get("/readyz"),
              EndsWith("\r\n\r\nnot ready: draining  second line\n"));
}

TEST_F(HealthRoutesTest, HeadHasHeadersButNoBody) {
  const std::string reply = Get("/healthz", "HEAD");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\n"));
  EXPECT_THAT(Get("/readyz", "HEAD"),
              StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
}

TEST_F(HealthRoutesTest, OtherPathsAndMethodsAreRefused) {
  EXPECT_THAT(Get("/metrics"), StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(Get("/healthz", "POST"),
              StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
}

}  // namespace
}  // namespace tether
