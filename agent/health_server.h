#ifndef TETHER_AGENT_HEALTH_SERVER_H_
#define TETHER_AGENT_HEALTH_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/readiness_source.h"

namespace tether::agent {

/// The agent's HTTP/1.1 health endpoint for Kubernetes probes:
///
///   GET|HEAD /healthz  200 "ok" while the server's loop runs (liveness:
///                      the process is up and not wedged)
///   GET|HEAD /readyz   200 "ready", or 503 with the readiness source's
///                      reason in one line
///   other paths        404; other methods 405
///
/// Deliberately tiny and bounded because it sits on a pod port: one thread
/// polls the listener and every open connection, at most
/// `max_connections` at once, each request capped at `max_request_bytes`
/// and given `request_timeout` from accept to the end of the reply, every
/// reply `Connection: close`. A client that never finishes its request
/// only holds its own slot until the timeout.
///
/// Thread-safe: the constructor and destructor run on the owner's thread;
/// everything else happens on the server's own thread.
class HealthServer {
 public:
  struct Options {
    /// host:port to listen on ("0.0.0.0:8081", "[::]:8081",
    /// "127.0.0.1:0"); port 0 picks a free one. Required.
    std::string listen_address;
    /// Answers /readyz. Not owned; must outlive the server. Required.
    const ReadinessSource* readiness = nullptr;
    /// From accept to the last byte of the reply; a slower client gets a
    /// 408 (if it can take it) and is closed.
    absl::Duration request_timeout = absl::Seconds(2);
    /// Largest request head; probes send a few hundred bytes.
    size_t max_request_bytes = 4096;
    /// Connections served at once; more wait in the listen backlog.
    int max_connections = 16;
  };

  /// Binds and starts serving. INVALID_ARGUMENT for a malformed address or
  /// missing readiness source, UNAVAILABLE when the address cannot be
  /// bound, INTERNAL when a socket call fails.
  static absl::StatusOr<std::unique_ptr<HealthServer>> Create(Options options);

  /// Stops the loop, closes every connection and the listener.
  ~HealthServer();

  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  /// The bound port (the picked one when asked for port 0).
  int port() const { return port_; }

 private:
  struct Connection;

  HealthServer(Options options, int listen_fd, int wake_read_fd,
               int wake_write_fd, int port);
  void Loop();
  // Reads what `connection` has sent and, once the request head is whole
  // (or too big), queues the reply. False when the connection is done.
  bool OnReadable(Connection& connection);
  // Sends queued reply bytes. False when the connection is done.
  bool OnWritable(Connection& connection);
  std::string Respond(const std::string& head) const;

  const Options options_;
  const int listen_fd_;
  // A pipe whose write end the destructor closes to wake the loop's poll.
  const int wake_read_fd_;
  int wake_write_fd_;
  const int port_;
  std::thread thread_;
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_HEALTH_SERVER_H_
