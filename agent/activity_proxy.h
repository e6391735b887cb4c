#ifndef TETHER_AGENT_ACTIVITY_PROXY_H_
#define TETHER_AGENT_ACTIVITY_PROXY_H_

// Sidecar mode's view of the team's server: a TCP proxy in front of it whose
// connections are the service's activity (see ServiceSpec.app).

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/activity.h"

namespace tether::agent {

/// Forwards every connection accepted on `listen_address` to the server on
/// 127.0.0.1:`upstream_port`, bytes as they are (HTTP/1, HTTP/2, gRPC,
/// WebSockets alike). Each connection counts as one call in `activity`:
/// started when accepted, finished when it closes. A connection with no
/// bytes either way for `idle_timeout` is closed, as load balancers do, so a
/// client's idle keep-alive pool cannot hold the service awake past its TTL
/// (clients reconnect on their next request).
///
/// Half-closes pass through (a client's shutdown(SHUT_WR) reaches the
/// server). When the server is down a connection is accepted, counted and
/// closed at once, as a refused connection would be.
///
/// One thread, epoll, non-blocking sockets, kBufferBytes per direction per
/// connection. Thread-safe; destruction closes every connection.
class ActivityProxy final {
 public:
  static constexpr size_t kBufferBytes = 64 << 10;

  struct Options {
    /// host:port (IPv4) to listen on; port 0 picks one.
    std::string listen_address;
    /// The server's port on 127.0.0.1.
    int upstream_port = 0;
    absl::Duration idle_timeout = absl::Seconds(30);
    /// Connections beyond this wait in the listen backlog.
    int max_connections = 1024;
    /// Not owned; must outlive the proxy.
    ActivityCounters* activity = nullptr;
  };

  /// Binds and starts serving. INVALID_ARGUMENT for a bad address or port,
  /// UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ActivityProxy>> Create(Options options);
  ~ActivityProxy();

  ActivityProxy(const ActivityProxy&) = delete;
  ActivityProxy& operator=(const ActivityProxy&) = delete;

  /// The bound port.
  int port() const { return port_; }

 private:
  struct Connection;
  class Loop;

  ActivityProxy() = default;

  int port_ = 0;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_ACTIVITY_PROXY_H_
