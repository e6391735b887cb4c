#ifndef TETHER_TESTS_FAKE_KUBE_APISERVER_HTTP_SERVER_H_
#define TETHER_TESTS_FAKE_KUBE_APISERVER_HTTP_SERVER_H_

// Minimal HTTP/1.1 server for tests: thread per connection, keep-alive,
// Content-Length request bodies, chunked responses for watch streams.
// Plain HTTP on 127.0.0.1 only; not hardened for untrusted peers.

#include <atomic>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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

// Writes one response on a connection. Either Send once, or StartChunked
// followed by WriteChunk calls (false once the peer is gone) and EndChunked.
class ResponseWriter {
 public:
  explicit ResponseWriter(int fd) : fd_(fd) {}
  void Send(int code, const std::string& content_type, const std::string& body,
            const std::map<std::string, std::string>& extra_headers = {});
  bool StartChunked(int code, const std::string& content_type);
  bool WriteChunk(const std::string& data);
  void EndChunked();
  bool ok() const { return ok_; }
  // True once the client has closed its end (checked without blocking).
  bool PeerClosed();

 private:
  bool WriteAll(const std::string& data);
  int fd_;
  bool ok_ = true;
};

using HttpHandler = std::function<void(const HttpRequest&, ResponseWriter&)>;

class HttpServer {
 public:
  explicit HttpServer(HttpHandler handler) : handler_(std::move(handler)) {}
  // Binds 127.0.0.1:port (0 picks a free port); returns the bound port.
  absl::StatusOr<int> Listen(int port);
  // Accepts connections forever, one detached thread each.
  void Serve();

 private:
  void HandleConnection(int fd);
  HttpHandler handler_;
  int listen_fd_ = -1;
};

std::string PercentDecode(const std::string& s);

}  // namespace tether::fake_kube

#endif  // TETHER_TESTS_FAKE_KUBE_APISERVER_HTTP_SERVER_H_
