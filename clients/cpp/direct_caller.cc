#include "clients/cpp/direct_caller.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/call_metadata.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "common/tls.h"
#include "grpcpp/grpcpp.h"

namespace tether::client {
namespace {

using tether::v1::CallRequest;
using tether::v1::CallResponse;

tether::v1::InvokeRequest InvokeRequestFor(const CallRequest& request) {
  tether::v1::InvokeRequest invoke;
  invoke.set_method(request.method());
  invoke.set_codec(request.codec());
  invoke.set_payload(request.payload());
  invoke.set_request_id(request.request_id());
  invoke.set_logs(request.logs());
  return invoke;
}

void SetDeadline(absl::Time deadline, grpc::ClientContext& context) {
  if (deadline < absl::InfiniteFuture()) {
    context.set_deadline(absl::ToChronoTime(deadline));
  }
}

}  // namespace

std::optional<absl::Duration> WokeAfter(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto it = trailers.find(kWokeAfterMetadata);
  int64_t ms = 0;
  if (it == trailers.end() ||
      !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()),
                        &ms)) {
    return std::nullopt;
  }
  return absl::Milliseconds(ms);
}

absl::StatusOr<std::unique_ptr<DirectCaller>> DirectCaller::Create(
    const Options& options) {
  if (options.tetherd == nullptr || options.service.empty()) {
    return absl::InvalidArgumentError(
        "DirectCaller needs tetherd's channel and a service");
  }
  RETURN_IF_ERROR(Backoff::Validate(options.rewatch_backoff));
  std::shared_ptr<grpc::ChannelCredentials> agent_credentials;
  if (!options.agent_ca_file.empty()) {
    ASSIGN_OR_RETURN(agent_credentials,
                     GrpcChannelCredentials({"", "", options.agent_ca_file}));
  }
  auto caller = std::unique_ptr<DirectCaller>(
      new DirectCaller(options, std::move(agent_credentials)));
  absl::MutexLock lock(&caller->mu_);
  auto known = [&caller]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(caller->mu_) {
    return caller->snapshot_ != nullptr || caller->first_watch_failed_;
  };
  caller->options_.clock->AwaitWithDeadline(
      &caller->mu_, absl::Condition(&known),
      caller->options_.clock->Now() + caller->options_.first_endpoints_wait);
  return caller;
}

DirectCaller::DirectCaller(
    const Options& options,
    std::shared_ptr<grpc::ChannelCredentials> agent_credentials)
    : options_(options),
      agent_credentials_(std::move(agent_credentials)),
      tetherd_(tether::v1::ControlPlane::NewStub(options_.tetherd)),
      watcher_([this] { WatchLoop(); }) {}

DirectCaller::~DirectCaller() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (watch_context_ != nullptr) watch_context_->TryCancel();
  }
  watcher_.join();
}

std::unique_ptr<tether::v1::Agent::Stub> DirectCaller::AgentStub(
    const std::string& address, const std::string& tls_server_name) const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options_.max_message_bytes);
  args.SetMaxSendMessageSize(options_.max_message_bytes);
  if (tls_server_name.empty()) {
    return tether::v1::Agent::NewStub(grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), args));
  }
  if (agent_credentials_ == nullptr) return nullptr;
  SetTlsServerName(tls_server_name, args);
  return tether::v1::Agent::NewStub(
      grpc::CreateCustomChannel(address, agent_credentials_, args));
}

void DirectCaller::DecorateForTetherd(grpc::ClientContext& context) const {
  if (!options_.api_token.empty()) {
    context.AddMetadata("authorization",
                        absl::StrCat("Bearer ", options_.api_token));
  }
}

void DirectCaller::WatchLoop() {
  Backoff backoff(options_.rewatch_backoff);
  tether::v1::WatchEndpointsRequest request;
  request.set_service(options_.service);
  while (true) {
    const grpc::Status status = FollowEndpoints(request);
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    const bool got_endpoints = snapshot_ != nullptr;
    first_watch_failed_ = true;
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      // Deleted (or never deployed): tetherd answers calls with NOT_FOUND.
      snapshot_ = std::make_shared<const Snapshot>();
    }
    if (got_endpoints) backoff.Reset();
    // The last endpoints stay in use while tetherd is away.
    const absl::Time retry = options_.clock->Now() + backoff.NextDelay();
    options_.clock->AwaitWithDeadline(&mu_, absl::Condition(&stopping_), retry);
    if (stopping_) return;
  }
}

