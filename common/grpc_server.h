#ifndef TETHER_COMMON_GRPC_SERVER_H_
#define TETHER_COMMON_GRPC_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace tether {

/// The one way Tether builds a gRPC server: a plaintext or TLS listener,
/// message limits from the payload limit, the default health service (whole
/// server SERVING while it runs), server reflection, and a resource quota
/// bounding the threads of synchronous handlers.
///
/// Thread-safe: immutable after Create; Shutdown may race with anything.
class GrpcServer final {
 public:
  struct Options {
    /// host:port (port 0 picks a free one) or unix:PATH.
    std::string listen_address;
    /// Sets both message size limits (common/message_limits.h).
    int64_t max_payload_bytes = 64 << 20;
    /// Bound on the threads gRPC runs synchronous handlers on (server
    /// reflection; Tether's own services use the callback API and do not
    /// take these threads). 16 leaves reflection plenty and caps a burst.
    int max_threads = 16;
    /// TLS (common/tls.h); the default is plaintext.
    TlsFiles tls;
    /// Registered in order; not owned, they must outlive the server.
    std::vector<grpc::Service*> services;
  };

  /// Builds and starts the server. SO_REUSEPORT is off, so a taken port
  /// fails here instead of silently sharing the traffic. UNAVAILABLE
  /// "cannot listen on ADDRESS" when the address is taken or unusable;
  /// INVALID_ARGUMENT naming a TLS file that cannot be used.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Create(Options options);
  /// Shuts down at once if Shutdown was not called.
  ~GrpcServer();

  /// The bound TCP port; 0 for a Unix socket.
  int port() const { return port_; }
  /// Where clients reach it: the listen host with the bound port
  /// ("127.0.0.1:41234"), or the unix: address as given.
  const std::string& address() const { return address_; }
  grpc::Server& server() { return *server_; }

  /// Stops accepting calls, lets calls in flight finish for `grace`, then
  /// cancels them. Blocks until done.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServer(std::unique_ptr<grpc::Server> server, int port,
             std::string address);

  const std::unique_ptr<grpc::Server> server_;
  const int port_;
  const std::string address_;
};

}  // namespace tether

#endif  // TETHER_COMMON_GRPC_SERVER_H_
