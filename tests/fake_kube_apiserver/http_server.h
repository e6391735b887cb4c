#ifndef TETHER_TESTS_FAKE_KUBE_APISERVER_HTTP_SERVER_H_
#define TETHER_TESTS_FAKE_KUBE_APISERVER_HTTP_SERVER_H_

// The fake API server's HTTP: requests and replies over civetweb
// (common/civetweb_server), with what a REST API needs beyond Tether's
// probe server (common/http_server): every method, request bodies,
// keep-alive, and chunked replies for watch streams. Plain HTTP on
// 127.0.0.1; not hardened for untrusted peers.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/civetweb_server.h"

namespace tether::fake_kube {

struct HttpRequest {
  std::string method;
  std::string path;  // Percent-decoded, without the query string.
  std::map<std::string, std::string> query;    // Percent-decoded.
  std::map<std::string, std::string> headers;  // Names lower-cased.
  std::string body;

  std::string Query(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? "" : it->second;
  }
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

/// Writes the reply to one request. Either Send once, or StartChunked
/// followed by WriteChunk calls and EndChunked. Every call after a failed
/// write (the client is gone) does nothing and returns false. Not
/// thread-safe: one request's handler uses it.
class ResponseWriter {
 public:
  explicit ResponseWriter(mg_connection* connection)
      : connection_(connection) {}
  void Send(int code, const std::string& content_type, const std::string& body,
            const std::map<std::string, std::string>& extra_headers = {});
  bool StartChunked(int code, const std::string& content_type);
  bool WriteChunk(const std::string& data);
  void EndChunked();
  bool ok() const { return ok_; }
  /// The status sent, for civetweb's access accounting.
  int code() const { return code_; }

 private:
  void Header(int code, const std::string& content_type,
              const std::map<std::string, std::string>& extra_headers);
  mg_connection* const connection_;
  bool ok_ = true;
  int code_ = 500;
};

using HttpHandler = std::function<void(const HttpRequest&, ResponseWriter&)>;

/// Serves `handler` on 127.0.0.1:`port` (0 picks a free one; the server's
/// port() says which). Each connection holds a worker thread while open,
/// watches included, so there are many; idle keep-alive connections close
/// after 10 s. UNAVAILABLE when it cannot bind.
absl::StatusOr<std::unique_ptr<CivetwebServer>> ServeHttp(int port,
                                                          HttpHandler handler);

}  // namespace tether::fake_kube

#endif  // TETHER_TESTS_FAKE_KUBE_APISERVER_HTTP_SERVER_H_
