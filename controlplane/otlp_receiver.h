#ifndef TETHER_CONTROLPLANE_OTLP_RECEIVER_H_
#define TETHER_CONTROLPLANE_OTLP_RECEIVER_H_

#include <functional>
#include <optional>
#include <string>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"

namespace tether::controlplane {

class ActivityTracker;
class ApiAuthorizer;
class ControlPlaneMetrics;

/// tetherd's OTLP/gRPC metrics receiver
/// (`opentelemetry.proto.collector.metrics.v1.MetricsService/Export`), so
/// agents, or any OpenTelemetry SDK or Collector, report activity. The
/// sender's bearer token decides whose report it is: a service's agent
/// token binds it to that service; an API token (an operator's Collector),
/// or any sender when tetherd has no API tokens, is trusted to name the
/// service in its resources; anything else is UNAUTHENTICATED. The request
/// is decoded here, so bytes that are not an export request get
/// INVALID_ARGUMENT; data Tether does not use is counted in
/// partial_success, never a failed request. Thread-safe.
class OtlpReceiver final : public opentelemetry::proto::collector::metrics::v1::
                               MetricsService::WithRawCallbackMethod_Export<
                                   opentelemetry::proto::collector::metrics::
                                       v1::MetricsService::Service> {
 public:
  struct Options {
    /// Receives the reports. Required.
    ActivityTracker* activity = nullptr;
    /// The service whose agents hold a token; nullopt for none. Required.
    std::function<std::optional<std::string>(const std::string& token)>
        service_for_token;
    /// Judges senders without an agent token: their reports count only for
    /// recorded services their API token may use (any, on an open API).
    /// Required.
    const ApiAuthorizer* authorizer = nullptr;
    /// Counts reports. May be null.
    ControlPlaneMetrics* metrics = nullptr;
  };

  explicit OtlpReceiver(Options options);

  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;

 private:
  const Options options_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_OTLP_RECEIVER_H_
