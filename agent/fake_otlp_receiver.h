#ifndef TETHER_AGENT_FAKE_OTLP_RECEIVER_H_
#define TETHER_AGENT_FAKE_OTLP_RECEIVER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"

namespace tether::agent {

/// An OTLP MetricsService for tests (serve it on loopback port 0): records
/// every Export with its authorization metadata and answers with the status
/// the test chooses. Thread-safe.
class FakeOtlpReceiver final : public opentelemetry::proto::collector::metrics::
                                   v1::MetricsService::CallbackService {
 public:
  struct Received {
    opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest
        request;
    /// The `authorization` metadata; empty when absent.
    std::string authorization;
  };

  grpc::ServerUnaryReactor* Export(
      grpc::CallbackServerContext* context,
      const opentelemetry::proto::collector::metrics::v1::
          ExportMetricsServiceRequest* request,
      opentelemetry::proto::collector::metrics::v1::
          ExportMetricsServiceResponse* response) override;

  /// What later exports answer (initially OK).
  void SetStatus(grpc::Status status);
  /// Later OK answers report this many rejected points (0: none).
  void SetRejected(int64_t rejected);

  /// Blocks until `count` (>= 1) exports arrived and returns the count-th;
  /// fails the test after 30 s (a hang guard, not a timing assumption).
  Received WaitFor(size_t count);
  size_t count();

 private:
  absl::Mutex mu_;
  std::vector<Received> received_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  int64_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
};

/// The int value of `metric`'s only point in `request` (a Sum or a Gauge);
/// -1 when missing.
int64_t MetricValue(const opentelemetry::proto::collector::metrics::v1::
                        ExportMetricsServiceRequest& request,
                    const std::string& metric);

/// The value of string resource attribute `key`; empty when missing.
std::string ResourceAttribute(const opentelemetry::proto::collector::metrics::
                                  v1::ExportMetricsServiceRequest& request,
                              const std::string& key);

}  // namespace tether::agent

#endif  // TETHER_AGENT_FAKE_OTLP_RECEIVER_H_
