#include "agent/activity_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/log.h"

namespace tether::agent {
namespace {

// epoll_event.data: the connection id in the high bits, the side in bit 0;
// the listener and the stop eventfd have ids of their own.
constexpr uint64_t kListenerTag = 0;
constexpr uint64_t kStopTag = 1;
constexpr uint64_t kFirstConnectionId = 1;
constexpr int kClientSide = 0;
constexpr int kUpstreamSide = 1;

uint64_t Tag(uint64_t id, int side) { return id << 1 | side; }

void SetNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

absl::StatusOr<sockaddr_in> ParseIpv4(const std::string& address) {
  std::pair<std::string, std::string> parts =
      absl::StrSplit(address, absl::MaxSplits(':', 1));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  int port = 0;
  if (!absl::SimpleAtoi(parts.second, &port) || port < 0 || port > 65535 ||
      inet_pton(AF_INET, parts.first.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("proxy address \"", address, "\" is not IPv4 host:port"));
  }
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Bytes read from one socket, not yet written to the other.
struct Pipe {
  std::unique_ptr<char[]> buffer{new char[ActivityProxy::kBufferBytes]};
  size_t begin = 0;
  size_t end = 0;
  // The source said EOF.
  bool eof = false;
  // The EOF was passed on (shutdown(SHUT_WR) of the destination).
  bool shut = false;
};

}  // namespace

struct ActivityProxy::Connection {
  int client = -1;
  int upstream = -1;
  // The upstream connect is in flight.
  bool connecting = true;
  Pipe to_upstream;
  Pipe to_client;
  absl::Time last_io;
};

class ActivityProxy::Loop {
 public:
  Loop(Options options, int listener, int epoll, int stop)
      : options_(std::move(options)),
        listener_(listener),
        epoll_(epoll),
        stop_(stop) {}

  ~Loop() {
    for (auto& [id, connection] : connections_) Close(*connection);
    close(listener_);
    close(stop_);
    close(epoll_);
  }

  void Stop() {
    const uint64_t one = 1;
    (void)!write(stop_, &one, sizeof(one));
  }

  void Run() {
    epoll_event events[64];
    while (true) {
      const int n = epoll_wait(epoll_, events, 64, /*timeout_ms=*/1000);
      if (n < 0 && errno != EINTR) {
        TETHER_LOG(ERROR) << "proxy stops: epoll_wait: " << strerror(errno);
        return;
      }
      for (int i = 0; i < n; ++i) {
        const uint64_t tag = events[i].data.u64;
        if (tag == kStopTag) return;
        if (tag == kListenerTag) {
          Accept();
          continue;
        }
        auto it = connections_.find(tag >> 1);
        if (it == connections_.end()) continue;  // closed earlier this round
        Connection& connection = *it->second;
        if ((tag & 1) == kUpstreamSide && connection.connecting &&
            !FinishConnect(connection)) {
          Erase(it);
          continue;
        }
        if (!Pump(connection)) Erase(it);
      }
      CloseIdle();
    }
  }

 private:
  using Map = absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>>;

  void Watch(int fd, uint64_t tag) {
    epoll_event event{};
    // Edge-triggered: Pump moves bytes until the kernel says EAGAIN.
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = tag;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
  }

  void WatchListener() {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLET;
    event.data.u64 = kListenerTag;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &event);
    listening_ = true;
  }

