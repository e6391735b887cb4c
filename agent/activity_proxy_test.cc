#include "agent/activity_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/activity.h"
#include "gtest/gtest.h"

namespace tether::agent {
namespace {

int Listen(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  EXPECT_EQ(listen(fd, 16), 0);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

// Reads until EOF.
std::string ReadAll(int fd) {
  std::string out;
  char buffer[65536];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) out.append(buffer, n);
  return out;
}

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    ASSERT_GT(n, 0);
    done += static_cast<size_t>(n);
  }
}

// A server that answers each connection with "echo:" and all it read,
// after the client's half-close.
class EchoServer {
 public:
  EchoServer() : fd_(Listen(&port_)) {
    thread_ = std::thread([this] {
      int client;
      while ((client = accept(fd_, nullptr, nullptr)) >= 0) {
        const std::string in = ReadAll(client);
        WriteAll(client, "echo:" + in);
        close(client);
      }
    });
  }
  ~EchoServer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int port_ = 0;
  int fd_;
  std::thread thread_;
};

std::unique_ptr<ActivityProxy> Proxy(
    ActivityCounters* activity, int upstream_port,
    absl::Duration idle_timeout = absl::Seconds(30)) {
  ActivityProxy::Options options;
  options.listen_address = "127.0.0.1:0";
  options.upstream_port = upstream_port;
  options.activity = activity;
  options.idle_timeout = idle_timeout;
  auto proxy = ActivityProxy::Create(options);
  EXPECT_TRUE(proxy.ok()) << proxy.status();
  return proxy.ok() ? *std::move(proxy) : nullptr;
}

void AwaitFinished(const ActivityCounters& activity, int64_t finished) {
  for (int i = 0; i < 500 && activity.Snapshot().finished < finished; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(activity.Snapshot().finished, finished);
}

TEST(ActivityProxyTest, ForwardsBytesBothWaysAndHalfCloses) {
  EchoServer server;
  ActivityCounters activity;
  auto proxy = Proxy(&activity, server.port());
  // Larger than the proxy's buffers, so both directions fill and drain.
  const std::string payload(3 * ActivityProxy::kBufferBytes + 7, 'x');
  const int client = Connect(proxy->port());
  std::thread writer([&] {
    WriteAll(client, payload);
    shutdown(client, SHUT_WR);
  });
  const std::string answer = ReadAll(client);
  writer.join();
  close(client);
  EXPECT_EQ(answer, "echo:" + payload);
  AwaitFinished(activity, 1);
  EXPECT_EQ(activity.Snapshot().started, 1);
}

TEST(ActivityProxyTest, EachConnectionIsOneCallInFlightWhileOpen) {
  EchoServer server;
  ActivityCounters activity;
  auto proxy = Proxy(&activity, server.port());
  const int a = Connect(proxy->port());
  const int b = Connect(proxy->port());
  for (int i = 0; i < 500 && activity.Snapshot().in_flight < 2; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(activity.Snapshot().in_flight, 2);
  shutdown(a, SHUT_WR);
  EXPECT_EQ(ReadAll(a), "echo:");
  close(a);
  AwaitFinished(activity, 1);
  EXPECT_EQ(activity.Snapshot().in_flight, 1);
  close(b);
  AwaitFinished(activity, 2);
}

TEST(ActivityProxyTest, ServerDownClosesTheConnectionAndCountsIt) {
  int port = 0;
  close(Listen(&port));  // a port nobody listens on
  ActivityCounters activity;
  auto proxy = Proxy(&activity, port);
  const int client = Connect(proxy->port());
  EXPECT_EQ(ReadAll(client), "");
  close(client);
  AwaitFinished(activity, 1);
}

TEST(ActivityProxyTest, IdleConnectionsAreClosed) {
  EchoServer server;
  ActivityCounters activity;
  auto proxy = Proxy(&activity, server.port(), absl::Milliseconds(100));
  const int client = Connect(proxy->port());
  // The sweep runs about every second.
  EXPECT_EQ(ReadAll(client), "");
  close(client);
  AwaitFinished(activity, 1);
}

TEST(ActivityProxyTest, RefusesBadOptions) {
  ActivityCounters activity;
  ActivityProxy::Options options;
  options.activity = &activity;
  options.upstream_port = 80;
  options.listen_address = "localhost:0";
  EXPECT_EQ(ActivityProxy::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.listen_address = "127.0.0.1:0";
  options.upstream_port = 0;
  EXPECT_EQ(ActivityProxy::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether::agent
