#include "agent/invoke_service.h"

#include "absl/strings/str_cat.h"
#include "agent/activity.h"
#include "agent/agent_metrics.h"
#include "agent/worker/worker_pool.h"
#include "common/grpc_status.h"
#include "servicespec/validate.h"

namespace tether::agent {

InvokeService::InvokeService(WorkerPool* pool, AgentMetrics* metrics,
                             ActivityCounters* activity,
                             const std::string& token,
                             int64_t max_payload_bytes)
    : pool_(pool),
      metrics_(metrics),
      activity_(activity),
      authorization_(absl::StrCat("Bearer ", token)),
      max_payload_bytes_(max_payload_bytes) {}

void InvokeService::SetAllowedCodecs(std::vector<tether::v1::Codec> codecs) {
  absl::MutexLock lock(&mu_);
  allowed_codecs_ = std::move(codecs);
}

grpc::ServerUnaryReactor* InvokeService::Invoke(
    grpc::CallbackServerContext* context,
    const tether::v1::InvokeRequest* request,
    tether::v1::InvokeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Every path ends here; counted before the reply, so a client that sees
  // the reply also sees it counted.
  auto finish = [reactor, metrics = metrics_,
                 started =
                     metrics_->CallStarted()](const grpc::Status& status) {
    metrics->CallFinished(started, status.error_code());
    reactor->Finish(status);
  };
  const auto& metadata = context->client_metadata();
  auto auth = metadata.find("authorization");
  if (auth == metadata.end() ||
      absl::string_view(auth->second.data(), auth->second.size()) !=
          authorization_) {
    finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing or wrong service token"));
    return reactor;
  }
  const tether::v1::Codec codec = servicespec::EffectiveCodec(request->codec());
  bool allowed = false;
  {
    absl::MutexLock lock(&mu_);
    allowed = servicespec::CodecAllowed(allowed_codecs_, codec);
  }
  if (!allowed) {
    finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("codec ", servicespec::CodecName(codec),
                                     " is not allowed for this service")));
    return reactor;
  }
  if (static_cast<int64_t>(request->payload().size()) > max_payload_bytes_) {
    finish(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("payload of ", request->payload().size(),
                     " bytes exceeds the limit of ", max_payload_bytes_)));
    return reactor;
  }
  // Counted when it starts: a long call is activity from its first moment.
  activity_->CallStarted();
  pool_->Invoke(*request, [finish, response, activity = activity_](
                              absl::StatusOr<tether::v1::CallResult> result) {
    if (result.ok()) *response->mutable_result() = std::move(*result);
    activity->CallFinished();
    finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

}  // namespace tether::agent
