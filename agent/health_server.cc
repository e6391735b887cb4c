#include "agent/health_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/log.h"

namespace tether::agent {
namespace {

std::string Errno(absl::string_view what) {
  return absl::StrCat(what, ": ", strerror(errno));
}

// One full HTTP/1.1 reply. HEAD gets the same headers without the body.
std::string Reply(int code, absl::string_view reason, absl::string_view body,
                  bool head_only, absl::string_view extra_headers = "") {
  std::string reply = absl::StrCat(
      "HTTP/1.1 ", code, " ", reason,
      "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ",
      body.size(), "\r\nCache-Control: no-store\r\nConnection: close\r\n",
      extra_headers, "\r\n");
  if (!head_only) absl::StrAppend(&reply, body);
  return reply;
}

// The reason for a 503 on one line: it ends up in `kubectl describe`.
std::string OneLine(absl::string_view text) {
  std::string line(text);
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\r' || c == '\n'; },
      ' ');
  return line;
}

// Where the request head ends (just past the blank line), or npos.
size_t HeadEnd(const std::string& data) {
  const size_t crlf = data.find("\r\n\r\n");
  if (crlf != std::string::npos) return crlf + 4;
  // Bare LF line endings: tolerated as RFC 9112 section 2.2 suggests.
  const size_t lf = data.find("\n\n");
  return lf == std::string::npos ? std::string::npos : lf + 2;
}

absl::StatusOr<int> Listen(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "health listen address \"", address, "\" is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = absl::StrCat(port);
  const int resolved = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                                   service.c_str(), &hints, &found);
  if (resolved != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "health listen address \"", address, "\": ", gai_strerror(resolved)));
  }
  std::string last_error = "no address";
  int fd = -1;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0) {
      last_error = Errno("socket");
      continue;
    }
    // A restarted agent must rebind while old connections sit in TIME_WAIT.
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
      break;
    }
    last_error = Errno("bind");
    close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, ": ", last_error));
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage bound = {};
  socklen_t size = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &size) != 0) {
    return 0;
  }
  if (bound.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

}  // namespace

// One accepted client, owned by the loop.
struct HealthServer::Connection {
  explicit Connection(int fd, absl::Time deadline)
      : fd(fd), deadline(deadline) {}
  ~Connection() { close(fd); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const int fd;
  const absl::Time deadline;
  std::string request;
  // The reply once the request head is whole; `sent` bytes of it are out.
  std::string reply;
  size_t sent = 0;
  bool responding = false;
};

absl::StatusOr<std::unique_ptr<HealthServer>> HealthServer::Create(
    Options options) {
  if (options.readiness == nullptr) {
    return absl::InvalidArgumentError("health server needs a readiness source");
  }
  if (options.max_connections < 1 || options.max_request_bytes < 16) {
    return absl::InvalidArgumentError(
        "health server needs max_connections >= 1 and max_request_bytes >= "
        "16");
  }
  absl::StatusOr<int> listen_fd = Listen(options.listen_address);
  if (!listen_fd.ok()) return listen_fd.status();
  int wake[2];
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    const std::string error = Errno("pipe");
    close(*listen_fd);
    return absl::InternalError(error);
  }
  const int port = BoundPort(*listen_fd);
  return std::unique_ptr<HealthServer>(
      new HealthServer(std::move(options), *listen_fd, wake[0], wake[1], port));
}

HealthServer::HealthServer(Options options, int listen_fd, int wake_read_fd,
                           int wake_write_fd, int port)
    : options_(std::move(options)),
      listen_fd_(listen_fd),
      wake_read_fd_(wake_read_fd),
      wake_write_fd_(wake_write_fd),
      port_(port) {
  thread_ = std::thread([this] { Loop(); });
}

HealthServer::~HealthServer() {
  // The read end reports POLLHUP once the only write end is closed.
  close(wake_write_fd_);
  thread_.join();
  close(wake_read_fd_);
  close(listen_fd_);
}

