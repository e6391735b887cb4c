#include "agent/otlp_exporter.h"

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"

namespace tether::agent {
namespace {

namespace otlp_collector = opentelemetry::proto::collector::metrics::v1;
namespace otlp_metrics = opentelemetry::proto::metrics::v1;

constexpr char kCallUnit[] = "{call}";

uint64_t UnixNanos(absl::Time t) {
  return static_cast<uint64_t>(absl::ToUnixNanos(t));
}

bool Retryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable ||
         code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kResourceExhausted;
}

void AddCumulativeSum(otlp_metrics::ScopeMetrics& scope, const char* name,
                      const char* description, int64_t value,
                      const ActivitySnapshot& snapshot, absl::Time now) {
  otlp_metrics::Metric* metric = scope.add_metrics();
  metric->set_name(name);
  metric->set_description(description);
  metric->set_unit(kCallUnit);
  otlp_metrics::Sum* sum = metric->mutable_sum();
  sum->set_aggregation_temporality(
      otlp_metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
  sum->set_is_monotonic(true);
  otlp_metrics::NumberDataPoint* point = sum->add_data_points();
  point->set_start_time_unix_nano(UnixNanos(snapshot.start_time));
  point->set_time_unix_nano(UnixNanos(now));
  point->set_as_int(value);
}

absl::Status ValidateHeader(const std::string& key) {
  if (key.empty() || absl::StartsWith(key, "grpc-") ||
      absl::EndsWith(key, "-bin")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "headers: \"", key, "\" is not a usable gRPC metadata key"));
  }
  for (char c : key) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-' &&
        c != '_' && c != '.') {
      return absl::InvalidArgumentError(absl::StrCat(
          "headers: \"", key,
          "\": gRPC metadata keys are lowercase letters, digits, '-', '_' "
          "and '.'"));
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const OtlpExporter::Options& options) {
  if (options.counters == nullptr || options.clock == nullptr) {
    return absl::InvalidArgumentError(
        "otlp exporter needs counters and a clock");
  }
  if (options.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("interval must be positive");
  }
  if (options.timeout <= absl::ZeroDuration() ||
      options.final_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeouts must be positive");
  }
  RETURN_IF_ERROR(Backoff::Validate(options.backoff));
  absl::flat_hash_set<std::string> keys;
  for (const auto& [key, value] : options.resource_attributes) {
    if (key.empty() || !keys.insert(key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("resource attribute keys must be unique and non-empty: "
                       "\"",
                       key, "\""));
    }
  }
  for (const auto& [key, value] : options.headers) {
    RETURN_IF_ERROR(ValidateHeader(key));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<OtlpEndpoint> ParseOtlpEndpoint(absl::string_view endpoint) {
  OtlpEndpoint parsed;
  absl::string_view rest = endpoint;
  if (absl::ConsumePrefix(&rest, "https://")) {
    parsed.tls = true;
  } else if (!absl::ConsumePrefix(&rest, "http://") &&
             absl::StrContains(rest, "://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoint \"", endpoint, "\": the scheme must be http:// or https://"));
  }
  absl::ConsumeSuffix(&rest, "/");
  if (absl::StrContains(rest, "/")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoint \"", endpoint,
        "\": OTLP/gRPC takes host:port without a path (/v1/metrics is for "
        "OTLP/HTTP, which tether-agent does not speak)"));
  }
  const size_t colon = rest.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port <= 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint \"", endpoint,
                     "\": expected host:port or http(s)://host:port"));
  }
  parsed.target = std::string(rest);
  return parsed;
}

struct OtlpExporter::Rpc {
  std::unique_ptr<otlp_collector::MetricsService::Stub> stub;
  // Built once: it does not change.
  opentelemetry::proto::resource::v1::Resource resource;
};

absl::StatusOr<std::unique_ptr<OtlpExporter>> OtlpExporter::Create(
    Options options) {
  RETURN_IF_ERROR(Validate(options));
  ASSIGN_OR_RETURN(const OtlpEndpoint endpoint,
                   ParseOtlpEndpoint(options.endpoint));
  auto rpc = std::make_unique<Rpc>();
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (endpoint.tls && options.tls.ca_file.empty()) {
    credentials = grpc::SslCredentials(grpc::SslCredentialsOptions());
  } else if (endpoint.tls) {
    ASSIGN_OR_RETURN(credentials, GrpcChannelCredentials(options.tls));
  }
  rpc->stub = otlp_collector::MetricsService::NewStub(
      grpc::CreateChannel(endpoint.target, credentials));
  for (const auto& [key, value] : options.resource_attributes) {
    opentelemetry::proto::common::v1::KeyValue* attribute =
        rpc->resource.add_attributes();
    attribute->set_key(key);
    attribute->mutable_value()->set_string_value(value);
  }
  std::unique_ptr<OtlpExporter> exporter(
      new OtlpExporter(std::move(options), std::move(rpc)));
  exporter->options_.counters->SetWakeCallback([e = exporter.get()] {
    absl::MutexLock lock(&e->mu_);
    e->wake_ = true;
  });
  exporter->thread_ = std::thread([e = exporter.get()] { e->Run(); });
  return exporter;
}

OtlpExporter::OtlpExporter(Options options, std::unique_ptr<Rpc> rpc)
    : options_(std::move(options)), rpc_(std::move(rpc)) {}

