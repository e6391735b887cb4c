#ifndef TETHER_TOOLS_CLI_CLIENT_H_
#define TETHER_TOOLS_CLI_CLIENT_H_

// The CLI's gRPC connection to tetherd.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/tls.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace grpc {
class Channel;
class ChannelInterface;
class ClientContext;
}  // namespace grpc

namespace tether::cli {

/// Message size cap on the CLI's channels. Large on purpose: tetherd enforces
/// its own payload limit and answers RESOURCE_EXHAUSTED with a clear message,
/// which beats a client-side "message larger than max".
inline constexpr int kMaxMessageBytes = 256 << 20;

/// A channel to `address` with kMaxMessageBytes limits both ways:
/// plaintext, or TLS with `tls` (common/tls.h). INVALID_ARGUMENT naming a
/// TLS file that cannot be used.
absl::StatusOr<std::shared_ptr<grpc::Channel>> NewChannel(
    const std::string& address, const TlsFiles& tls);

/// Asks grpc.health.v1.Health/Check (whole server) on `channel`. OK when the
/// server answers SERVING, or answers at all without the health service
/// (UNIMPLEMENTED, UNAUTHENTICATED, ...): either way tetherd is there.
/// UNAVAILABLE when it answers NOT_SERVING; UNAVAILABLE or
/// DEADLINE_EXCEEDED with gRPC's reason when nothing answers in `timeout`.
absl::Status CheckHealth(const std::shared_ptr<grpc::ChannelInterface>& channel,
                         absl::Duration timeout, absl::string_view token);

/// A connection to tetherd. Not thread-safe to mutate; the stub is.
struct Connection {
  /// What the user asked for, for messages.
  std::string address;
  /// Bearer token sent with every call; empty for none.
  std::string token;
  /// TLS to tetherd; its CA also verifies agents for direct calls.
  TlsFiles tls;
  std::shared_ptr<grpc::ChannelInterface> channel;
  std::unique_ptr<tether::v1::ControlPlane::StubInterface> stub;

  /// Adds `authorization: Bearer <token>` to a call when a token is set.
  void Decorate(grpc::ClientContext& context) const;

  /// `status` of a call on this connection, saying "cannot reach tetherd at
  /// ADDRESS: REASON (start it with 'tether up')" when it is UNAVAILABLE
  /// because the channel is not connected (idle, connecting or failing), so
  /// the first failed call explains itself without a health check before
  /// every call.
  absl::Status Explain(absl::Status status) const;
};

/// A connection to `address`. Does not contact tetherd: the first call does,
/// and Explain turns its failure into a clear message. INVALID_ARGUMENT as
/// NewChannel.
absl::StatusOr<std::unique_ptr<Connection>> Dial(const std::string& address,
                                                 const std::string& token,
                                                 const TlsFiles& tls);

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_CLIENT_H_
