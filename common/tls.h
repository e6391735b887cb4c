#ifndef TETHER_COMMON_TLS_H_
#define TETHER_COMMON_TLS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class ChannelArguments;
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace tether {

/// The PEM files one end of a gRPC connection uses for TLS. gRPC's file
/// watcher re-reads them every `refresh` and takes a changed set when it is
/// whole (a key that does not match its certificate is not taken), so a
/// rotated Kubernetes Secret or cert-manager renewal needs no restart;
/// connections already open keep the certificate they started with.
struct TlsFiles {
  /// This end's certificate, then its chain (cert-manager's tls.crt). A
  /// server's serving certificate; a client's certificate for servers that
  /// ask for one. Set together with `key_file`.
  std::string cert_file;
  /// The private key of `cert_file` (tls.key).
  std::string key_file;
  /// PEM bundle of the CAs the other end's certificate must chain to
  /// (ca.crt). A server with it asks every client for a certificate and
  /// refuses connections without one it signed; a client verifies the
  /// server with it.
  std::string ca_file;
  /// How often the files are checked for a change.
  absl::Duration refresh = absl::Seconds(10);
};

/// Credentials for a server: plaintext when `files.cert_file` is empty,
/// else TLS with that certificate, requiring client certificates when
/// `files.ca_file` is set. INVALID_ARGUMENT naming the file when one is
/// missing, unreadable, not PEM, or the key does not match.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const TlsFiles& files);

/// Credentials for a channel: plaintext when `files.ca_file` is empty, else
/// TLS verifying the server's certificate against it, and its name against
/// the target's host (see SetTlsServerName), presenting `cert_file` when
/// set. INVALID_ARGUMENT naming the file as above.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
GrpcChannelCredentials(const TlsFiles& files);

/// Makes a channel verify the server's certificate under `server_name`
/// instead of the target's host: agents are dialled by IP, and their
/// certificates carry one shared DNS name. Nothing when empty.
void SetTlsServerName(const std::string& server_name,
                      grpc::ChannelArguments& args);

/// OK when the files exist and parse: the pair matches (when `cert_file`
/// is set) and `ca_file` holds at least one certificate (when set).
/// INVALID_ARGUMENT naming the file otherwise.
absl::Status CheckTlsFiles(const TlsFiles& files);

}  // namespace tether

#endif  // TETHER_COMMON_TLS_H_
