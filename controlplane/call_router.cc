#include "controlplane/call_router.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/message_limits.h"
#include "common/request_id.h"
#include "common/status_macros.h"
#include "common/tls.h"
#include "grpcpp/grpcpp.h"
#include "servicespec/validate.h"

namespace tether::controlplane {
namespace {

using tether::v1::CallRequest;
using tether::v1::CallResponse;
using tether::v1::CallResult;
using tether::v1::Codec;
using tether::v1::InvokeRequest;
using tether::v1::InvokeResponse;

// Fan-out bookkeeping shared by the per-replica callbacks of one call.
struct FanOut {
  FanOut(size_t n, CallResponse* response,
         std::function<void(absl::Status)> done)
      : remaining(n), results(n), response(response), done(std::move(done)) {}

  void Complete(size_t index, const grpc::Status& status, CallResult result) {
    bool last = false;
    {
      absl::MutexLock lock(&mu);
      if (!status.ok() && first_error.ok())
        first_error = FromGrpcStatus(status);
      results[index] = std::move(result);
      last = --remaining == 0;
    }
    if (!last) return;
    if (first_error.ok()) {
      for (CallResult& r : results) *response->add_results() = std::move(r);
    }
    done(first_error);
  }

  absl::Mutex mu;
  size_t remaining ABSL_GUARDED_BY(mu);
  absl::Status first_error ABSL_GUARDED_BY(mu);
  std::vector<CallResult> results;
  CallResponse* response;
  std::function<void(absl::Status)> done;
};

// A call sent to one replica (TARGET_ANY, or one replica): owns the
// request, response and completion in one allocation, with none of the
// fan-out bookkeeping.
struct SingleInvoke {
  grpc::ClientContext context;
  InvokeRequest request;
  InvokeResponse response;
  std::shared_ptr<AgentEndpoint> endpoint;
  CallResponse* call_response;
  std::function<void(absl::Status)> done;
};

// One in-flight Invoke of a fan-out: owns what the async client call needs
// until it ends.
struct PendingInvoke {
  grpc::ClientContext context;
  InvokeResponse response;
  std::shared_ptr<const InvokeRequest> request;
  std::shared_ptr<AgentEndpoint> endpoint;
  std::shared_ptr<FanOut> fan_out;
  size_t index = 0;
};

// The agent-side request for `request`, with a request id.
void FillInvoke(const CallRequest& request, Codec codec,
                InvokeRequest* invoke) {
  invoke->set_method(request.method());
  invoke->set_codec(codec);
  invoke->set_payload(request.payload());
  invoke->set_request_id(request.request_id().empty() ? NewRequestId()
                                                      : request.request_id());
}

void PrepareContext(absl::Time deadline, const std::string& authorization,
                    grpc::ClientContext& context) {
  context.set_deadline(absl::ToChronoTime(deadline));
  context.AddMetadata("authorization", authorization);
}

// The agent's result, labelled with the replica it came from.
CallResult TakeResult(InvokeResponse& response, const AgentEndpoint& endpoint) {
  CallResult result = std::move(*response.mutable_result());
  if (result.replica().empty()) result.set_replica(endpoint.replica);
  return result;
}

absl::Status ServiceNotFound(const std::string& service) {
  return absl::NotFoundError(
      absl::StrCat("service \"", service, "\" not found"));
}

// PERMISSION_DENIED for a codec the service does not allow,
// RESOURCE_EXHAUSTED for a payload over the limit.
absl::Status CheckRequest(const CallRequest& request, const Route& route,
                          Codec codec, int64_t max_payload_bytes) {
  if (!servicespec::CodecAllowed(route.allowed_codecs, codec)) {
    std::vector<std::string> allowed;
    for (Codec c : route.allowed_codecs)
      allowed.push_back(servicespec::CodecName(c));
    return absl::PermissionDeniedError(absl::StrCat(
        "codec ", servicespec::CodecName(codec), " is not allowed for service ",
        route.service, " (allowed: ", absl::StrJoin(allowed, ", "),
        "); list it in compute.allowed_serialization"));
  }
  if (static_cast<int64_t>(request.payload().size()) > max_payload_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "payload of ", request.payload().size(), " bytes exceeds the limit of ",
        max_payload_bytes, " bytes"));
  }
  return absl::OkStatus();
}

