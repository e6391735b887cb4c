#ifndef TETHER_SIDECAR_WEBHOOK_SERVER_H_
#define TETHER_SIDECAR_WEBHOOK_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/civetweb_server.h"
#include "common/http_server.h"
#include "common/serving_certificate.h"
#include "kube/event_recorder.h"
#include "kube/kube_client.h"
#include "sidecar/injector.h"
#include "sidecar/injector_metrics.h"

namespace tether::sidecar {

/// tether-injector's servers, the composition root of the binary:
///
///   HTTPS `listen_address` (the API server calls it; certificate reloaded
///   as its files change, common/serving_certificate.h):
///     POST /mutate   AdmissionReview v1 in, ReviewAdmission's review out
///                    (application/json); 400 with the reason for a body
///                    that is not a review, 413 beyond `max_request_bytes`
///     other methods  405 (Allow: POST); other paths 404
///   HTTP `http_listen_address` (kubelet probes, Prometheus):
///     /healthz, /readyz, /metrics (InjectorMetrics)
///   With a KubeClient, a Kubernetes Event per review of an opted-in pod on
///   the pod's owner (sidecar/admission.h), written off the request path.
///
/// Thread-safe: requests are served on the servers' worker threads;
/// destruction stops both servers, waiting for requests in flight.
class WebhookServer final {
 public:
  struct Options {
    /// HTTPS host:port for /mutate. Required.
    std::string listen_address;
    /// Plain HTTP host:port for probes and /metrics. Required.
    std::string http_listen_address;
    /// The serving certificate (with its chain) and key, PEM. Required.
    std::string tls_cert_file;
    std::string tls_key_file;
    /// How often the certificate files are checked for a change.
    absl::Duration tls_poll_interval = absl::Seconds(10);
    /// What is injected; validated by Create.
    InjectorConfig injector;
    /// The API server sends at most 3 MiB.
    size_t max_request_bytes = 3 << 20;
    /// Connections served at once (civetweb holds a thread per connection
    /// while it is kept alive).
    int worker_threads = 16;
    /// The API server reuses its connections to webhooks: a new TLS
    /// handshake per review costs ~15x the review (BENCHMARKS.md).
    absl::Duration keep_alive = absl::Seconds(15);
    /// Where Events go. Not owned; must outlive the server. Null: none.
    kube::KubeClient* kube_client = nullptr;
    /// The Events' reportingInstance (this pod's name). Empty: none.
    std::string instance;
  };

  /// Reads the certificate and starts both servers. INVALID_ARGUMENT for a
  /// bad injector config, address or certificate pair (naming it);
  /// UNAVAILABLE when a port cannot be bound.
  static absl::StatusOr<std::unique_ptr<WebhookServer>> Create(Options options);

  ~WebhookServer();

  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  /// The bound HTTPS and HTTP ports.
  int port() const { return https_->port(); }
  int http_port() const { return http_->port(); }
  /// The served certificate's serial (hex), for logs.
  std::string certificate_serial() const { return certificate_->serial(); }

 private:
  explicit WebhookServer(Options options) : options_(std::move(options)) {}
  // Answers one HTTPS request.
  int Serve(mg_connection* connection);
  // Answers POST /mutate.
  HttpResponse Mutate(mg_connection* connection);

  const Options options_;
  InjectorMetrics metrics_;
  // Null without a kube_client. Outlives https_, whose requests record.
  std::unique_ptr<kube::EventRecorder> events_;
  std::unique_ptr<ServingCertificate> certificate_;
  std::unique_ptr<HttpServer> http_;
  // Last: stopped first, while what its requests use still exists.
  std::unique_ptr<CivetwebServer> https_;
};

}  // namespace tether::sidecar

#endif  // TETHER_SIDECAR_WEBHOOK_SERVER_H_
