#ifndef TETHER_COMMON_HTTP_SERVER_H_
#define TETHER_COMMON_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/civetweb_server.h"

namespace tether {

/// What a route answers.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  /// For a 405: the methods the path takes (the `Allow` header).
  std::string allow;
};

/// Writes `response` on `connection`: its status, Content-Type,
/// Content-Length, `Cache-Control: no-store`, `Allow` when set, and the body
/// unless `head_only`. Returns `response.status` (civetweb's "handled").
/// For handlers of a common/civetweb_server.
int SendHttpResponse(mg_connection* connection, const HttpResponse& response,
                     bool head_only = false);

/// Reads the request body on `connection` (Content-Length or chunked).
/// RESOURCE_EXHAUSTED once it exceeds `max_bytes` (answer 413 and close
/// the connection: the rest is unread); UNAVAILABLE when the client fails
/// to send it.
absl::StatusOr<std::string> ReadHttpRequestBody(mg_connection* connection,
                                                size_t max_bytes);

/// The one way Tether serves plain HTTP (probes, /metrics): a
/// common/civetweb_server with a few worker threads and a request timeout,
/// exact-path routes, GET and HEAD only. Every reply is `Connection: close`
/// with a Content-Length and `Cache-Control: no-store`; HEAD gets the headers
/// without the body.
///
///   route path, GET|HEAD  the route's HttpResponse
///   other paths           404
///   other methods         405 with `Allow: GET, HEAD`
///
/// It sits on pod ports, so it is small and bounded: `worker_threads`
/// requests at once, each given `request_timeout` to arrive (a slow client
/// holds one thread at most that long); more connections wait in the queue.
///
/// Thread-safe: handlers run concurrently on the worker threads (so they
/// must be thread-safe and should not block: a slow /metrics stalls the
/// probes behind it); port() may be called from any thread; destruction
/// stops the workers, waiting for requests in flight.
class HttpServer final {
 public:
  /// Answers one request; called on a worker thread.
  using Handler = std::function<HttpResponse()>;

  struct Route {
    /// Matched exactly against the request path (the query is ignored).
    std::string path;
    Handler handler;
  };

  struct Options {
    /// IPv4 host:port ("0.0.0.0:8081", "127.0.0.1:0"); port 0 picks a free
    /// one. Required. (Debian's civetweb has no IPv6.)
    std::string listen_address;
    /// Requests served at once.
    int worker_threads = 2;
    /// How long a client has to send its request (civetweb's
    /// request_timeout_ms).
    absl::Duration request_timeout = absl::Seconds(2);
    /// Distinct paths starting with "/".
    std::vector<Route> routes;
  };

  /// Binds and starts serving. INVALID_ARGUMENT for a malformed or IPv6
  /// address, bad thread count or timeout, or bad routes; UNAVAILABLE
  /// "cannot listen on ADDRESS: why" when it cannot bind.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(Options options);

  /// Stops serving; requests in flight finish first.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// The bound port (the picked one when asked for port 0).
  int port() const { return civetweb_->port(); }

 private:
  HttpServer() = default;
  // Answers one request by the routes.
  int Dispatch(mg_connection* connection) const;

  absl::flat_hash_map<std::string, Handler> routes_;
  // Last: stopped first, while the routes it calls still exist.
  std::unique_ptr<CivetwebServer> civetweb_;
};

}  // namespace tether

#endif  // TETHER_COMMON_HTTP_SERVER_H_