grpc::Status DirectCaller::FollowEndpoints(
    const tether::v1::WatchEndpointsRequest& request) {
  enum Tag { kStarted, kRead, kFinished };
  // gRPC hands each completion's tag back: these, so the tag says which.
  Tag tags[] = {kStarted, kRead, kFinished};
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return grpc::Status::CANCELLED;
    watch_context_ = &context;
  }
  DecorateForTetherd(context);
  auto reader = tetherd_->PrepareAsyncWatchEndpoints(&context, request, &queue);
  reader->StartCall(&tags[kStarted]);
  tether::v1::Endpoints endpoints;
  grpc::Status status;
  // Until the first endpoints come (nothing to call directly yet), and
  // once stopping, this thread waits in gRPC's poller. After that it only
  // looks every kWatchPoll: a thread waiting in the poller shares it with
  // every call and costs each a wake-up, while calls in flight read the
  // watch's bytes as they poll for their own.
  bool waiting = true;
  bool finished = false;
  while (!finished) {
    void* tag = nullptr;
    bool ok = false;
    const grpc::CompletionQueue::NextStatus next =
        queue.AsyncNext(&tag, &ok,
                        waiting ? gpr_inf_future(GPR_CLOCK_REALTIME)
                                : gpr_time_0(GPR_CLOCK_REALTIME));
    if (next == grpc::CompletionQueue::TIMEOUT) {
      absl::MutexLock lock(&mu_);
      // Stopping: the destructor cancelled the stream; wait for its end.
      waiting = mu_.AwaitWithTimeout(absl::Condition(&stopping_), kWatchPoll);
      continue;
    }
    switch (*static_cast<Tag*>(tag)) {
      case kRead:
        if (ok) {
          Publish(std::move(endpoints));
          endpoints.Clear();
          waiting = false;
        }
        [[fallthrough]];
      case kStarted:
        if (ok) {
          reader->Read(&endpoints, &tags[kRead]);
        } else {
          reader->Finish(&status, &tags[kFinished]);
          waiting = true;
        }
        break;
      case kFinished:
        finished = true;
        break;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    watch_context_ = nullptr;
  }
  queue.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {
  }
  return status;
}

void DirectCaller::Publish(tether::v1::Endpoints endpoints) {
  std::shared_ptr<const Snapshot> previous;
  {
    absl::MutexLock lock(&mu_);
    previous = snapshot_;
  }
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->authorization = absl::StrCat("Bearer ", endpoints.token());
  for (const tether::v1::Endpoint& endpoint : endpoints.endpoints()) {
    std::shared_ptr<Replica> replica;
    if (previous != nullptr) {
      for (const auto& known : previous->replicas) {
        if (known->address == endpoint.address() &&
            known->name == endpoint.replica()) {
          replica = known;
        }
      }
    }
    if (replica == nullptr) {
      // Channels connect lazily: making one here does not block.
      replica = std::make_shared<Replica>();
      replica->name = endpoint.replica();
      replica->address = endpoint.address();
      replica->stub =
          AgentStub(endpoint.address(), endpoints.tls_server_name());
      // TLS agents and no CA to check them with: through tetherd.
      if (replica->stub == nullptr) continue;
    }
    snapshot->replicas.push_back(std::move(replica));
  }
  snapshot->endpoints = std::move(endpoints);
  absl::MutexLock lock(&mu_);
  snapshot_ = std::move(snapshot);
}

std::optional<tether::v1::Endpoints> DirectCaller::endpoints() const {
  absl::MutexLock lock(&mu_);
  if (snapshot_ == nullptr) return std::nullopt;
  return snapshot_->endpoints;
}

std::shared_ptr<DirectCaller::Replica> DirectCaller::Pick(
    const Snapshot& snapshot, const CallRequest& request) {
  const auto& replicas = snapshot.replicas;
  if (replicas.empty()) return nullptr;
  if (request.target() == CallRequest::TARGET_REPLICA) {
    for (const auto& replica : replicas) {
      if (replica->name == request.replica()) return replica;
    }
    return nullptr;
  }
  // Least outstanding. Ties go to the replica used last: a lone caller
  // keeps one agent warm instead of waking a cold one each call, and
  // concurrent calls still spread as soon as one is outstanding.
  const size_t start = last_pick_.load() % replicas.size();
  size_t best = start;
  for (size_t i = 1; i < replicas.size(); ++i) {
    const size_t index = (start + i) % replicas.size();
    if (replicas[index]->outstanding.load() <
        replicas[best]->outstanding.load()) {
      best = index;
    }
  }
  last_pick_.store(best);
  return replicas[best];
}

