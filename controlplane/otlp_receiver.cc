#include "controlplane/otlp_receiver.h"

#include <utility>

#include "absl/status/statusor.h"
#include "common/grpc_status.h"
#include "controlplane/api_authorizer.h"
#include "controlplane/authorization.h"
#include "controlplane/control_plane_metrics.h"
#include "controlplane/otlp_ingest.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"

namespace tether::controlplane {
namespace {

using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using opentelemetry::proto::collector::metrics::v1::
    ExportMetricsServiceResponse;

}  // namespace

OtlpReceiver::OtlpReceiver(Options options) : options_(std::move(options)) {}

grpc::ServerUnaryReactor* OtlpReceiver::Export(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto refuse = [&](const absl::Status& status) {
    if (options_.metrics != nullptr) options_.metrics->OtlpReport(false, 0);
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  };

  OtlpSender sender;
  const std::string token = BearerToken(*context);
  if (!token.empty()) sender.service = options_.service_for_token(token);
  TokenScope scope;  // An agent's report is bound to its service anyway.
  if (!sender.service.has_value()) {
    absl::StatusOr<TokenScope> checked = options_.authorizer->Scope(*context);
    if (!checked.ok()) {
      return refuse(absl::UnauthenticatedError(
          "OTLP reports need a service's agent token or an API token"));
    }
    scope = *std::move(checked);
  }
  // A scoped token cannot keep another team's service awake: its reports
  // about services it may not use count as reports about unknown ones.
  const auto may_report = [&](const std::string& service) {
    return options_.authorizer->Allows(scope, service);
  };

  ExportMetricsServiceRequest export_request;
  grpc::ByteBuffer bytes(*request);  // Shares the slices; the reader drains.
  grpc::ProtoBufferReader reader(&bytes);
  if (!export_request.ParseFromZeroCopyStream(&reader)) {
    return refuse(
        absl::InvalidArgumentError("not an OTLP ExportMetricsServiceRequest"));
  }

  const OtlpIngestResult result =
      IngestOtlp(export_request, sender, may_report, *options_.activity);
  ExportMetricsServiceResponse export_response;
  if (result.rejected_data_points > 0) {
    auto* partial = export_response.mutable_partial_success();
    partial->set_rejected_data_points(result.rejected_data_points);
    partial->set_error_message(result.error_message);
  }
  if (options_.metrics != nullptr) {
    options_.metrics->OtlpReport(true, result.rejected_data_points);
  }
  bool own_buffer = false;
  const grpc::Status serialized =
      grpc::SerializationTraits<ExportMetricsServiceResponse>::Serialize(
          export_response, response, &own_buffer);
  reactor->Finish(serialized);
  return reactor;
}

}  // namespace tether::controlplane
