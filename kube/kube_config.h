#ifndef TETHER_KUBE_KUBE_CONFIG_H_
#define TETHER_KUBE_KUBE_CONFIG_H_

// Where the Kubernetes API server is and how to authenticate to it: from a
// kubeconfig file, from a Pod's service account (in-cluster), or whichever
// of the two applies (DefaultKubeConfig). TokenSource turns the bearer-token
// parts into the token of each request.

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tether::kube {

/// A kubeconfig `users[].user.exec` credential plugin: a command that prints
/// an ExecCredential whose `status.token` is the bearer token.
struct ExecCredentialPlugin {
  /// The kubeconfig user, for error messages.
  std::string user;
  /// client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1.
  std::string api_version;
  /// Run via PATH unless it contains a '/'; a relative path with a '/' is
  /// already resolved against the kubeconfig's directory.
  std::string command;
  std::vector<std::string> args;
  /// Added to (or replacing) the variables of this process's environment.
  std::vector<std::pair<std::string, std::string>> env;
  /// A plugin that has not answered by then (say, one waiting for a login
  /// nobody will type) is killed and the token request fails.
  absl::Duration timeout = absl::Seconds(60);
};

/// Connection and credentials for one API server. Certificates and keys are
/// PEM bytes, not paths, so the config is self-contained once loaded.
struct KubeConfig {
  /// "https://10.0.0.1:443"; "http://" works too (tests).
  std::string server;
  /// The namespace of the kubeconfig context or of the service account.
  std::string default_namespace = "default";
  /// CA bundle that verifies the server. Empty: the system CAs.
  std::string ca_pem;
  /// Client certificate and its key (both or neither).
  std::string client_cert_pem;
  std::string client_key_pem;
  /// Fixed bearer token.
  std::string token;
  /// File holding the bearer token, re-read about once a minute because
  /// service account tokens rotate. Wins over `token` when both are set, as
  /// in client-go.
  std::string token_file;
  /// Skip verifying the server's certificate and host name (dev only).
  bool insecure_skip_tls_verify = false;
  /// Bearer token from a credential plugin; wins over `token`/`token_file`.
  std::optional<ExecCredentialPlugin> exec;
};

/// The parts of the process environment config loading reads; tests
/// replace them.
struct ConfigEnvironment {
  /// Looks up an environment variable; empty when unset.
  std::function<std::string(const std::string&)> getenv;
  /// Holds the Pod's service account `token`, `ca.crt` and `namespace`.
  std::string service_account_dir =
      "/var/run/secrets/kubernetes.io/serviceaccount";

  /// The real environment (std::getenv).
  static ConfigEnvironment Process();
};

/// The API server a Pod reaches through KUBERNETES_SERVICE_HOST and
/// KUBERNETES_SERVICE_PORT, authenticated by the Pod's service account.
/// FAILED_PRECONDITION when those variables are unset (not in a cluster);
/// NOT_FOUND/PERMISSION_DENIED naming the file when the token or CA is
/// unreadable. The namespace file is optional ("default").
absl::StatusOr<KubeConfig> InClusterConfig(
    const ConfigEnvironment& env = ConfigEnvironment::Process());

/// Reads a kubeconfig file: the context named `context` (empty: the file's
/// current-context), its cluster (server, certificate-authority[-data],
/// insecure-skip-tls-verify), user (token, tokenFile,
/// client-certificate[-data], client-key[-data], exec) and namespace.
/// Relative file paths resolve against the kubeconfig's directory.
/// INVALID_ARGUMENT naming the file and field for anything malformed or
/// unsupported (auth-provider, username/password); a file that cannot be
/// read keeps ReadFile's code (e.g. NOT_FOUND) and names the field too.
absl::StatusOr<KubeConfig> LoadKubeconfig(const std::string& path,
                                          const std::string& context = "");

/// What kubectl would use: the first existing file of $KUBECONFIG (a
/// ':'-separated list; unlike kubectl the files are not merged), else
/// in-cluster when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config if it
/// exists. FAILED_PRECONDITION saying what to set when none applies.
absl::StatusOr<KubeConfig> DefaultKubeConfig(
    const ConfigEnvironment& env = ConfigEnvironment::Process());

/// The bearer token of each request for one KubeConfig: the exec plugin's
/// (cached until its expirationTimestamp), else the token file's (re-read
/// at most once a minute, like client-go; a failed re-read keeps the last
/// good token), else the fixed token, else none.
/// Thread-safe; concurrent callers wait for one refresh.
class TokenSource {
 public:
  struct Options {
    /// The clock deciding when cached tokens are stale.
    std::function<absl::Time()> now = [] { return absl::Now(); };
    /// How long a token read from `token_file` is used before re-reading.
    absl::Duration token_file_ttl = absl::Minutes(1);
  };

  explicit TokenSource(const KubeConfig& config) : TokenSource(config, {}) {}
  TokenSource(const KubeConfig& config, Options options);

  /// The token to send; empty when the config has no bearer auth.
  /// UNAUTHENTICATED when the plugin fails or prints no token; the token
  /// file's read error when it was never read successfully.
  absl::StatusOr<std::string> Token() ABSL_LOCKS_EXCLUDED(mu_);

  /// Whether Expire can bring a different token (a file or a plugin).
  bool Refreshable() const { return exec_.has_value() || !token_file_.empty(); }
  /// Makes the next Token fetch anew: the API server refused the cached
  /// one (401), so it was rotated or revoked before its time.
  void Expire() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::string fixed_token_;
  const std::string token_file_;
  const std::optional<ExecCredentialPlugin> exec_;
  const Options options_;

  absl::Mutex mu_;
  std::string cached_ ABSL_GUARDED_BY(mu_);
  // Whether `cached_` holds a token that was fetched once.
  bool fetched_ ABSL_GUARDED_BY(mu_) = false;
  // When `cached_` must be refreshed.
  absl::Time refresh_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace tether::kube

#endif  // TETHER_KUBE_KUBE_CONFIG_H_
