#ifndef TETHER_TOOLS_CLI_ENDPOINT_H_
#define TETHER_TOOLS_CLI_ENDPOINT_H_

// Where tetherd is: state directory and endpoint resolution, as kubectl
// resolves its context (flag > environment > file).

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

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

  static Environment FromProcess();
};

/// --state-dir when given, else $TETHER_STATE_DIR, else $HOME/.tether.
std::string ResolveStateDir(absl::string_view flag, const Environment& env);

/// Name of the file tetherd writes its host:port to, in the state dir.
std::string EndpointFile(absl::string_view state_dir);
std::string PidFile(absl::string_view state_dir);
std::string LogFile(absl::string_view state_dir);

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

/// OK for "host:port", "[v6]:port" (port 0..65535, host non-empty) and for
/// targets with a gRPC scheme ("unix:", "dns:", "ipv4:", "ipv6:").
/// INVALID_ARGUMENT saying what is wrong otherwise (no field name).
absl::Status CheckAddress(absl::string_view address);

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_ENDPOINT_H_