void HealthServer::Loop() {
  std::vector<std::unique_ptr<Connection>> connections;
  std::vector<pollfd> fds;
  while (true) {
    const absl::Time now = absl::Now();
    // Expired clients get a best-effort 408, then lose their slot.
    connections.erase(
        std::remove_if(connections.begin(), connections.end(),
                       [&](const std::unique_ptr<Connection>& c) {
                         if (now < c->deadline) return false;
                         if (!c->responding) {
                           const std::string reply =
                               Reply(408, "Request Timeout",
                                     "request not received in time\n", false);
                           send(c->fd, reply.data(), reply.size(),
                                MSG_NOSIGNAL | MSG_DONTWAIT);
                         }
                         return true;
                       }),
        connections.end());

    fds.clear();
    fds.push_back({wake_read_fd_, POLLIN, 0});
    const bool accepting =
        static_cast<int>(connections.size()) < options_.max_connections;
    // When full, new clients wait in the backlog instead of being refused.
    fds.push_back({listen_fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
    absl::Time next_deadline = absl::InfiniteFuture();
    for (const auto& c : connections) {
      fds.push_back(
          {c->fd, static_cast<short>(c->responding ? POLLOUT : POLLIN), 0});
      next_deadline = std::min(next_deadline, c->deadline);
    }
    int timeout_ms = -1;
    if (next_deadline != absl::InfiniteFuture()) {
      // Rounded up so the loop does not wake just before the deadline.
      timeout_ms = static_cast<int>(std::max<int64_t>(
          0, absl::ToInt64Milliseconds(next_deadline - now) + 1));
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      // Stopping lets /healthz fail, so the kubelet restarts the agent.
      TETHER_LOG(ERROR) << Errno("health server poll") << "; stops serving";
      return;
    }
    if (fds[0].revents != 0) return;  // The destructor asks to stop.

    // Connections first: `fds` indexes match `connections` only until
    // accept appends more.
    std::vector<bool> done(connections.size(), false);
    for (size_t i = 0; i < connections.size(); ++i) {
      const short revents = fds[i + 2].revents;
      if (revents == 0) continue;
      Connection& c = *connections[i];
      if (!c.responding) {
        done[i] = !OnReadable(c);
      } else {
        done[i] = !OnWritable(c);
      }
    }
    size_t kept = 0;
    for (size_t i = 0; i < connections.size(); ++i) {
      if (!done[i]) connections[kept++] = std::move(connections[i]);
    }
    connections.resize(kept);

    if (accepting && (fds[1].revents & POLLIN) != 0) {
      while (static_cast<int>(connections.size()) < options_.max_connections) {
        const int fd =
            accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) {
            // Out of fds and the like: retried on the next wake-up.
            TETHER_LOG(WARNING) << Errno("health server accept");
          }
          break;
        }
        connections.push_back(std::make_unique<Connection>(
            fd, absl::Now() + options_.request_timeout));
      }
    }
  }
}

bool HealthServer::OnReadable(Connection& c) {
  char buffer[1024];
  while (true) {
    // Never more than one byte past the cap: enough to know it is too big.
    const size_t room = options_.max_request_bytes + 1 - c.request.size();
    const ssize_t n =
        recv(c.fd, buffer, std::min(sizeof(buffer), room), MSG_DONTWAIT);
    if (n == 0) return false;  // Gone before a whole request.
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    c.request.append(buffer, static_cast<size_t>(n));
    const size_t end = HeadEnd(c.request);
    if (end != std::string::npos) {
      c.reply = Respond(c.request.substr(0, end));
      break;
    }
    if (c.request.size() > options_.max_request_bytes) {
      c.reply = Reply(431, "Request Header Fields Too Large",
                      "request too large\n", false);
      break;
    }
  }
  c.responding = true;
  // Usually the whole reply fits the socket buffer right away.
  return OnWritable(c);
}

bool HealthServer::OnWritable(Connection& c) {
  while (c.sent < c.reply.size()) {
    const ssize_t n =
        send(c.fd, c.reply.data() + c.sent, c.reply.size() - c.sent,
             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    c.sent += static_cast<size_t>(n);
  }
  // Connection: close; half-close first so the client reads to EOF.
  shutdown(c.fd, SHUT_WR);
  return false;
}

std::string HealthServer::Respond(const std::string& head) const {
  const absl::string_view request_line =
      absl::string_view(head).substr(0, head.find('\n'));
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::StripSuffix(request_line, "\r"), ' ');
  if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
    return Reply(400, "Bad Request", "bad request line\n", false);
  }
  const absl::string_view method = parts[0];
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    return Reply(405, "Method Not Allowed", "use GET or HEAD\n", false,
                 "Allow: GET, HEAD\r\n");
  }
  const absl::string_view path = parts[1].substr(0, parts[1].find('?'));
  if (path == "/healthz") return Reply(200, "OK", "ok\n", head_only);
  if (path == "/readyz") {
    const absl::Status ready = options_.readiness->Ready();
    if (ready.ok()) return Reply(200, "OK", "ready\n", head_only);
    return Reply(503, "Service Unavailable",
                 absl::StrCat("not ready: ", OneLine(ready.message()), "\n"),
                 head_only);
  }
  return Reply(404, "Not Found", "not found\n", head_only);
}

}  // namespace tether::agent
