#ifndef TETHER_CONTROLPLANE_FAKE_AGENT_STUB_H_
#define TETHER_CONTROLPLANE_FAKE_AGENT_STUB_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "grpcpp/test/client_context_test_peer.h"
#include "tether/v1/agent.grpc.pb.h"

namespace tether::controlplane {

/// An agent stub for router tests: records each async Invoke and lets the
/// test decide when and how it completes. Only the callback API is implemented
/// (the router uses nothing else). Thread-safe.
class FakeAgentStub final : public tether::v1::Agent::StubInterface {
 public:
  struct PendingCall {
    tether::v1::InvokeRequest request;
    std::string authorization;
    tether::v1::InvokeResponse* response;
    std::function<void(grpc::Status)> done;
  };

  /// Completes the oldest pending call with `payload` (or `status`).
  void Reply(const std::string& payload,
             const grpc::Status& status = grpc::Status::OK) {
    PendingCall call;
    {
      absl::MutexLock lock(&mu_);
      call = std::move(pending_.front());
      pending_.erase(pending_.begin());
    }
    call.response->mutable_result()->set_payload(payload);
    call.done(status);
  }

  std::vector<tether::v1::InvokeRequest> requests() const {
    absl::MutexLock lock(&mu_);
    return seen_;
  }
  std::string last_authorization() const {
    absl::MutexLock lock(&mu_);
    return last_authorization_;
  }
  size_t pending() const {
    absl::MutexLock lock(&mu_);
    return pending_.size();
  }
  /// Blocks until at least `n` calls are pending.
  void AwaitPending(size_t n) const {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return pending_.size() >= n;
    };
    mu_.Await(absl::Condition(&reached));
  }

  async_interface* async() override { return &async_; }

  grpc::Status Invoke(grpc::ClientContext*, const tether::v1::InvokeRequest&,
                      tether::v1::InvokeResponse*) override {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "fake: async only");
  }

 private:
  class Async final : public async_interface {
   public:
    explicit Async(FakeAgentStub* stub) : stub_(stub) {}
    void Invoke(grpc::ClientContext* context,
                const tether::v1::InvokeRequest* request,
                tether::v1::InvokeResponse* response,
                std::function<void(grpc::Status)> done) override {
      std::string authorization;
      const auto metadata = grpc::testing::ClientContextTestPeer(context)
                                .GetSendInitialMetadata();
      if (auto it = metadata.find("authorization"); it != metadata.end()) {
        authorization = it->second;
      }
      absl::MutexLock lock(&stub_->mu_);
      stub_->seen_.push_back(*request);
      stub_->last_authorization_ = authorization;
      stub_->pending_.push_back(
          {*request, authorization, response, std::move(done)});
    }
    void Invoke(grpc::ClientContext*, const tether::v1::InvokeRequest*,
                tether::v1::InvokeResponse*,
                grpc::ClientUnaryReactor*) override {}
    void InvokeStream(
        grpc::ClientContext*, const tether::v1::InvokeRequest* request,
        grpc::ClientReadReactor<tether::v1::InvokeEvent>* reactor) override {
      {
        absl::MutexLock lock(&stub_->mu_);
        stub_->seen_.push_back(*request);
      }
      // Streams are not faked yet: they end at once.
      reactor->OnDone(
          grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "fake: InvokeStream"));
    }
    void Logs(
        grpc::ClientContext*, const tether::v1::LogsRequest*,
        grpc::ClientReadReactor<tether::v1::LogsResponse>* reactor) override {
      reactor->OnDone(
          grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "fake: Logs"));
    }

   private:
    FakeAgentStub* stub_;
  };

  grpc::ClientReaderInterface<tether::v1::InvokeEvent>* InvokeStreamRaw(
      grpc::ClientContext*, const tether::v1::InvokeRequest&) override {
    return nullptr;
  }
  grpc::ClientAsyncReaderInterface<tether::v1::InvokeEvent>*
  AsyncInvokeStreamRaw(grpc::ClientContext*, const tether::v1::InvokeRequest&,
                       grpc::CompletionQueue*, void*) override {
    return nullptr;
  }
  grpc::ClientAsyncReaderInterface<tether::v1::InvokeEvent>*
  PrepareAsyncInvokeStreamRaw(grpc::ClientContext*,
                              const tether::v1::InvokeRequest&,
                              grpc::CompletionQueue*) override {
    return nullptr;
  }
  grpc::ClientReaderInterface<tether::v1::LogsResponse>* LogsRaw(
      grpc::ClientContext*, const tether::v1::LogsRequest&) override {
    return nullptr;
  }
  grpc::ClientAsyncReaderInterface<tether::v1::LogsResponse>* AsyncLogsRaw(
      grpc::ClientContext*, const tether::v1::LogsRequest&,
      grpc::CompletionQueue*, void*) override {
    return nullptr;
  }
  grpc::ClientAsyncReaderInterface<tether::v1::LogsResponse>*
  PrepareAsyncLogsRaw(grpc::ClientContext*, const tether::v1::LogsRequest&,
                      grpc::CompletionQueue*) override {
    return nullptr;
  }
  grpc::ClientAsyncResponseReaderInterface<tether::v1::InvokeResponse>*
  AsyncInvokeRaw(grpc::ClientContext*, const tether::v1::InvokeRequest&,
                 grpc::CompletionQueue*) override {
    return nullptr;
  }
  grpc::ClientAsyncResponseReaderInterface<tether::v1::InvokeResponse>*
  PrepareAsyncInvokeRaw(grpc::ClientContext*, const tether::v1::InvokeRequest&,
                        grpc::CompletionQueue*) override {
    return nullptr;
  }

  mutable absl::Mutex mu_;
  std::vector<PendingCall> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<tether::v1::InvokeRequest> seen_ ABSL_GUARDED_BY(mu_);
  std::string last_authorization_ ABSL_GUARDED_BY(mu_);
  Async async_{this};
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_FAKE_AGENT_STUB_H_
