#include "common/http_server.h"

#include <civetweb.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace tether {
int SendHttpResponse(mg_connection* connection, const HttpResponse& response,
                     bool head_only) {
  mg_response_header_start(connection, response.status);
  mg_response_header_add(connection, "Content-Type",
                         response.content_type.c_str(), -1);
  const std::string length = absl::StrCat(response.body.size());
  mg_response_header_add(connection, "Content-Length", length.c_str(), -1);
  // Probes and scrapes want the state now, never a cached one.
  mg_response_header_add(connection, "Cache-Control", "no-store", -1);
  if (!response.allow.empty()) {
    mg_response_header_add(connection, "Allow", response.allow.c_str(), -1);
  }
  mg_response_header_send(connection);
  if (!head_only && !response.body.empty()) {
    mg_write(connection, response.body.data(), response.body.size());
  }
  return response.status;
}

absl::StatusOr<std::string> ReadHttpRequestBody(mg_connection* connection,
                                                size_t max_bytes) {
  const auto too_large = [max_bytes] {
    return absl::ResourceExhaustedError(
        absl::StrCat("request body larger than ", max_bytes, " bytes"));
  };
  const long long declared = mg_get_request_info(connection)->content_length;
  if (declared > 0 && static_cast<unsigned long long>(declared) > max_bytes) {
    return too_large();
  }
  std::string body;
  char buffer[16384];
  int n;
  // mg_read also reads chunked bodies (content_length -1).
  while ((n = mg_read(connection, buffer, sizeof(buffer))) > 0) {
    body.append(buffer, static_cast<size_t>(n));
    if (body.size() > max_bytes) return too_large();
  }
  if (n < 0) {
    return absl::UnavailableError("the client did not send its request body");
  }
  return body;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(
    Options options) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  for (Route& route : options.routes) {
    if (route.path.empty() || route.path.front() != '/' || !route.handler) {
      return absl::InvalidArgumentError(absl::StrCat(
          "HTTP route \"", route.path, "\" needs a /path and a handler"));
    }
    if (!server->routes_.emplace(route.path, std::move(route.handler)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("HTTP route \"", route.path, "\" given twice"));
    }
  }
  CivetwebServer::Options civetweb;
  civetweb.listen_address = std::move(options.listen_address);
  civetweb.worker_threads = options.worker_threads;
  civetweb.request_timeout = options.request_timeout;
  const HttpServer* routes = server.get();
  civetweb.handler = [routes](mg_connection* connection) {
    return routes->Dispatch(connection);
  };
  ASSIGN_OR_RETURN(server->civetweb_,
                   CivetwebServer::Create(std::move(civetweb)));
  return server;
}

HttpServer::~HttpServer() = default;

int HttpServer::Dispatch(mg_connection* connection) const {
  const mg_request_info* request = mg_get_request_info(connection);
  const absl::string_view method = request->request_method;
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    return SendHttpResponse(connection, {405, "text/plain; charset=utf-8",
                                         "use GET or HEAD\n", "GET, HEAD"});
  }
  const auto route =
      routes_.find(request->local_uri != nullptr ? request->local_uri : "");
  const HttpResponse response =
      route == routes_.end()
          ? HttpResponse{404, "text/plain; charset=utf-8", "not found\n"}
          : route->second();
  return SendHttpResponse(connection, response, head_only);
}

}  // namespace tether
