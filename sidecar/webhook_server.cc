#include "sidecar/webhook_server.h"

#include <civetweb.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/health_routes.h"
#include "common/metrics_text.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "sidecar/admission.h"

namespace tether::sidecar {
namespace {

constexpr char kMutatePath[] = "/mutate";
constexpr char kText[] = "text/plain; charset=utf-8";

ReviewOutcome OutcomeOf(const nlohmann::json& review) {
  const nlohmann::json& response = review["response"];
  if (!response.value("allowed", false)) return ReviewOutcome::kDenied;
  return response.contains("patch") ? ReviewOutcome::kInjected
                                    : ReviewOutcome::kSkipped;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebhookServer>> WebhookServer::Create(
    Options options) {
  RETURN_IF_ERROR(ValidateInjectorConfig(options.injector));
  std::unique_ptr<WebhookServer> server(new WebhookServer(std::move(options)));
  if (server->options_.kube_client != nullptr) {
    kube::EventRecorder::Options events;
    events.client = server->options_.kube_client;
    events.component = "tether-injector";
    events.instance = server->options_.instance;
    InjectorMetrics* metrics = &server->metrics_;
    events.on_outcome = [metrics](kube::EventOutcome outcome) {
      metrics->EventEnded(outcome);
    };
    ASSIGN_OR_RETURN(server->events_,
                     kube::EventRecorder::Create(std::move(events)));
  }
  ASSIGN_OR_RETURN(
      server->certificate_,
      ServingCertificate::Create({server->options_.tls_cert_file,
                                  server->options_.tls_key_file,
                                  server->options_.tls_poll_interval}));

  HttpServer::Options http;
  http.listen_address = server->options_.http_listen_address;
  http.routes = HealthRoutes([] { return absl::OkStatus(); });
  http.routes.push_back(MetricsRoute(&server->metrics_.registry()));
  ASSIGN_OR_RETURN(server->http_, HttpServer::Create(std::move(http)));

  CivetwebServer::Options https;
  https.listen_address = server->options_.listen_address;
  https.worker_threads = server->options_.worker_threads;
  https.keep_alive = server->options_.keep_alive;
  WebhookServer* self = server.get();
  https.handler = [self](mg_connection* connection) {
    return self->Serve(connection);
  };
  https.tls_setup = [self](ssl_ctx_st* context) {
    self->certificate_->Install(context);
    return absl::OkStatus();
  };
  ASSIGN_OR_RETURN(server->https_, CivetwebServer::Create(std::move(https)));
  return server;
}

WebhookServer::~WebhookServer() = default;

int WebhookServer::Serve(mg_connection* connection) {
  const mg_request_info* request = mg_get_request_info(connection);
  if (absl::string_view(request->local_uri != nullptr ? request->local_uri
                                                      : "") != kMutatePath) {
    return SendHttpResponse(connection, {404, kText, "not found\n"});
  }
  if (absl::string_view(request->request_method) != "POST") {
    return SendHttpResponse(connection,
                            {405, kText, "use POST\n", /*allow=*/"POST"});
  }
  return SendHttpResponse(connection, Mutate(connection));
}

HttpResponse WebhookServer::Mutate(mg_connection* connection) {
  const absl::Time started = metrics_.ReviewStarted();
  absl::StatusOr<std::string> body =
      ReadHttpRequestBody(connection, options_.max_request_bytes);
  absl::StatusOr<Admission> admission =
      body.ok() ? Admit(*body, options_.injector) : body.status();
  if (!admission.ok()) {
    metrics_.ReviewEnded(started, ReviewOutcome::kError);
    return {absl::IsResourceExhausted(admission.status()) ? 413 : 400, kText,
            absl::StrCat(admission.status().message(), "\n")};
  }
  if (events_ != nullptr && admission->event.has_value()) {
    RecordAdmissionEvent(*events_, *admission->event);
  }
  metrics_.ReviewEnded(started, OutcomeOf(admission->review));
  return {200, "application/json", admission->review.dump()};
}

}  // namespace tether::sidecar