// Fills `targets` (empty on entry) with the ready replicas that
// `request.target()` selects: at least one on success.
absl::Status PickTargets(const CallRequest& request, const Route& route,
                         std::vector<std::shared_ptr<AgentEndpoint>>* targets) {
  switch (request.target()) {
    case CallRequest::TARGET_UNSPECIFIED:
    case CallRequest::TARGET_ANY: {
      // Least outstanding requests; ties go to the lower replica index.
      // Raw pointers while scanning: no reference-count traffic per replica.
      const std::shared_ptr<AgentEndpoint>* best = nullptr;
      for (const auto& endpoint : route.ready) {
        if (best == nullptr || endpoint->in_flight < (*best)->in_flight) {
          best = &endpoint;
        }
      }
      if (best != nullptr) targets->push_back(*best);
      break;
    }
    case CallRequest::TARGET_ALL:
      *targets = route.ready;
      break;
    case CallRequest::TARGET_REPLICA: {
      for (const auto& endpoint : route.ready) {
        if (endpoint->replica == request.replica())
          targets->push_back(endpoint);
      }
      if (targets->empty()) {
        return absl::UnavailableError(
            absl::StrCat("replica \"", request.replica(), "\" of service ",
                         route.service, " is not ready"));
      }
      break;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("target: unknown value ", request.target()));
  }
  if (targets->empty()) {
    return absl::UnavailableError(
        absl::StrCat("service ", route.service, " has no ready replica",
                     route.not_ready_reason.empty()
                         ? ""
                         : absl::StrCat(" (", route.not_ready_reason, ")")));
  }
  return absl::OkStatus();
}

// Sends the call to one replica: one allocation, no fan-out state.
void InvokeOne(std::shared_ptr<AgentEndpoint> endpoint,
               const CallRequest& request, Codec codec, absl::Time deadline,
               const std::string& authorization, CallResponse* response,
               std::function<void(absl::Status)> done) {
  auto* single = new SingleInvoke;
  FillInvoke(request, codec, &single->request);
  single->endpoint = std::move(endpoint);
  single->call_response = response;
  single->done = std::move(done);
  PrepareContext(deadline, authorization, single->context);
  single->endpoint->in_flight++;
  single->endpoint->stub->async()->Invoke(
      &single->context, &single->request, &single->response,
      [single](const grpc::Status& status) {
        single->endpoint->in_flight--;
        if (status.ok()) {
          *single->call_response->add_results() =
              TakeResult(single->response, *single->endpoint);
        }
        // Moved out first: `done` may let the server reuse `response`.
        std::function<void(absl::Status)> done = std::move(single->done);
        delete single;
        done(FromGrpcStatus(status));
      });
}

// Sends the call to every target; `done` runs once, after the last reply.
void InvokeAll(const std::vector<std::shared_ptr<AgentEndpoint>>& targets,
               const CallRequest& request, Codec codec, absl::Time deadline,
               const std::string& authorization, CallResponse* response,
               std::function<void(absl::Status)> done) {
  auto invoke = std::make_shared<InvokeRequest>();
  FillInvoke(request, codec, invoke.get());
  auto fan_out =
      std::make_shared<FanOut>(targets.size(), response, std::move(done));
  for (size_t i = 0; i < targets.size(); ++i) {
    auto* pending = new PendingInvoke;
    pending->request = invoke;
    pending->endpoint = targets[i];
    pending->fan_out = fan_out;
    pending->index = i;
    PrepareContext(deadline, authorization, pending->context);
    pending->endpoint->in_flight++;
    pending->endpoint->stub->async()->Invoke(
        &pending->context, pending->request.get(), &pending->response,
        [pending](const grpc::Status& status) {
          pending->endpoint->in_flight--;
          pending->fan_out->Complete(
              pending->index, status,
              TakeResult(pending->response, *pending->endpoint));
          delete pending;
        });
  }
}

}  // namespace

CallRouter::CallRouter(Options options) : options_(std::move(options)) {}

