#ifndef TETHER_TOOLS_CLI_ENDPOINT_H_
#define TETHER_TOOLS_CLI_ENDPOINT_H_

// Where tetherd is: state directory and endpoint resolution, as kubectl
// resolves its context (flag > environment > file).

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tls.h"

namespace tether::cli {

/// The environment variables the CLI reads, gathered once so commands and
/// tests do not call getenv.
struct Environment {
  /// $HOME (or the passwd entry's home when unset).
  std::string home;
  /// $TETHER_STATE_DIR.
  std::string state_dir;
  /// $TETHER_ENDPOINT.
  std::string endpoint;
  /// $TETHER_TOKEN.
  std::string token;
  /// $TETHER_CA_FILE, $TETHER_CERT_FILE and $TETHER_KEY_FILE.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;

  static Environment FromProcess();
};

/// --state-dir when given, else $TETHER_STATE_DIR, else $HOME/.tether.
std::string ResolveStateDir(absl::string_view flag, const Environment& env);

/// Name of the file tetherd writes its host:port to, in the state dir.
std::string EndpointFile(absl::string_view state_dir);
std::string PidFile(absl::string_view state_dir);
std::string LogFile(absl::string_view state_dir);
/// The API token `tether up` made, which its tetherd requires.
std::string TokenFile(absl::string_view state_dir);
/// The certificates `tether up --tls` made (deploy/make_certs.sh).
std::string TlsDir(absl::string_view state_dir);

struct Endpoint {
  /// "host:port" (or any gRPC target such as "unix:/path" or "dns:///h:p").
  std::string address;
  /// Where it came from, for messages: "--endpoint", "$TETHER_ENDPOINT" or
  /// the endpoint file's path.
  std::string source;
};

/// --endpoint when given (`flag` non-empty), else $TETHER_ENDPOINT, else the
/// contents of <state_dir>/tetherd.endpoint (whitespace trimmed).
/// UNAVAILABLE "cannot reach tetherd: ... (start it with 'tether up')" when
/// none is set; INVALID_ARGUMENT naming the source when the address is not
/// HOST:PORT.
absl::StatusOr<Endpoint> ResolveEndpoint(absl::string_view flag,
                                         const Environment& env,
                                         absl::string_view state_dir);

/// What the CLI proves itself with: flags, else the environment, else, for
/// the tetherd of the state dir (the endpoint came from its endpoint file),
/// what `tether up` left there.
struct CredentialFlags {
  /// --token, --ca-file, --cert-file, --key-file; empty when not given.
  std::string token;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};
struct Credentials {
  /// Bearer token; empty: none.
  std::string token;
  /// TLS to tetherd (and, with its CA, to agents); empty: plaintext.
  TlsFiles tls;
};

/// The token: flag, $TETHER_TOKEN, then the first token of
/// <state_dir>/tetherd.token. The CA: flag, $TETHER_CA_FILE, then
/// <state_dir>/tls/ca.crt when it exists. A client certificate: flags,
/// then $TETHER_CERT_FILE and $TETHER_KEY_FILE. The state dir's files are
/// read only for its own tetherd, so they never go to another one.
Credentials ResolveCredentials(const CredentialFlags& flags,
                               const Environment& env,
                               absl::string_view state_dir,
                               const Endpoint& endpoint);

/// OK for "host:port", "[v6]:port" (port 0..65535, host non-empty) and for
/// targets with a gRPC scheme ("unix:", "dns:", "ipv4:", "ipv6:").
/// INVALID_ARGUMENT saying what is wrong otherwise (no field name).
absl::Status CheckAddress(absl::string_view address);

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_ENDPOINT_H_
