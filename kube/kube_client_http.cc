#include "kube/kube_client_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/backoff.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "kube/json_fields.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

constexpr char kJson[] = "application/json";
constexpr char kApplyPatch[] = "application/apply-patch+yaml";
constexpr char kMergePatch[] = "application/merge-patch+json";
// LIST page size: bounds each response while keeping round trips few.
constexpr int kListPageSize = 500;
// Error bodies that are not a Status are quoted up to this many bytes.
constexpr size_t kMaxQuotedBody = 200;

// Percent-encodes a query parameter value (RFC 3986 unreserved kept).
std::string QueryEscape(absl::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The HTTP code of an API server answer as a status code (see kube_client.h).
absl::StatusCode CodeForHttp(long http_code, absl::string_view reason) {
  switch (http_code) {
    case 400:
    case 415:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    default:
      return http_code >= 500 ? absl::StatusCode::kUnavailable
                              : absl::StatusCode::kUnknown;
  }
}

// An error answer as "<what>: <Status.message>"; `status` is the parsed
// body when it is a Status object, else `body` is quoted.
absl::Status ApiError(absl::string_view what, long http_code,
                      const json& status, absl::string_view body) {
  std::string message = StringField(status, "message");
  if (message.empty()) {
    message = absl::StrCat("HTTP ", http_code);
    absl::string_view text = absl::StripAsciiWhitespace(body);
    if (!text.empty()) {
      absl::StrAppend(&message, ": ", text.substr(0, kMaxQuotedBody));
    }
  }
  return absl::Status(CodeForHttp(http_code, StringField(status, "reason")),
                      absl::StrCat(what, ": ", message));
}

absl::StatusOr<json> ParseJson(const std::string& body,
                               absl::string_view what) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    return absl::InternalError(absl::StrCat(what, ": response is not JSON"));
  }
  return parsed;
}

// Connection failures before a response that another attempt may not hit.
bool IsRetryableTransportError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
      return true;
    default:
      return false;
  }
}

// Splits a watch's newline-delimited JSON events, which may arrive split
// across chunks, and hands each to `on_event` in order.
// Not thread-safe: one per watch, fed from the transfer's thread.
class WatchStream {
 public:
  WatchStream(std::string what,
              const std::function<bool(const WatchEvent&)>& on_event)
      : what_(std::move(what)), on_event_(on_event) {}

  // False once the stream must end: the callback declined more events or
  // an event was an error (see status()).
  bool Feed(absl::string_view data) {
    buffer_.append(data.data(), data.size());
    size_t start = 0;
    for (size_t newline;
         (newline = buffer_.find('\n', start)) != std::string::npos;
         start = newline + 1) {
      if (!HandleLine(
              absl::string_view(buffer_).substr(start, newline - start))) {
        return false;
      }
    }
    buffer_.erase(0, start);
    return true;
  }

  // At the end of a stream Feed accepted in full: an unterminated last
  // line is still an event.
  void Finish() { HandleLine(buffer_); }

  // OK unless the server sent an ERROR event or something unparsable.
  const absl::Status& status() const { return status_; }

 private:
  bool HandleLine(absl::string_view line) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) return true;
    json event = json::parse(line, nullptr, false);
    auto object = event.is_object() ? event.find("object") : event.end();
    if (event.is_discarded() || !event.is_object() || object == event.end()) {
      status_ = absl::InternalError(absl::StrCat(
          what_, ": malformed watch event: ", line.substr(0, kMaxQuotedBody)));
      return false;
    }
    const std::string type = StringField(event, "type");
    WatchEvent out;
    if (type == "ADDED") {
      out.type = WatchEvent::Type::kAdded;
    } else if (type == "MODIFIED") {
      out.type = WatchEvent::Type::kModified;
    } else if (type == "DELETED") {
      out.type = WatchEvent::Type::kDeleted;
    } else if (type == "BOOKMARK") {
      out.type = WatchEvent::Type::kBookmark;
    } else if (type == "ERROR") {
      // A Status; its code 410 (history compacted) becomes OUT_OF_RANGE.
      const json& code = Field(*object, "code");
      status_ = ApiError(what_, code.is_number_integer() ? code.get<long>() : 0,
                         *object, line);
      return false;
    } else {
      status_ = absl::InternalError(
          absl::StrCat(what_, ": unknown watch event type \"", type, "\""));
      return false;
    }
    out.object = std::move(*object);
    return on_event_(out);
  }

  const std::string what_;
  const std::function<bool(const WatchEvent&)>& on_event_;
  std::string buffer_;
  absl::Status status_;
};

}  // namespace

