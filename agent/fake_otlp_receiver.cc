#include "agent/fake_otlp_receiver.h"

#include <utility>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tether::agent {

using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using opentelemetry::proto::collector::metrics::v1::
    ExportMetricsServiceResponse;

grpc::ServerUnaryReactor* FakeOtlpReceiver::Export(
    grpc::CallbackServerContext* context,
    const ExportMetricsServiceRequest* request,
    ExportMetricsServiceResponse* response) {
  Received received{*request, ""};
  auto auth = context->client_metadata().find("authorization");
  if (auth != context->client_metadata().end()) {
    received.authorization.assign(auth->second.data(), auth->second.size());
  }
  grpc::Status status;
  {
    absl::MutexLock lock(&mu_);
    received_.push_back(std::move(received));
    status = status_;
    if (rejected_ > 0) {
      response->mutable_partial_success()->set_rejected_data_points(rejected_);
      response->mutable_partial_success()->set_error_message("not today");
    }
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

void FakeOtlpReceiver::SetStatus(grpc::Status status) {
  absl::MutexLock lock(&mu_);
  status_ = std::move(status);
}

void FakeOtlpReceiver::SetRejected(int64_t rejected) {
  absl::MutexLock lock(&mu_);
  rejected_ = rejected;
}

FakeOtlpReceiver::Received FakeOtlpReceiver::WaitFor(size_t count) {
  absl::MutexLock lock(&mu_);
  auto arrived = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return received_.size() >= count;
  };
  EXPECT_TRUE(
      mu_.AwaitWithTimeout(absl::Condition(&arrived), absl::Seconds(30)))
      << "export " << count << " never came";
  return received_.size() >= count ? received_[count - 1] : Received{};
}

size_t FakeOtlpReceiver::count() {
  absl::MutexLock lock(&mu_);
  return received_.size();
}

int64_t MetricValue(const ExportMetricsServiceRequest& request,
                    const std::string& metric) {
  for (const auto& resource : request.resource_metrics()) {
    for (const auto& scope : resource.scope_metrics()) {
      for (const auto& m : scope.metrics()) {
        if (m.name() != metric) continue;
        if (m.has_sum() && m.sum().data_points_size() == 1) {
          return m.sum().data_points(0).as_int();
        }
        if (m.has_gauge() && m.gauge().data_points_size() == 1) {
          return m.gauge().data_points(0).as_int();
        }
      }
    }
  }
  return -1;
}

std::string ResourceAttribute(const ExportMetricsServiceRequest& request,
                              const std::string& key) {
  for (const auto& resource : request.resource_metrics()) {
    for (const auto& attribute : resource.resource().attributes()) {
      if (attribute.key() == key) return attribute.value().string_value();
    }
  }
  return "";
}

}  // namespace tether::agent
