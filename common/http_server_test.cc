// HttpServer over real loopback sockets on port 0.

#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/http_test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::tether::testing::HttpExchange;
using ::tether::testing::HttpRequest;

HttpServer::Options TestOptions() {
  HttpServer::Options options;
  options.listen_address = "127.0.0.1:0";
  options.routes = {
      {"/hello",
       [] {
         return HttpResponse{200, "text/plain", "hi\n"};
       }},
      {"/busy",
       [] {
         return HttpResponse{503, "text/plain", "not ready: busy\n"};
       }},
  };
  return options;
}

std::unique_ptr<HttpServer> Start(HttpServer::Options options) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Create(std::move(options));
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  EXPECT_NE((*server)->port(), 0);
  return *std::move(server);
}

TEST(HttpServerTest, ServesARouteWithItsStatusTypeAndBody) {
  std::unique_ptr<HttpServer> server = Start(TestOptions());
  ASSERT_NE(server, nullptr);
  std::string reply = HttpRequest(server->port(), "/hello");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr("Content-Type: text/plain\r\n"));
  EXPECT_THAT(reply, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_THAT(reply, HasSubstr("Cache-Control: no-store\r\n"));
  EXPECT_THAT(reply, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\nhi\n"));

  reply = HttpRequest(server->port(), "/busy?verbose=1");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\nnot ready: busy\n"));
}

TEST(HttpServerTest, HeadHasTheHeadersButNoBody) {
  std::unique_ptr<HttpServer> server = Start(TestOptions());
  ASSERT_NE(server, nullptr);
  const std::string reply = HttpRequest(server->port(), "/hello", "HEAD");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\n"));
}

TEST(HttpServerTest, PathsMatchExactlyAndOthersAre404) {
  std::unique_ptr<HttpServer> server = Start(TestOptions());
  ASSERT_NE(server, nullptr);
  for (const char* path : {"/", "/nope", "/hello/more", "/hell"}) {
    const std::string reply = HttpRequest(server->port(), path);
    EXPECT_THAT(reply, StartsWith("HTTP/1.1 404 Not Found\r\n")) << path;
    EXPECT_THAT(reply, EndsWith("\r\n\r\nnot found\n")) << path;
  }
}

TEST(HttpServerTest, MethodsOtherThanGetAndHeadAre405) {
  std::unique_ptr<HttpServer> server = Start(TestOptions());
  ASSERT_NE(server, nullptr);
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    const std::string reply = HttpRequest(server->port(), "/hello", method);
    EXPECT_THAT(reply, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"))
        << method;
    EXPECT_THAT(reply, HasSubstr("Allow: GET, HEAD\r\n")) << method;
  }
  // A request line that is not HTTP never reaches a route.
  EXPECT_THAT(HttpExchange(server->port(), "garbage\r\n\r\n"),
              Not(StartsWith("HTTP/1.1 200")));
}

TEST(HttpServerTest, ServesConcurrentClients) {
  std::atomic<int> served{0};
  HttpServer::Options options = TestOptions();
  options.worker_threads = 4;
  options.routes.push_back({"/count", [&served] {
                              served.fetch_add(1);
                              return HttpResponse{200, "text/plain", "ok\n"};
                            }});
  std::unique_ptr<HttpServer> server = Start(std::move(options));
  ASSERT_NE(server, nullptr);
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&server] {
      for (int j = 0; j < 25; ++j) {
        EXPECT_THAT(HttpRequest(server->port(), "/count"),
                    StartsWith("HTTP/1.1 200 OK\r\n"));
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(served.load(), 200);
}

TEST(HttpServerTest, ASlowClientHoldsOneWorkerUntilItsTimeout) {
  HttpServer::Options options = TestOptions();
  options.worker_threads = 2;
  options.request_timeout = absl::Milliseconds(200);
  std::unique_ptr<HttpServer> server = Start(std::move(options));
  ASSERT_NE(server, nullptr);
  // Half a request line, then nothing.
  const int slow = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval limit = {30, 0};
  setsockopt(slow, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(server->port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(
      connect(slow, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(send(slow, "GET /hel", 8, MSG_NOSIGNAL), 8);
  // The other worker answers meanwhile...
  EXPECT_THAT(HttpRequest(server->port(), "/hello"),
              StartsWith("HTTP/1.1 200 OK\r\n"));
  // ...and the slow client is cut off at its timeout, never served.
  std::string reply;
  char buffer[1024];
  ssize_t n;
  while ((n = recv(slow, buffer, sizeof(buffer), 0)) > 0)
    reply.append(buffer, n);
  EXPECT_EQ(n, 0) << "closed, not the 30 s safety limit";
  EXPECT_THAT(reply, Not(HasSubstr("200 OK")));
  close(slow);
}

TEST(HttpServerCreateTest, RejectsBadOptions) {
  for (const char* address :
       {"", "no-port", "127.0.0.1", "127.0.0.1:70000", "127.0.0.1:-1",
        "127.0.0.1:80s", "127.0.0.1:0,127.0.0.1:0", "localhost:0", ":0",
        "[::1]:0"}) {
    HttpServer::Options options = TestOptions();
    options.listen_address = address;
    EXPECT_TRUE(absl::IsInvalidArgument(HttpServer::Create(options).status()))
        << address;
  }
  HttpServer::Options options = TestOptions();
  options.worker_threads = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(HttpServer::Create(options).status()));
  options = TestOptions();
  options.routes.push_back(options.routes.front());
  EXPECT_TRUE(absl::IsInvalidArgument(HttpServer::Create(options).status()));
  options = TestOptions();
  options.routes.push_back({"metrics", [] { return HttpResponse(); }});
  EXPECT_TRUE(absl::IsInvalidArgument(HttpServer::Create(options).status()));
}

TEST(HttpServerCreateTest, ATakenPortIsUnavailableAndSaysWhy) {
  std::unique_ptr<HttpServer> first = Start(TestOptions());
  ASSERT_NE(first, nullptr);
  HttpServer::Options options = TestOptions();
  options.listen_address = absl::StrCat("127.0.0.1:", first->port());
  const absl::Status second = HttpServer::Create(options).status();
  EXPECT_TRUE(absl::IsUnavailable(second)) << second;
  EXPECT_THAT(second.message(), HasSubstr("cannot listen on 127.0.0.1:"));
  EXPECT_THAT(second.message(), HasSubstr("Address already in use"));
  // The first one still serves.
  EXPECT_THAT(HttpRequest(first->port(), "/hello"),
              StartsWith("HTTP/1.1 200 OK\r\n"));
}

}  // namespace
}  // namespace tether