struct KubeClientHttp::Request {
  const char* method = "GET";
  std::string path;
  std::string query;  // Without '?'.
  std::string body;
  const char* content_type = nullptr;
  absl::Duration timeout;
  // Watches only: where the stream goes, and the caller's stop signal.
  WatchStream* watch = nullptr;
  const absl::Notification* stop = nullptr;

  // How errors name the request: "GET /api/v1/namespaces/ns/pods".
  std::string What() const { return absl::StrCat(method, " ", path); }
};

// What libcurl's callbacks learn during one attempt.
struct KubeClientHttp::Transfer {
  const Request* request = nullptr;
  const absl::Notification* shutdown = nullptr;
  CURLcode result = CURLE_OK;
  char error[CURL_ERROR_SIZE] = {};
  bool got_response = false;  // A status line arrived.
  long http_code = 0;
  std::optional<absl::Duration> retry_after;
  bool streaming = false;  // Watch events are flowing to request->watch.
  std::string body;        // Everything else the server sent.

  static size_t OnHeader(char* data, size_t size, size_t count, void* self) {
    Transfer& t = *static_cast<Transfer*>(self);
    absl::string_view line(data, size * count);
    if (absl::StartsWith(line, "HTTP/")) {
      // A new response (e.g. after "100 Continue") replaces what came before.
      t.got_response = true;
      t.retry_after.reset();
      const size_t space = line.find(' ');
      if (space != absl::string_view::npos) {
        (void)absl::SimpleAtoi(line.substr(space + 1, 3), &t.http_code);
      }
      return line.size();
    }
    const size_t colon = line.find(':');
    int64_t seconds;
    // Only the delta-seconds form; an HTTP-date falls back to backoff.
    if (colon != absl::string_view::npos &&
        absl::EqualsIgnoreCase(line.substr(0, colon), "retry-after") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(colon + 1)),
                         &seconds) &&
        seconds >= 0) {
      t.retry_after = absl::Seconds(seconds);
    }
    return line.size();
  }

  static size_t OnWrite(char* data, size_t size, size_t count, void* self) {
    Transfer& t = *static_cast<Transfer*>(self);
    absl::string_view chunk(data, size * count);
    if (t.request->watch != nullptr && t.http_code / 100 == 2) {
      t.streaming = true;
      // Returning less than given makes libcurl end the transfer.
      return t.request->watch->Feed(chunk) ? chunk.size() : 0;
    }
    t.body.append(chunk.data(), chunk.size());
    return chunk.size();
  }

  // libcurl calls this about once a second even on an idle connection, so a
  // quiet watch notices Shutdown or its stop signal promptly.
  static int OnProgress(void* self, curl_off_t, curl_off_t, curl_off_t,
                        curl_off_t) {
    const Transfer& t = *static_cast<const Transfer*>(self);
    const bool stop =
        t.request->stop != nullptr && t.request->stop->HasBeenNotified();
    return stop || t.shutdown->HasBeenNotified() ? 1 : 0;
  }
};

absl::StatusOr<std::unique_ptr<KubeClientHttp>> KubeClientHttp::Create(
    Options options) {
  const KubeConfig& config = options.config;
  if (!absl::StartsWith(config.server, "https://") &&
      !absl::StartsWith(config.server, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server \"", config.server, "\": not an http:// or https:// URL"));
  }
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "client certificate and key must be set together");
  }
  RETURN_IF_ERROR(
      WithContext("retry policy", Backoff::Validate(options.retry.backoff)));
  static std::once_flag once;
  static CURLcode init_result;
  std::call_once(once,
                 [] { init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init_result != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init: ", curl_easy_strerror(init_result)));
  }
  return absl::WrapUnique(new KubeClientHttp(std::move(options)));
}