  void Accept() {
    while (connections_.size() <
           static_cast<size_t>(options_.max_connections)) {
      const int client =
          accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          TETHER_LOG(WARNING) << "proxy accept: " << strerror(errno);
        }
        return;
      }
      Open(client);
    }
    // Full: the rest wait in the backlog until a connection closes.
    epoll_ctl(epoll_, EPOLL_CTL_DEL, listener_, nullptr);
    listening_ = false;
  }

  void Open(int client) {
    options_.activity->CallStarted();
    auto connection = std::make_unique<Connection>();
    connection->client = client;
    connection->last_io = absl::Now();
    SetNoDelay(client);
    connection->upstream =
        socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in upstream{};
    upstream.sin_family = AF_INET;
    upstream.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    upstream.sin_port = htons(static_cast<uint16_t>(options_.upstream_port));
    if (connection->upstream < 0 ||
        (connect(connection->upstream,
                 reinterpret_cast<const sockaddr*>(&upstream),
                 sizeof(upstream)) != 0 &&
         errno != EINPROGRESS)) {
      // The server is not up: the client sees a closed connection.
      Close(*connection);
      return;
    }
    SetNoDelay(connection->upstream);
    const uint64_t id = next_id_++;
    Watch(client, Tag(id, kClientSide));
    Watch(connection->upstream, Tag(id, kUpstreamSide));
    connections_.emplace(id, std::move(connection));
  }

  static bool FinishConnect(Connection& connection) {
    int error = 0;
    socklen_t len = sizeof(error);
    if (getsockopt(connection.upstream, SOL_SOCKET, SO_ERROR, &error, &len) !=
            0 ||
        error != 0) {
      return false;
    }
    connection.connecting = false;
    return true;
  }

  // Moves what both sides allow; false when the connection is over.
  static bool Pump(Connection& connection) {
    bool moved = true;
    while (moved) {
      moved = false;
      if (!Transfer(connection.client, connection.upstream,
                    connection.to_upstream, /*can_read=*/true,
                    /*can_write=*/!connection.connecting, moved) ||
          !Transfer(
              connection.upstream, connection.client, connection.to_client,
              /*can_read=*/!connection.connecting, /*can_write=*/true, moved)) {
        return false;
      }
      if (moved) connection.last_io = absl::Now();
    }
    return !(connection.to_upstream.shut && connection.to_client.shut);
  }

  // Reads `from` into `pipe` and writes `pipe` to `to`, each until EAGAIN;
  // passes an EOF on once the pipe is flushed. False on a socket error.
  static bool Transfer(int from, int to, Pipe& pipe, bool can_read,
                       bool can_write, bool& moved) {
    while (can_read && !pipe.eof && pipe.end < kBufferBytes) {
      const ssize_t n =
          read(from, pipe.buffer.get() + pipe.end, kBufferBytes - pipe.end);
      if (n > 0) {
        pipe.end += static_cast<size_t>(n);
      } else if (n == 0) {
        pipe.eof = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else if (errno != EINTR) {
        return false;
      }
      moved = true;
    }
    while (can_write && pipe.begin < pipe.end) {
      const ssize_t n = send(to, pipe.buffer.get() + pipe.begin,
                             pipe.end - pipe.begin, MSG_NOSIGNAL);
      if (n > 0) {
        pipe.begin += static_cast<size_t>(n);
        moved = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else if (errno != EINTR) {
        return false;
      }
    }
    if (pipe.begin == pipe.end) pipe.begin = pipe.end = 0;
    if (can_write && pipe.eof && pipe.end == 0 && !pipe.shut) {
      shutdown(to, SHUT_WR);
      pipe.shut = true;
      moved = true;
    }
    return true;
  }

  void CloseIdle() {
    const absl::Time now = absl::Now();
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto next = std::next(it);
      if (now - it->second->last_io >= options_.idle_timeout) Erase(it);
      it = next;
    }
  }

  void Erase(Map::iterator it) {
    Close(*it->second);
    connections_.erase(it);
    if (!listening_) WatchListener();
  }

  // Closing an fd also takes it out of the epoll set.
  void Close(Connection& connection) {
    close(connection.client);
    if (connection.upstream >= 0) close(connection.upstream);
    options_.activity->CallFinished();
  }

  const Options options_;
  const int listener_;
  const int epoll_;
  const int stop_;
  bool listening_ = false;
  uint64_t next_id_ = kFirstConnectionId;
  Map connections_;

  friend class ActivityProxy;
};

absl::StatusOr<std::unique_ptr<ActivityProxy>> ActivityProxy::Create(
    Options options) {
  if (options.activity == nullptr) {
    return absl::InvalidArgumentError("proxy needs activity counters");
  }
  if (options.upstream_port < 1 || options.upstream_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "app port ", options.upstream_port, " is not a port (1-65535)"));
  }
  absl::StatusOr<sockaddr_in> addr = ParseIpv4(options.listen_address);
  if (!addr.ok()) return addr.status();
  const int listener =
      socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listener < 0) return ErrnoStatus(errno, "socket", "");
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len = sizeof(*addr);
  if (bind(listener, reinterpret_cast<const sockaddr*>(&*addr), len) != 0 ||
      listen(listener, SOMAXCONN) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&*addr), &len) != 0) {
    const int err = errno;
    close(listener);
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen_address, ": ", strerror(err)));
  }
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  const int stop = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll < 0 || stop < 0) {
    const int err = errno;
    close(listener);
    if (epoll >= 0) close(epoll);
    if (stop >= 0) close(stop);
    return ErrnoStatus(err, "epoll_create1/eventfd", "");
  }
  std::unique_ptr<ActivityProxy> proxy(new ActivityProxy());
  proxy->port_ = ntohs(addr->sin_port);
  proxy->loop_ =
      std::make_unique<Loop>(std::move(options), listener, epoll, stop);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kStopTag;
  epoll_ctl(epoll, EPOLL_CTL_ADD, stop, &event);
  proxy->loop_->WatchListener();
  proxy->thread_ = std::thread([loop = proxy->loop_.get()] { loop->Run(); });
  return proxy;
}

ActivityProxy::~ActivityProxy() {
  loop_->Stop();
  thread_.join();
}

}  // namespace tether::agent