void CallRouter::SetRoute(std::shared_ptr<const Route> route) {
  auto entry = std::make_shared<RouteEntry>();
  entry->authorization = absl::StrCat("Bearer ", route->token);
  entry->route = std::move(route);
  const std::string service = entry->route->service;
  absl::MutexLock lock(&mu_);
  routes_[service] = std::move(entry);
}

void CallRouter::RemoveRoute(const std::string& service) {
  absl::MutexLock lock(&mu_);
  routes_.erase(service);
}

std::unique_ptr<tether::v1::Agent::StubInterface> CallRouter::NewAgentStub(
    const std::string& address) const {
  grpc::ChannelArguments args;
  // Payload plus room for the envelope; the router enforces the real limit.
  const int max_message = MaxMessageBytes(options_.max_payload_bytes);
  args.SetMaxReceiveMessageSize(max_message);
  args.SetMaxSendMessageSize(max_message);
  // Calls are not idempotent in general: never replay them transparently,
  // and skip the retry filter's buffering on the hot path.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  SetTlsServerName(options_.agent_tls_server_name, args);
  return tether::v1::Agent::NewStub(
      grpc::CreateCustomChannel(address,
                                options_.agent_credentials != nullptr
                                    ? options_.agent_credentials
                                    : grpc::InsecureChannelCredentials(),
                                args));
}

std::shared_ptr<const CallRouter::RouteEntry> CallRouter::Find(
    const std::string& service) const {
  absl::MutexLock lock(&mu_);
  auto it = routes_.find(service);
  return it == routes_.end() ? nullptr : it->second;
}

absl::StatusOr<CallRouter::StreamTarget> CallRouter::ResolveStream(
    const CallRequest& request) const {
  std::shared_ptr<const RouteEntry> entry = Find(request.service());
  if (entry == nullptr) return ServiceNotFound(request.service());
  if (request.target() == CallRequest::TARGET_ALL) {
    return absl::InvalidArgumentError(
        "target: a streamed call runs on one replica (TARGET_ANY or "
        "TARGET_REPLICA), not TARGET_ALL");
  }
  const Route& route = *entry->route;
  const Codec codec = servicespec::EffectiveCodec(request.codec());
  RETURN_IF_ERROR(
      CheckRequest(request, route, codec, options_.max_payload_bytes));
  std::vector<std::shared_ptr<AgentEndpoint>> targets;
  RETURN_IF_ERROR(PickTargets(request, route, &targets));
  StreamTarget target;
  target.endpoint = std::move(targets[0]);
  target.authorization = entry->authorization;
  FillInvoke(request, codec, &target.invoke);
  target.invoke.set_logs(request.logs());
  return target;
}

absl::StatusOr<CallRouter::LogsTargets> CallRouter::ResolveLogs(
    const std::string& service) const {
  std::shared_ptr<const RouteEntry> entry = Find(service);
  if (entry == nullptr) return ServiceNotFound(service);
  LogsTargets targets;
  targets.ready = entry->route->ready;
  targets.authorization = entry->authorization;
  targets.not_ready_reason = entry->route->not_ready_reason;
  return targets;
}

void CallRouter::Call(const CallRequest& request, CallResponse* response,
                      absl::Time deadline,
                      std::function<void(absl::Status)> done) {
  std::shared_ptr<const RouteEntry> entry = Find(request.service());
  if (entry == nullptr) return done(ServiceNotFound(request.service()));
  const Route& route = *entry->route;
  const Codec codec = servicespec::EffectiveCodec(request.codec());
  if (absl::Status checked =
          CheckRequest(request, route, codec, options_.max_payload_bytes);
      !checked.ok()) {
    return done(std::move(checked));
  }
  std::vector<std::shared_ptr<AgentEndpoint>> targets;
  if (absl::Status picked = PickTargets(request, route, &targets);
      !picked.ok()) {
    return done(std::move(picked));
  }
  if (targets.size() == 1) {
    // The common case, kept free of the fan-out's shared state.
    return InvokeOne(std::move(targets[0]), request, codec, deadline,
                     entry->authorization, response, std::move(done));
  }
  InvokeAll(targets, request, codec, deadline, entry->authorization, response,
            std::move(done));
}

}  // namespace tether::controlplane