OtlpExporter::~OtlpExporter() {
  // First, so no call wakes an exporter going away.
  options_.counters->SetWakeCallback(nullptr);
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    // An export stuck on a slow receiver would hold up shutdown.
    if (active_context_ != nullptr) active_context_->TryCancel();
  }
  thread_.join();
}

void OtlpExporter::Run() {
  Backoff backoff(options_.backoff);
  Clock* const clock = options_.clock;
  absl::Time next = clock->Now() + options_.interval;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || wake_;
      };
      clock->AwaitWithDeadline(&mu_, absl::Condition(&woken), next);
      if (stop_) break;
      wake_ = false;
    }
    ExportWithRetry(backoff);
    next = clock->Now() + options_.interval;
  }
  const absl::Status last = ExportOnce(options_.final_timeout);
  if (!last.ok()) {
    TETHER_LOG(WARNING) << "last metrics export to " << options_.endpoint
                        << " failed: " << last;
  }
}

void OtlpExporter::ExportWithRetry(Backoff& backoff) {
  while (true) {
    const absl::Status status = ExportOnce(options_.timeout);
    if (status.ok()) {
      if (backoff.failures() > 0) {
        TETHER_LOG(INFO) << "metrics export to " << options_.endpoint
                         << " works again after " << backoff.failures()
                         << " failed attempts";
        last_logged_failure_ = absl::OkStatus();
      }
      backoff.Reset();
      return;
    }
    if (!Retryable(status.code())) {
      if (ShouldLogFailure(status)) {
        TETHER_LOG(WARNING) << "metrics export to " << options_.endpoint
                            << " refused: " << status << "; trying again in "
                            << options_.interval;
      }
      return;
    }
    const absl::Duration delay = backoff.NextDelay();
    if (ShouldLogFailure(status)) {
      TETHER_LOG(WARNING) << "metrics export to " << options_.endpoint
                          << " failed: " << status << "; retrying in " << delay;
    }
    absl::MutexLock lock(&mu_);
    // A wake-up does not cut the backoff short: the retry sends the latest
    // counts anyway.
    auto stopping = [this]()
                        ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
    options_.clock->AwaitWithDeadline(&mu_, absl::Condition(&stopping),
                                      options_.clock->Now() + delay);
    if (stop_) return;
    wake_ = false;
  }
}

absl::Status OtlpExporter::ExportOnce(absl::Duration timeout) {
  const ActivitySnapshot snapshot = options_.counters->Snapshot();
  const absl::Time now = options_.clock->Now();
  otlp_collector::ExportMetricsServiceRequest request;
  otlp_metrics::ResourceMetrics* resource_metrics =
      request.add_resource_metrics();
  *resource_metrics->mutable_resource() = rpc_->resource;
  otlp_metrics::ScopeMetrics* scope = resource_metrics->add_scope_metrics();
  scope->mutable_scope()->set_name(kOtlpScopeName);
  AddCumulativeSum(*scope, kCallsStartedMetric,
                   "Calls this replica accepted, counted when they start.",
                   snapshot.started, snapshot, now);
  AddCumulativeSum(*scope, kCallsFinishedMetric,
                   "Calls this replica finished, whatever the outcome.",
                   snapshot.finished, snapshot, now);
  otlp_metrics::Metric* in_flight = scope->add_metrics();
  in_flight->set_name(kCallsInFlightMetric);
  in_flight->set_description("Calls running on this replica now.");
  in_flight->set_unit(kCallUnit);
  otlp_metrics::NumberDataPoint* point =
      in_flight->mutable_gauge()->add_data_points();
  point->set_time_unix_nano(UnixNanos(now));
  point->set_as_int(snapshot.in_flight);

  grpc::ClientContext context;
  // gRPC deadlines are real time, whatever clock times the interval.
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  for (const auto& [key, value] : options_.headers) {
    context.AddMetadata(key, value);
  }
  {
    absl::MutexLock lock(&mu_);
    // The final export runs after stop_: only earlier ones are cancelled.
    if (!stop_) active_context_ = &context;
  }
  // Marked before sending: a call starting while this export is under way
  // is not "after idle" (this export or the next one reports it).
  options_.counters->MarkExported(snapshot);
  otlp_collector::ExportMetricsServiceResponse response;
  const grpc::Status status = rpc_->stub->Export(&context, request, &response);
  {
    absl::MutexLock lock(&mu_);
    active_context_ = nullptr;
  }
  if (!status.ok()) return FromGrpcStatus(status);
  const auto& partial = response.partial_success();
  if (partial.rejected_data_points() != last_rejected_points_ ||
      partial.error_message() != last_partial_message_) {
    last_rejected_points_ = partial.rejected_data_points();
    last_partial_message_ = partial.error_message();
    if (last_rejected_points_ > 0 || !last_partial_message_.empty()) {
      TETHER_LOG(WARNING) << "metrics receiver " << options_.endpoint
                          << " rejected " << last_rejected_points_
                          << " data points: " << last_partial_message_;
    }
  }
  return absl::OkStatus();
}

bool OtlpExporter::ShouldLogFailure(const absl::Status& status) {
  const absl::Time now = options_.clock->Now();
  if (status == last_logged_failure_ &&
      now - last_failure_log_ < absl::Minutes(1)) {
    return false;
  }
  last_logged_failure_ = status;
  last_failure_log_ = now;
  return true;
}

}  // namespace tether::agent
