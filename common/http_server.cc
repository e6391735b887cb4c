#include "common/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "common/log.h"

namespace tether {
namespace {

absl::Status BadAddress(absl::string_view address, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("HTTP listen address \"", address, "\": ", why));
}

// civetweb takes a list ("a,b"), suffixes ("8443s") and host names it
// resolves itself; Tether passes exactly one numeric IPv4 host:port, so a
// typo fails here as INVALID_ARGUMENT instead of as a bind error.
absl::Status CheckAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return BadAddress(address, "not host:port");
  const std::string host = address.substr(0, colon);
  const absl::string_view port(address.data() + colon + 1,
                               address.size() - colon - 1);
  if (!host.empty() && host.front() == '[') {
    return BadAddress(address,
                      "IPv6 is not supported (civetweb built without)");
  }
  in_addr parsed;
  if (inet_pton(AF_INET, host.c_str(), &parsed) != 1) {
    return BadAddress(address, "host is not an IPv4 address");
  }
  int number = 0;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &number) || number > 65535) {
    return BadAddress(address, "port is not 0..65535");
  }
  return absl::OkStatus();
}

void Send(mg_connection* connection, const HttpResponse& response,
          bool head_only, bool method_not_allowed) {
  mg_response_header_start(connection, response.status);
  mg_response_header_add(connection, "Content-Type",
                         response.content_type.c_str(), -1);
  const std::string length = absl::StrCat(response.body.size());
  mg_response_header_add(connection, "Content-Length", length.c_str(), -1);
  // Probes and scrapes want the state now, never a cached one.
  mg_response_header_add(connection, "Cache-Control", "no-store", -1);
  if (method_not_allowed) {
    mg_response_header_add(connection, "Allow", "GET, HEAD", -1);
  }
  mg_response_header_send(connection);
  if (!head_only && !response.body.empty()) {
    mg_write(connection, response.body.data(), response.body.size());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(
    Options options) {
  if (absl::Status address = CheckAddress(options.listen_address);
      !address.ok()) {
    return address;
  }
  if (options.worker_threads < 1) {
    return absl::InvalidArgumentError("HTTP server needs worker_threads >= 1");
  }
  if (options.request_timeout < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(
        "HTTP server needs a request_timeout of at least 1 ms");
  }
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(options)));
  for (const Route& route : server->options_.routes) {
    if (route.path.empty() || route.path.front() != '/' || !route.handler) {
      return absl::InvalidArgumentError(absl::StrCat(
          "HTTP route \"", route.path, "\" needs a /path and a handler"));
    }
    if (!server->routes_.emplace(route.path, route.handler).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("HTTP route \"", route.path, "\" given twice"));
    }
  }
  if (absl::Status started = server->Start(); !started.ok()) return started;
  return server;
}

HttpServer::HttpServer(Options options) : options_(std::move(options)) {}

absl::Status HttpServer::Start() {
  const std::string threads = absl::StrCat(options_.worker_threads);
  const std::string timeout_ms =
      absl::StrCat(absl::ToInt64Milliseconds(options_.request_timeout));
  // No document_root: nothing but the handler below is ever served.
  const char* config[] = {"listening_ports",
                          options_.listen_address.c_str(),
                          "num_threads",
                          threads.c_str(),
                          "request_timeout_ms",
                          timeout_ms.c_str(),
                          "enable_keep_alive",
                          "no",
                          nullptr};
  mg_callbacks callbacks = {};
  callbacks.log_message = &HttpServer::OnLog;
  mg_init_data init = {};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = config;
  context_ = mg_start2(&init, /*error=*/nullptr);
  absl::MutexLock lock(&mu_);
  started_ = true;
  if (context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options_.listen_address, ": ",
        start_error_.empty() ? "civetweb did not start" : start_error_));
  }
  // "/" is a prefix of every path: exact matching and 404s happen in
  // Dispatch, where civetweb's prefix rules cannot surprise.
  mg_set_request_handler(context_, "/", &HttpServer::Dispatch, this);
  mg_server_port bound = {};
  if (mg_get_server_ports(context_, 1, &bound) == 1) port_ = bound.port;
  return absl::OkStatus();
}

HttpServer::~HttpServer() {
  if (context_ == nullptr) return;
  // civetweb's accept loop checks its stop flag only between polls of the
  // listener, which wait up to 2 s: mg_stop alone would take that long
  // whenever a request was served. Connecting to the listener ends the
  // poll, so keep poking it until mg_stop returns.
  absl::Notification stopped;
  std::thread stopper([this, &stopped] {
    mg_stop(context_);
    stopped.Notify();
  });
  const std::string host =
      options_.listen_address.substr(0, options_.listen_address.rfind(':'));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port_));
  inet_pton(AF_INET, host == "0.0.0.0" ? "127.0.0.1" : host.c_str(),
            &address.sin_addr);
  do {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      // Whether it connects does not matter: the attempt wakes the loop.
      (void)connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
      close(fd);
    }
  } while (!stopped.WaitForNotificationWithTimeout(absl::Milliseconds(20)));
  stopper.join();
}

int HttpServer::Dispatch(mg_connection* connection, void* server) {
  const HttpServer& self = *static_cast<const HttpServer*>(server);
  const mg_request_info* request = mg_get_request_info(connection);
  const absl::string_view method = request->request_method;
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    Send(connection, {405, "text/plain; charset=utf-8", "use GET or HEAD\n"},
         /*head_only=*/false, /*method_not_allowed=*/true);
    return 405;
  }
  const auto route = self.routes_.find(
      request->local_uri != nullptr ? request->local_uri : "");
  const HttpResponse response =
      route == self.routes_.end()
          ? HttpResponse{404, "text/plain; charset=utf-8", "not found\n"}
          : route->second();
  Send(connection, response, head_only, /*method_not_allowed=*/false);
  return response.status;
}

int HttpServer::OnLog(const mg_connection* connection, const char* message) {
  mg_context* context =
      connection != nullptr ? mg_get_context(connection) : nullptr;
  auto* self = context != nullptr
                   ? static_cast<HttpServer*>(mg_get_user_data(context))
                   : nullptr;
  if (self != nullptr) {
    absl::MutexLock lock(&self->mu_);
    if (!self->started_) {
      if (self->start_error_.empty()) self->start_error_ = message;
      return 1;
    }
  }
  TETHER_LOG(WARNING) << "HTTP server: " << message;
  return 1;  // Handled: civetweb writes no log file of its own.
}

}  // namespace tether