absl::Status DirectCaller::Route(const CallRequest& request,
                                 std::shared_ptr<const Snapshot>* snapshot,
                                 std::shared_ptr<Replica>* replica) {
  if (request.service() != options_.service) {
    return absl::InvalidArgumentError(
        absl::StrCat("service: this caller calls ", options_.service, ", not ",
                     request.service()));
  }
  {
    absl::MutexLock lock(&mu_);
    *snapshot = snapshot_;
  }
  if (*snapshot != nullptr && request.target() != CallRequest::TARGET_ALL) {
    *replica = Pick(**snapshot, request);
  }
  return absl::OkStatus();
}

absl::Status DirectCaller::Call(const CallRequest& request,
                                CallResponse* response, absl::Time deadline,
                                CallInfo* info) {
  std::shared_ptr<const Snapshot> snapshot;
  std::shared_ptr<Replica> replica;
  RETURN_IF_ERROR(Route(request, &snapshot, &replica));
  if (replica != nullptr) {
    absl::Status status =
        CallAgent(*snapshot, *replica, request, response, deadline);
    // Unreachable (a stale address, a network between): tetherd can
    // route it, or wake the service.
    if (!absl::IsUnavailable(status)) {
      if (info != nullptr) info->direct = true;
      return status;
    }
    response->Clear();
  }
  return CallTetherd(request, response, deadline, info);
}

template <typename Reader>
absl::Status DirectCaller::Drain(Reader& reader, grpc::ClientContext& context,
                                 const OnEvent& on_event, bool* received) {
  tether::v1::InvokeEvent event;
  bool stopped = false;
  while (reader.Read(&event)) {
    *received = true;
    if (!on_event(event)) {
      context.TryCancel();
      stopped = true;
      break;
    }
  }
  const grpc::Status status = reader.Finish();
  return stopped ? absl::CancelledError("the caller stopped reading")
                 : FromGrpcStatus(status);
}

absl::Status DirectCaller::Stream(const CallRequest& request,
                                  absl::Time deadline, const OnEvent& on_event,
                                  CallInfo* info) {
  std::shared_ptr<const Snapshot> snapshot;
  std::shared_ptr<Replica> replica;
  RETURN_IF_ERROR(Route(request, &snapshot, &replica));
  if (replica != nullptr) {
    grpc::ClientContext context;
    SetDeadline(deadline, context);
    context.AddMetadata("authorization", snapshot->authorization);
    const tether::v1::InvokeRequest invoke = InvokeRequestFor(request);
    replica->outstanding.fetch_add(1);
    auto reader = replica->stub->InvokeStream(&context, invoke);
    bool received = false;
    absl::Status status = Drain(*reader, context, on_event, &received);
    replica->outstanding.fetch_sub(1);
    // Unreachable before anything came: tetherd can still run it.
    if (received || !absl::IsUnavailable(status)) {
      if (info != nullptr) info->direct = true;
      return status;
    }
  }
  grpc::ClientContext context;
  SetDeadline(deadline, context);
  DecorateForTetherd(context);
  auto reader = tetherd_->CallStream(&context, request);
  bool received = false;
  absl::Status status = Drain(*reader, context, on_event, &received);
  if (info != nullptr) {
    info->direct = false;
    info->woke_after = WokeAfter(context);
  }
  return status;
}

absl::Status DirectCaller::CallAgent(const Snapshot& snapshot, Replica& replica,
                                     const CallRequest& request,
                                     CallResponse* response,
                                     absl::Time deadline) {
  const tether::v1::InvokeRequest invoke = InvokeRequestFor(request);
  grpc::ClientContext context;
  SetDeadline(deadline, context);
  context.AddMetadata("authorization", snapshot.authorization);
  tether::v1::InvokeResponse invoked;
  replica.outstanding.fetch_add(1);
  const grpc::Status status = replica.stub->Invoke(&context, invoke, &invoked);
  replica.outstanding.fetch_sub(1);
  if (!status.ok()) return FromGrpcStatus(status);
  tether::v1::CallResult* result = response->add_results();
  *result = std::move(*invoked.mutable_result());
  if (result->replica().empty()) result->set_replica(replica.name);
  return absl::OkStatus();
}

absl::Status DirectCaller::CallTetherd(const CallRequest& request,
                                       CallResponse* response,
                                       absl::Time deadline, CallInfo* info) {
  grpc::ClientContext context;
  SetDeadline(deadline, context);
  DecorateForTetherd(context);
  const grpc::Status status = tetherd_->Call(&context, request, response);
  if (info != nullptr) {
    info->direct = false;
    info->woke_after = WokeAfter(context);
  }
  return FromGrpcStatus(status);
}

}  // namespace tether::client
