// Direct calls: a client follows a service's endpoints on tetherd and calls
// the agents itself, balancing over the replicas; tetherd answers only what
// the agents cannot (a service at zero, which it wakes). tetherd runs
// in-process on the local backend with real agents.

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/cpp/direct_caller.h"
#include "common/test_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/in_process_tetherd.h"
#include "tests/service_test_util.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {
namespace {

using client::CallInfo;
using client::DirectCaller;

class DirectCallIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tetherd = InProcessTetherd::Start(NewTempDir("state"));
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = *std::move(tetherd);
    const std::string code = NewTempDir("code");
    WriteTree(code, {{"app.py",
                      "def greet(name):\n"
                      "    return 'hi ' + name\n"}});
    const grpc::Status deployed =
        tetherd_->Deploy(PythonSpec("greet", "greet", /*replicas=*/2),
                         UploadDir(*tetherd_, code));
    ASSERT_TRUE(deployed.ok()) << deployed.error_message();
  }

  std::unique_ptr<DirectCaller> NewCaller(const std::string& service) {
    DirectCaller::Options options;
    options.tetherd = grpc::CreateChannel(tetherd_->address(),
                                          grpc::InsecureChannelCredentials());
    options.service = service;
    auto caller = DirectCaller::Create(options);
    EXPECT_TRUE(caller.ok()) << caller.status();
    return caller.ok() ? *std::move(caller) : nullptr;
  }

  // One call; returns the replica that answered ("" on error) and fills
  // `info`, `status`.
  std::string Call(DirectCaller& caller, CallInfo* info,
                   absl::Status* status = nullptr,
                   const std::string& service = "greet",
                   const std::string& name = "Ada") {
    tether::v1::CallRequest request;
    request.set_service(service);
    request.set_payload(absl::StrCat(R"({"args": [")", name, R"("]})"));
    tether::v1::CallResponse response;
    const absl::Status called =
        caller.Call(request, &response, absl::Now() + absl::Seconds(60), info);
    if (status != nullptr) *status = called;
    if (!called.ok()) return "";
    EXPECT_EQ(response.results(0).payload(), absl::StrCat("\"hi ", name, "\""));
    return response.results(0).replica();
  }

  void Scale(int replicas) {
    grpc::ClientContext context;
    tether::v1::ScaleServiceRequest request;
    request.set_name("greet");
    request.set_replicas(replicas);
    tether::v1::ServiceStatus status;
    ASSERT_TRUE(tetherd_->stub().ScaleService(&context, request, &status).ok());
  }

  std::unique_ptr<InProcessTetherd> tetherd_;
};

TEST_F(DirectCallIntegrationTest, CallsGoToTheAgentsBalancedOverReplicas) {
  std::unique_ptr<DirectCaller> caller = NewCaller("greet");
  ASSERT_NE(caller, nullptr);
  auto endpoints = caller->endpoints();
  ASSERT_TRUE(endpoints.has_value());
  ASSERT_EQ(endpoints->endpoints_size(), 2);
  EXPECT_FALSE(endpoints->token().empty());

  // One caller at a time: the same warm replica answers.
  std::map<std::string, int> answered_by;
  for (int i = 0; i < 10; ++i) {
    CallInfo info;
    ++answered_by[Call(*caller, &info)];
    EXPECT_TRUE(info.direct);
  }
  EXPECT_EQ(answered_by.size(), 1u);
  // Calls at once spread over both replicas (least outstanding).
  std::vector<std::string> replicas(8);
  std::vector<std::thread> callers;
  for (std::string& replica : replicas) {
    callers.emplace_back([&] {
      CallInfo info;
      replica = Call(*caller, &info, nullptr, "greet", "slow");
    });
  }
  for (std::thread& thread : callers) thread.join();
  answered_by.clear();
  for (const std::string& replica : replicas) ++answered_by[replica];
  EXPECT_EQ(answered_by.count(""), 0u);
  EXPECT_EQ(answered_by.size(), 2u);
}

TEST_F(DirectCallIntegrationTest, AServiceAtZeroIsWokenThroughTetherd) {
  std::unique_ptr<DirectCaller> caller = NewCaller("greet");
  ASSERT_NE(caller, nullptr);
  Scale(0);
  // Pushed, not polled by the client: the watch delivers the change.
  ASSERT_TRUE(WaitFor([&] {
    auto endpoints = caller->endpoints();
    return endpoints.has_value() && endpoints->idle() &&
           endpoints->endpoints().empty();
  }));
  EXPECT_EQ(caller->endpoints()->not_ready_reason(),
            "scaled to zero; a call through tetherd wakes it");
  ASSERT_TRUE(WaitFor([&] { return AgentPid(*tetherd_, "greet-0") < 0; }));

  CallInfo woken;
  EXPECT_FALSE(Call(*caller, &woken).empty());
  EXPECT_FALSE(woken.direct);
  EXPECT_TRUE(woken.woke_after.has_value());
  // Once the replicas are back, calls go direct again.
  ASSERT_TRUE(WaitFor([&] {
    auto endpoints = caller->endpoints();
    return endpoints.has_value() && endpoints->endpoints_size() == 2;
  }));
  CallInfo warm;
  EXPECT_FALSE(Call(*caller, &warm).empty());
  EXPECT_TRUE(warm.direct);
}

TEST_F(DirectCallIntegrationTest, UnknownServicesAreNotFound) {
  std::unique_ptr<DirectCaller> caller = NewCaller("nope");
  ASSERT_NE(caller, nullptr);
  CallInfo info;
  absl::Status status;
  Call(*caller, &info, &status, "nope");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  Call(*caller, &info, &status, "greet");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
}

}  // namespace
}  // namespace tether::testing
