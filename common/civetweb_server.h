#ifndef TETHER_COMMON_CIVETWEB_SERVER_H_
#define TETHER_COMMON_CIVETWEB_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

// civetweb's C types, so users of this header do not include civetweb.h.
struct mg_connection;
struct mg_context;
// OpenSSL's SSL_CTX, so users of this header do not include openssl/ssl.h.
struct ssl_ctx_st;

namespace tether {

/// The one civetweb context per HTTP server: it checks the listen address,
/// starts civetweb's workers with one handler for every request, reports
/// why a bind failed, and stops promptly. What a request gets is the
/// handler's business: common/http_server answers probes and /metrics on
/// top of it, the fake Kubernetes API server its REST API.
///
/// Thread-safe: the handler runs concurrently on the worker threads (one
/// connection per thread for as long as the connection lasts, keep-alive
/// included); port() may be called from any thread; destruction stops the
/// workers, waiting for requests in flight.
class CivetwebServer final {
 public:
  /// Answers one request on `connection` with civetweb's calls and returns
  /// the HTTP status it sent (civetweb's "handled" value, 1..999).
  using Handler = std::function<int(mg_connection* connection)>;

  /// Gives the SSL_CTX civetweb made for the listener (TLS 1.2 or later)
  /// its certificate; called once, while Create starts the server. An error
  /// fails Create. Needs the data file
  /// common/libtether_civetweb_openssl3.so (Debian's civetweb is built for
  /// OpenSSL 1.1; common/civetweb_openssl3.cc).
  using TlsSetup = std::function<absl::Status(ssl_ctx_st* context)>;

  struct Options {
    /// IPv4 host:port ("0.0.0.0:8081", "127.0.0.1:0"); port 0 picks a free
    /// one. Required. (Debian's civetweb has no IPv6.)
    std::string listen_address;
    /// Requests (with keep-alive: connections) served at once; more wait in
    /// civetweb's queue.
    int worker_threads = 2;
    /// How long a client has to send its request (civetweb's
    /// request_timeout_ms, also the timeout of each socket read and write).
    absl::Duration request_timeout = absl::Seconds(2);
    /// Keep connections open between requests, for at most this long idle;
    /// zero: every reply closes its connection.
    absl::Duration keep_alive = absl::ZeroDuration();
    /// Required.
    Handler handler;
    /// When set, the listener speaks HTTPS only, with what this installs;
    /// otherwise plain HTTP.
    TlsSetup tls_setup;
  };

  /// Binds and starts serving. INVALID_ARGUMENT for a malformed or IPv6
  /// address, a bad thread count or timeout, or no handler; UNAVAILABLE
  /// "cannot listen on ADDRESS: why" when it cannot bind or `tls_setup`
  /// fails (its message is the why).
  static absl::StatusOr<std::unique_ptr<CivetwebServer>> Create(
      Options options);

  /// Stops serving; requests in flight finish first.
  ~CivetwebServer();

  CivetwebServer(const CivetwebServer&) = delete;
  CivetwebServer& operator=(const CivetwebServer&) = delete;

  /// The bound port (the picked one when asked for port 0).
  int port() const { return port_; }

 private:
  explicit CivetwebServer(Options options);
  absl::Status Start();
  // civetweb's request handler for every path; `server` is this.
  static int Dispatch(mg_connection* connection, void* server);
  // civetweb's log callback: startup errors are kept for Start's status.
  static int OnLog(const mg_connection* connection, const char* message);
  // civetweb's init_ssl callback: runs options_.tls_setup.
  static int OnInitSsl(void* ssl_context, void* server);

  const Options options_;
  mg_context* context_ = nullptr;
  int port_ = 0;
  absl::Mutex mu_;
  // The first error civetweb logged while starting: it says why a bind
  // failed, which mg_start2's own error does not.
  std::string start_error_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tether

#endif  // TETHER_COMMON_CIVETWEB_SERVER_H_
