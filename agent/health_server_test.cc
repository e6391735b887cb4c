// The health server over real loopback sockets, with a readiness source the
// test flips.

#include "agent/health_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::agent {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Ready or not, as the test says. Thread-safe.
class FakeReadiness final : public ReadinessSource {
 public:
  absl::Status Ready() const override {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  void Set(absl::Status status) {
    absl::MutexLock lock(&mu_);
    status_ = std::move(status);
  }

 private:
  mutable absl::Mutex mu_;
  absl::Status status_ ABSL_GUARDED_BY(mu_) =
      absl::UnavailableError("no revision loaded yet");
};

// A connected client socket; closed on destruction.
class Client {
 public:
  explicit Client(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    // Only a safety net so a broken server fails the test instead of
    // hanging it; no assertion depends on it.
    timeval limit = {30, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(
        connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
        0);
  }
  ~Client() { close(fd_); }

  void Send(const std::string& data) {
    EXPECT_EQ(send(fd_, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }

  // Everything until the server closes.
  std::string ReadAll() {
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = recv(fd_, buffer, sizeof(buffer), 0)) > 0)
      out.append(buffer, n);
    return out;
  }

 private:
  const int fd_;
};

class HealthServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(HealthServer::Options()); }

  void Start(HealthServer::Options options) {
    server_.reset();
    options.listen_address = "127.0.0.1:0";
    options.readiness = &readiness_;
    absl::StatusOr<std::unique_ptr<HealthServer>> server =
        HealthServer::Create(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_NE(server_->port(), 0);
  }

  std::string Request(const std::string& request) {
    Client client(server_->port());
    client.Send(request);
    return client.ReadAll();
  }

  std::string Get(const std::string& path, const std::string& method = "GET") {
    return Request(
        absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: x\r\n\r\n"));
  }

  FakeReadiness readiness_;
  std::unique_ptr<HealthServer> server_;
};

TEST_F(HealthServerTest, HealthzIsOkWhileServing) {
  const std::string reply = Get("/healthz");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(reply, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\nok\n"));
}

TEST_F(HealthServerTest, ReadyzFollowsTheReadinessSource) {
  std::string reply = Get("/readyz");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\nnot ready: no revision loaded yet\n"));

  readiness_.Set(absl::OkStatus());
  reply = Get("/readyz?verbose=1");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\nready\n"));

  // The reason stays on one line whatever the source says.
  readiness_.Set(absl::UnavailableError("draining\r\nsecond line"));
  EXPECT_THAT(Get("/readyz"),
              EndsWith("\r\n\r\nnot ready: draining  second line\n"));
}

TEST_F(HealthServerTest, HeadHasHeadersButNoBody) {
  const std::string reply = Get("/healthz", "HEAD");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\n"));
  EXPECT_THAT(Get("/readyz", "HEAD"),
              StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
}

TEST_F(HealthServerTest, UnknownPathsAndMethodsAreRefused) {
  EXPECT_THAT(Get("/metrics"), StartsWith("HTTP/1.1 404 Not Found\r\n"));
  const std::string reply = Get("/healthz", "POST");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
  EXPECT_THAT(reply, HasSubstr("Allow: GET, HEAD\r\n"));
  EXPECT_THAT(Request("garbage\r\n\r\n"),
              StartsWith("HTTP/1.1 400 Bad Request\r\n"));
}

TEST_F(HealthServerTest, OversizedRequestsAreCut) {
  HealthServer::Options options;
  options.max_request_bytes = 64;
  Start(std::move(options));
  EXPECT_THAT(Get(std::string(100, 'a')),
              StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}

TEST_F(HealthServerTest, ASlowClientDoesNotBlockOthersAndTimesOut) {
  HealthServer::Options options;
  options.request_timeout = absl::Milliseconds(200);
  options.max_connections = 2;
  Start(std::move(options));
  Client slow(server_->port());
  slow.Send("GET /hea");
  // Answered while the slow client still holds its slot (and the only
  // other one), long before the slow client's timeout could free it...
  EXPECT_THAT(Get("/healthz"), StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(Get("/healthz"), StartsWith("HTTP/1.1 200 OK\r\n"));
  // ...and the slow client is cut off at its deadline.
  EXPECT_THAT(slow.ReadAll(), StartsWith("HTTP/1.1 408 Request Timeout\r\n"));
}

TEST_F(HealthServerTest, ServesConcurrentClients) {
  readiness_.Set(absl::OkStatus());
  std::vector<std::thread> clients;
  clients.reserve(8);
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([this] {
      for (int j = 0; j < 25; ++j) {
        EXPECT_THAT(Get(j % 2 == 0 ? "/healthz" : "/readyz"),
                    StartsWith("HTTP/1.1 200 OK\r\n"));
      }
    });
  }
  for (std::thread& client : clients) client.join();
}

TEST(HealthServerCreateTest, RejectsBadOptions) {
  FakeReadiness readiness;
  HealthServer::Options options;
  options.listen_address = "127.0.0.1:0";
  EXPECT_TRUE(absl::IsInvalidArgument(HealthServer::Create(options).status()));
  options.readiness = &readiness;
  options.listen_address = "no-port";
  EXPECT_TRUE(absl::IsInvalidArgument(HealthServer::Create(options).status()));
  options.listen_address = "127.0.0.1:70000";
  EXPECT_TRUE(absl::IsInvalidArgument(HealthServer::Create(options).status()));
}

TEST(HealthServerCreateTest, ATakenPortIsUnavailable) {
  FakeReadiness readiness;
  HealthServer::Options options;
  options.listen_address = "127.0.0.1:0";
  options.readiness = &readiness;
  absl::StatusOr<std::unique_ptr<HealthServer>> first =
      HealthServer::Create(options);
  ASSERT_TRUE(first.ok()) << first.status();
  options.listen_address = absl::StrCat("127.0.0.1:", (*first)->port());
  EXPECT_TRUE(absl::IsUnavailable(HealthServer::Create(options).status()));
}

}  // namespace
}  // namespace tether::agent