KubeClientHttp::KubeClientHttp(Options options)
    : options_(std::move(options)),
      server_(absl::StripSuffix(options_.config.server, "/")),
      tokens_(options_.config, options_.token_source) {}

KubeClientHttp::~KubeClientHttp() {
  absl::MutexLock lock(&mu_);
  for (Handle handle : idle_) curl_easy_cleanup(handle);
}

void KubeClientHttp::Shutdown() {
  // Notify() may run only once; the lock orders concurrent Shutdowns.
  absl::MutexLock lock(&mu_);
  if (!shutdown_.HasBeenNotified()) shutdown_.Notify();
}

KubeClientHttp::Handle KubeClientHttp::AcquireHandle() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      Handle handle = idle_.back();
      idle_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void KubeClientHttp::ReleaseHandle(Handle handle) {
  // Reset drops this request's options but keeps the open connection.
  curl_easy_reset(handle);
  {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < options_.max_idle_connections) {
      idle_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(handle);
}

void KubeClientHttp::Perform(const Request& request, const std::string& token,
                             Transfer& transfer) {
  CURL* curl = static_cast<CURL*>(AcquireHandle());
  if (curl == nullptr) {
    transfer.result = CURLE_FAILED_INIT;
    return;
  }
  const std::string url =
      request.query.empty()
          ? absl::StrCat(server_, request.path)
          : absl::StrCat(server_, request.path, "?", request.query);
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  // The API server does not need "Expect: 100-continue" round trips.
  headers = curl_slist_append(headers, "Expect:");
  if (request.content_type != nullptr) {
    headers = curl_slist_append(
        headers, absl::StrCat("Content-Type: ", request.content_type).c_str());
  }
  if (!token.empty()) {
    headers = curl_slist_append(
        headers, absl::StrCat("Authorization: Bearer ", token).c_str());
  }
  const KubeConfig& config = options_.config;
  // The first option libcurl rejects (e.g. a TLS feature it lacks) fails
  // the request.
  CURLcode rc = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(curl, option, value);
  };
  auto set_blob = [&](CURLoption option, const std::string& bytes) {
    curl_blob blob{const_cast<char*>(bytes.data()), bytes.size(),
                   CURL_BLOB_COPY};
    set(option, &blob);
  };
  set(CURLOPT_URL, url.c_str());
  set(CURLOPT_HTTPHEADER, headers);
  set(CURLOPT_USERAGENT, "tether");
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_TCP_KEEPALIVE, 1L);
  set(CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  set(CURLOPT_TIMEOUT_MS,
      static_cast<long>(absl::ToInt64Milliseconds(request.timeout)));
  if (std::string(request.method) == "GET") {
    set(CURLOPT_HTTPGET, 1L);
  } else {
    set(CURLOPT_CUSTOMREQUEST, request.method);
    set(CURLOPT_POSTFIELDS, request.body.c_str());
    set(CURLOPT_POSTFIELDSIZE_LARGE,
        static_cast<curl_off_t>(request.body.size()));
  }
  if (!config.ca_pem.empty()) set_blob(CURLOPT_CAINFO_BLOB, config.ca_pem);
  if (!config.client_cert_pem.empty()) {
    set_blob(CURLOPT_SSLCERT_BLOB, config.client_cert_pem);
    set(CURLOPT_SSLCERTTYPE, "PEM");
    set_blob(CURLOPT_SSLKEY_BLOB, config.client_key_pem);
    set(CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (config.insecure_skip_tls_verify) {
    set(CURLOPT_SSL_VERIFYPEER, 0L);
    set(CURLOPT_SSL_VERIFYHOST, 0L);
  }
  set(CURLOPT_ERRORBUFFER, transfer.error);
  set(CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
  set(CURLOPT_HEADERDATA, &transfer);
  set(CURLOPT_WRITEFUNCTION, &Transfer::OnWrite);
  set(CURLOPT_WRITEDATA, &transfer);
  set(CURLOPT_XFERINFOFUNCTION, &Transfer::OnProgress);
  set(CURLOPT_XFERINFODATA, &transfer);
  set(CURLOPT_NOPROGRESS, 0L);
  transfer.result = rc == CURLE_OK ? curl_easy_perform(curl) : rc;
  curl_slist_free_all(headers);
  ReleaseHandle(curl);
}

absl::StatusOr<std::string> KubeClientHttp::Call(const Request& request) {
  const std::string what = request.What();
  bool token_refreshed = false;
  // Made on the first retry: most calls need none.
  std::optional<Backoff> backoff;
  for (int attempt = 1;; ++attempt) {
    if (shutdown_.HasBeenNotified()) {
      return absl::CancelledError(absl::StrCat(what, ": client shut down"));
    }
    if (request.stop != nullptr && request.stop->HasBeenNotified()) {
      return absl::CancelledError(absl::StrCat(what, ": watch stopped"));
    }
    absl::StatusOr<std::string> token = tokens_.Token();
    if (!token.ok()) {
      return WithContext(what, token.status());
    }
    Transfer transfer;
    transfer.request = &request;
    transfer.shutdown = &shutdown_;
    Perform(request, *token, transfer);

    absl::Status error;
    bool retryable = false;
    if (transfer.streaming) {
      // A watch that started: how it ended is final (never retried
      // mid-stream; the caller resumes from its last version).
      if (transfer.result == CURLE_OK) request.watch->Finish();
      if (transfer.result == CURLE_OK || transfer.result == CURLE_WRITE_ERROR) {
        const absl::Status& status = request.watch->status();
        if (status.ok()) return std::string();
        return status;
      }
    }
    if (transfer.result == CURLE_ABORTED_BY_CALLBACK) {
      return absl::CancelledError(absl::StrCat(what, shutdown_.HasBeenNotified()
                                                         ? ": client shut down"
                                                         : ": watch stopped"));
    }
    if (transfer.result == CURLE_OK) {
      if (transfer.http_code / 100 == 2) return std::move(transfer.body);
      // A token rotated or revoked before its time: fetch it anew, once.
      if (transfer.http_code == 401 && !token_refreshed &&
          tokens_.Refreshable()) {
        token_refreshed = true;
        tokens_.Expire();
        continue;
      }
      json status = json::parse(transfer.body, nullptr, false);
      error = ApiError(what, transfer.http_code, status, transfer.body);
      retryable = transfer.http_code == 429 || transfer.http_code >= 500;
    } else {
      absl::string_view detail = transfer.error;
      if (detail.empty()) detail = curl_easy_strerror(transfer.result);
      error = absl::Status(transfer.result == CURLE_OPERATION_TIMEDOUT
                               ? absl::StatusCode::kDeadlineExceeded
                               : absl::StatusCode::kUnavailable,
                           absl::StrCat(what, ": ", detail));
      retryable =
          !transfer.got_response && IsRetryableTransportError(transfer.result);
    }
    if (!retryable || attempt >= options_.retry.max_attempts) return error;
    if (!backoff.has_value()) backoff.emplace(options_.retry.backoff);
    // A server's Retry-After wins; the backoff still counts the attempt.
    const absl::Duration next = backoff->NextDelay();
    const absl::Duration delay =
        transfer.retry_after.has_value()
            ? std::min(*transfer.retry_after, options_.retry.max_retry_after)
            : next;
    if (options_.sleep) {
      options_.sleep(delay);
    } else {
      shutdown_.WaitForNotificationWithTimeout(delay);
    }
  }
}

absl::StatusOr<nlohmann::json> KubeClientHttp::Apply(
    const nlohmann::json& object) {
  absl::StatusOr<ResourceType> type = ResourceTypeOf(object);
  if (!type.ok()) return type.status();
  const json& metadata = Field(object, "metadata");
  const std::string name = StringField(metadata, "name");
  const std::string ns = StringField(metadata, "namespace");
  if (name.empty() || ns.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("apply ", type->kind,
                     ": object needs metadata.name and metadata.namespace"));
  }
  Request request;
  request.method = "PATCH";
  request.path = ResourcePath(*type, ns, name);
  request.query = absl::StrCat("fieldManager=", kFieldManager, "&force=true");
  request.body = object.dump();  // JSON is YAML.
  request.content_type = kApplyPatch;
  request.timeout = options_.request_timeout;
  absl::StatusOr<std::string> body = Call(request);
  if (!body.ok()) return body.status();
  return ParseJson(*body, request.What());
}

absl::StatusOr<nlohmann::json> KubeClientHttp::Get(const ResourceType& type,
                                                   absl::string_view ns,
                                                   absl::string_view name) {
  Request request;
  request.path = ResourcePath(type, ns, name);
  request.timeout = options_.request_timeout;
  absl::StatusOr<std::string> body = Call(request);
  if (!body.ok()) return body.status();
  return ParseJson(*body, request.What());
}

absl::StatusOr<ResourceType> KubeClientHttp::Discover(
    absl::string_view api_version, absl::string_view kind) {
  absl::StatusOr<ResourceType> known =
      ResourceTypeOf(json{{"apiVersion", api_version}, {"kind", kind}});
  if (known.ok()) return known;
  Request request;
  request.path =
      api_version == "v1" ? "/api/v1" : absl::StrCat("/apis/", api_version);
  request.timeout = options_.request_timeout;
  ASSIGN_OR_RETURN(const std::string body, Call(request));
  ASSIGN_OR_RETURN(const json resources, ParseJson(body, request.What()));
  for (const json& resource : Field(resources, "resources")) {
    const std::string name = StringField(resource, "name");
    // Subresources ("pytorchjobs/status") name their parent's kind too.
    if (StringField(resource, "kind") == kind &&
        name.find('/') == std::string::npos) {
      return InternResourceType(api_version, kind, name);
    }
  }
  return absl::NotFoundError(
      absl::StrCat("the API server serves no kind ", kind, " in ", api_version,
                   " (is its CustomResourceDefinition installed?)"));
}

absl::StatusOr<ObjectList> KubeClientHttp::List(
    const ResourceType& type, absl::string_view ns,
    absl::string_view label_selector) {
  ObjectList list;
  std::string continue_token;
  Request request;
  request.path = ResourcePath(type, ns, "");
  request.timeout = options_.request_timeout;
  do {
    request.query = absl::StrCat("limit=", kListPageSize);
    if (!label_selector.empty()) {
      absl::StrAppend(&request.query,
                      "&labelSelector=", QueryEscape(label_selector));
    }
    if (!continue_token.empty()) {
      absl::StrAppend(&request.query,
                      "&continue=", QueryEscape(continue_token));
    }
    absl::StatusOr<std::string> body = Call(request);
    if (!body.ok()) return body.status();
    absl::StatusOr<json> page = ParseJson(*body, request.What());
    if (!page.ok()) return page.status();
    const json& metadata = Field(*page, "metadata");
    // Every page is a snapshot at the first page's version, so that is the
    // version to watch from.
    if (list.resource_version.empty()) {
      list.resource_version = StringField(metadata, "resourceVersion");
    }
    continue_token = StringField(metadata, "continue");
    auto items = page->find("items");
    if (items != page->end() && items->is_array()) {
      for (json& item : *items) list.items.push_back(std::move(item));
    }
  } while (!continue_token.empty());
  return list;
}

absl::Status KubeClientHttp::Watch(
    const ResourceType& type, absl::string_view ns, const WatchOptions& options,
    const std::function<bool(const WatchEvent&)>& on_event) {
  Request request;
  request.path = ResourcePath(type, ns, "");
  // The server ends the stream on time; rounding up keeps short timeouts
  // from becoming 0 (no timeout).
  const int64_t timeout_seconds = std::max<int64_t>(
      1, absl::ToInt64Seconds(absl::Ceil(options.timeout, absl::Seconds(1))));
  request.query = absl::StrCat("watch=1&timeoutSeconds=", timeout_seconds);
  if (options.allow_bookmarks) {
    absl::StrAppend(&request.query, "&allowWatchBookmarks=true");
  }
  if (!options.resource_version.empty()) {
    absl::StrAppend(&request.query,
                    "&resourceVersion=", QueryEscape(options.resource_version));
  }
  if (!options.label_selector.empty()) {
    absl::StrAppend(&request.query,
                    "&labelSelector=", QueryEscape(options.label_selector));
  }
  // If the server never ends the stream (a dead connection), give up a
  // request timeout after it should have.
  request.timeout = absl::Seconds(timeout_seconds) + options_.request_timeout;
  request.stop = options.stop;
  WatchStream stream(request.What(), on_event);
  request.watch = &stream;
  return Call(request).status();
}

absl::Status KubeClientHttp::Delete(const ResourceType& type,
                                    absl::string_view ns,
                                    absl::string_view name,
                                    Propagation propagation) {
  const char* policy = propagation == Propagation::kForeground ? "Foreground"
                       : propagation == Propagation::kOrphan   ? "Orphan"
                                                               : "Background";
  Request request;
  request.method = "DELETE";
  request.path = ResourcePath(type, ns, name);
  request.body = json{
      {"kind", "DeleteOptions"},
      {"apiVersion", "v1"},
      {"propagationPolicy",
       policy}}.dump();
  request.content_type = kJson;
  request.timeout = options_.request_timeout;
  return Call(request).status();
}

absl::StatusOr<int32_t> KubeClientHttp::GetScale(const ResourceType& type,
                                                 absl::string_view ns,
                                                 absl::string_view name) {
  Request request;
  request.path = absl::StrCat(ResourcePath(type, ns, name), "/scale");
  request.timeout = options_.request_timeout;
  absl::StatusOr<std::string> body = Call(request);
  if (!body.ok()) return body.status();
  absl::StatusOr<json> scale = ParseJson(*body, request.What());
  if (!scale.ok()) return scale.status();
  // autoscaling/v1 Scale omits spec.replicas when it is 0.
  const json& replicas = Field(Field(*scale, "spec"), "replicas");
  if (replicas.is_null()) return 0;
  if (!replicas.is_number_integer()) {
    return absl::InternalError(
        absl::StrCat(request.What(), ": spec.replicas is not an integer"));
  }
  return replicas.get<int32_t>();
}

absl::StatusOr<std::string> KubeClientHttp::PodLogs(
    absl::string_view ns, absl::string_view name,
    const PodLogOptions& options) {
  Request request;
  request.path = absl::StrCat(ResourcePath(kPods, ns, name), "/log");
  std::vector<std::string> query;
  if (!options.container.empty()) {
    query.push_back(absl::StrCat("container=", QueryEscape(options.container)));
  }
  if (options.since_time != absl::InfinitePast()) {
    // Whole seconds, rounded down: the API's precision.
    query.push_back(absl::StrCat(
        "sinceTime=",
        QueryEscape(absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", options.since_time,
                                     absl::UTCTimeZone()))));
  }
  if (options.timestamps) query.push_back("timestamps=true");
  if (options.tail_lines >= 0) {
    query.push_back(absl::StrCat("tailLines=", options.tail_lines));
  }
  if (options.limit_bytes > 0) {
    query.push_back(absl::StrCat("limitBytes=", options.limit_bytes));
  }
  if (options.previous) query.push_back("previous=true");
  request.query = absl::StrJoin(query, "&");
  request.timeout = options_.request_timeout;
  return Call(request);
}

absl::Status KubeClientHttp::SetScale(const ResourceType& type,
                                      absl::string_view ns,
                                      absl::string_view name,
                                      int32_t replicas) {
  // A merge patch of spec.replicas alone cannot conflict with other writers
  // the way a read-modify-write PUT of the Scale would.
  Request request;
  request.method = "PATCH";
  request.path = absl::StrCat(ResourcePath(type, ns, name), "/scale");
  request.body = json{{"spec", {{"replicas", replicas}}}}.dump();
  request.content_type = kMergePatch;
  request.timeout = options_.request_timeout;
  return Call(request).status();
}

}  // namespace tether::kube
