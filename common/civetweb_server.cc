#include "common/civetweb_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dlfcn.h>
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
#include "common/runfiles.h"

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

// Debian's civetweb needs this library to load OpenSSL 3 (the comment in
// common/civetweb_openssl3.cc). Loading it again is a no-op; it is never
// unloaded, as contexts may still use it.
absl::Status LoadOpenSsl3Shim() {
  const absl::StatusOr<std::string> path =
      FindDataFile("common/libtether_civetweb_openssl3.so");
  if (!path.ok()) return absl::UnavailableError(path.status().message());
  if (dlopen(path->c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot load ", *path, ": ", dlerror()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CivetwebServer>> CivetwebServer::Create(
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
  if (options.keep_alive < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "HTTP server needs a keep_alive of at least 0");
  }
  if (!options.handler) {
    return absl::InvalidArgumentError("HTTP server needs a handler");
  }
  if (options.tls_setup) {
    if (absl::Status loaded = LoadOpenSsl3Shim(); !loaded.ok()) return loaded;
  }
  std::unique_ptr<CivetwebServer> server(
      new CivetwebServer(std::move(options)));
  if (absl::Status started = server->Start(); !started.ok()) return started;
  return server;
}

CivetwebServer::CivetwebServer(Options options)
    : options_(std::move(options)) {}

absl::Status CivetwebServer::Start() {
  const std::string threads = absl::StrCat(options_.worker_threads);
  const std::string timeout_ms =
      absl::StrCat(absl::ToInt64Milliseconds(options_.request_timeout));
  const bool keep_alive = options_.keep_alive > absl::ZeroDuration();
  const std::string keep_alive_ms =
      absl::StrCat(absl::ToInt64Milliseconds(options_.keep_alive));
  const bool tls = static_cast<bool>(options_.tls_setup);
  // civetweb's suffix "s": this port speaks TLS.
  const std::string ports =
      absl::StrCat(options_.listen_address, tls ? "s" : "");
  // No document_root: nothing but the handler below is ever served.
  const char* config[] = {
      "listening_ports", ports.c_str(), "num_threads", threads.c_str(),
      "request_timeout_ms", timeout_ms.c_str(), "enable_keep_alive",
      keep_alive ? "yes" : "no", "keep_alive_timeout_ms", keep_alive_ms.c_str(),
      // Replies go out in several writes (headers,
      // body, chunks): without this, Nagle's algorithm
      // and the client's delayed ACK hold the second
      // for 40 ms.
      "tcp_nodelay", "1",
      // 4: TLS 1.2 or later (unused without TLS).
      "ssl_protocol_version", "4", nullptr};
  mg_callbacks callbacks = {};
  callbacks.log_message = &CivetwebServer::OnLog;
  if (tls) callbacks.init_ssl = &CivetwebServer::OnInitSsl;
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
  // "/" is a prefix of every path: routing happens in the handler, where
  // civetweb's prefix rules cannot surprise.
  mg_set_request_handler(context_, "/", &CivetwebServer::Dispatch, this);
  mg_server_port bound = {};
  if (mg_get_server_ports(context_, 1, &bound) == 1) port_ = bound.port;
  return absl::OkStatus();
}

CivetwebServer::~CivetwebServer() {
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

int CivetwebServer::Dispatch(mg_connection* connection, void* server) {
  return static_cast<const CivetwebServer*>(server)->options_.handler(
      connection);
}

int CivetwebServer::OnInitSsl(void* ssl_context, void* server) {
  auto* self = static_cast<CivetwebServer*>(server);
  const absl::Status status =
      self->options_.tls_setup(static_cast<ssl_ctx_st*>(ssl_context));
  if (status.ok()) return 1;  // Set up: civetweb loads no certificate.
  absl::MutexLock lock(&self->mu_);
  if (self->start_error_.empty()) {
    self->start_error_ = std::string(status.message());
  }
  return -1;
}

int CivetwebServer::OnLog(const mg_connection* connection,
                          const char* message) {
  mg_context* context =
      connection != nullptr ? mg_get_context(connection) : nullptr;
  auto* self = context != nullptr
                   ? static_cast<CivetwebServer*>(mg_get_user_data(context))
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
