#include "tests/fake_kube_apiserver/http_server.h"

#include <civetweb.h>

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/http_server.h"

namespace tether::fake_kube {
namespace {

// The API server's own limit on a request body (3 MiB); larger ones get
// its 413.
constexpr size_t kMaxBody = 3 << 20;

// Worker threads: one per open connection, and a watch holds its
// connection until it ends.
constexpr int kWorkerThreads = 128;

std::string UrlDecode(absl::string_view text) {
  // Decoding never lengthens the text.
  std::string out(text.size() + 1, '\0');
  const int length =
      mg_url_decode(text.data(), static_cast<int>(text.size()), out.data(),
                    static_cast<int>(out.size()), /*is_form_url_encoded=*/1);
  out.resize(length < 0 ? 0 : static_cast<size_t>(length));
  return out;
}

// The request as HttpRequest; RESOURCE_EXHAUSTED when its body is too
// large.
absl::Status ReadRequest(mg_connection* connection, HttpRequest* request) {
  const mg_request_info* info = mg_get_request_info(connection);
  request->method = info->request_method;
  // local_uri_raw: decoded but not "cleaned" of dot segments, which no
  // Kubernetes path has.
  request->path = info->local_uri_raw != nullptr ? info->local_uri_raw : "";
  if (info->query_string != nullptr) {
    for (absl::string_view pair :
         absl::StrSplit(info->query_string, '&', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> kv =
          absl::StrSplit(pair, absl::MaxSplits('=', 1));
      request->query[UrlDecode(kv.first)] = UrlDecode(kv.second);
    }
  }
  for (int i = 0; i < info->num_headers; ++i) {
    request->headers[absl::AsciiStrToLower(info->http_headers[i].name)] =
        info->http_headers[i].value;
  }
  absl::StatusOr<std::string> body = ReadHttpRequestBody(connection, kMaxBody);
  if (!body.ok()) return body.status();
  request->body = *std::move(body);
  return absl::OkStatus();
}

}  // namespace

void ResponseWriter::Header(
    int code, const std::string& content_type,
    const std::map<std::string, std::string>& extra_headers) {
  code_ = code;
  mg_response_header_start(connection_, code);
  mg_response_header_add(connection_, "Content-Type", content_type.c_str(), -1);
  for (const auto& [name, value] : extra_headers) {
    mg_response_header_add(connection_, name.c_str(), value.c_str(), -1);
  }
}

void ResponseWriter::Send(int code, const std::string& content_type,
                          const std::string& body,
                          const std::map<std::string, std::string>& extra) {
  if (!ok_) return;
  std::map<std::string, std::string> headers = extra;
  headers["Content-Length"] = absl::StrCat(body.size());
  Header(code, content_type, headers);
  ok_ = mg_response_header_send(connection_) >= 0 &&
        (body.empty() || mg_write(connection_, body.data(), body.size()) ==
                             static_cast<int>(body.size()));
}

bool ResponseWriter::StartChunked(int code, const std::string& content_type) {
  if (!ok_) return false;
  Header(code, content_type, {{"Transfer-Encoding", "chunked"}});
  ok_ = mg_response_header_send(connection_) >= 0;
  return ok_;
}

bool ResponseWriter::WriteChunk(const std::string& data) {
  // An empty chunk would end the stream.
  if (!ok_ || data.empty()) return ok_;
  ok_ = mg_send_chunk(connection_, data.data(),
                      static_cast<unsigned>(data.size())) > 0;
  return ok_;
}

void ResponseWriter::EndChunked() {
  if (ok_) ok_ = mg_send_chunk(connection_, "", 0) >= 0;
}

absl::StatusOr<std::unique_ptr<CivetwebServer>> ServeHttp(int port,
                                                          HttpHandler handler) {
  CivetwebServer::Options options;
  options.listen_address = absl::StrCat("127.0.0.1:", port);
  options.worker_threads = kWorkerThreads;
  options.request_timeout = absl::Seconds(30);
  options.keep_alive = absl::Seconds(10);
  options.handler = [handler = std::move(handler)](mg_connection* connection) {
    HttpRequest request;
    ResponseWriter writer(connection);
    if (const absl::Status read = ReadRequest(connection, &request);
        !read.ok()) {
      // The rest of the body is never read, so the connection cannot go on.
      mg_disable_connection_keep_alive(connection);
      writer.Send(absl::IsResourceExhausted(read) ? 413 : 400, "text/plain",
                  absl::StrCat(read.message(), "\n"));
    } else {
      handler(request, writer);
    }
    return writer.code();
  };
  return CivetwebServer::Create(std::move(options));
}

}  // namespace tether::fake_kube
