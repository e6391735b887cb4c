// Streamed calls end to end: a Python generator's items reach the caller as
// they are yielded, straight from the agent and through tetherd
// (ControlPlane.CallStream), with live logs; stopping early cancels the
// generator; a stream to a service at zero wakes it. tetherd runs
// in-process on the local backend with real agents.

#include <unistd.h>

#include <memory>
#include <string>
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
using tether::v1::InvokeEvent;

constexpr char kApp[] = R"py(
import time

def tokens(text, delay=0.0):
    for word in text.split():
        time.sleep(delay)
        print("yielding " + word)
        yield word

def forever(path):
    n = 0
    try:
        while True:
            n += 1
            yield n
    finally:
        with open(path, "w") as f:
            f.write("closed")
)py";

class StreamCallIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tetherd = InProcessTetherd::Start(NewTempDir("state"));
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = *std::move(tetherd);
    const std::string code = NewTempDir("code");
    WriteTree(code, {{"app.py", kApp}});
    const std::string revision = UploadDir(*tetherd_, code);
    for (const char* name : {"tokens", "forever"}) {
      tether::v1::ServiceSpec spec = PythonSpec(name, name);
      const grpc::Status deployed = tetherd_->Deploy(spec, revision);
      ASSERT_TRUE(deployed.ok()) << deployed.error_message();
    }
  }

  std::unique_ptr<DirectCaller> NewCaller(const std::string& service) {
    DirectCaller::Options options;
    options.tetherd = grpc::CreateChannel(tetherd_->address(),
                                          grpc::InsecureChannelCredentials());
    options.service = service;
    return *DirectCaller::Create(options);
  }

  static tether::v1::CallRequest Request(const std::string& service,
                                         const std::string& payload) {
    tether::v1::CallRequest request;
    request.set_service(service);
    request.set_payload(payload);
    return request;
  }

  // Streams `request` through tetherd and returns its events.
  grpc::Status ThroughTetherd(const tether::v1::CallRequest& request,
                              std::vector<InvokeEvent>* events) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    auto reader = tetherd_->stub().CallStream(&context, request);
    InvokeEvent event;
    while (reader->Read(&event)) events->push_back(event);
    return reader->Finish();
  }

  std::unique_ptr<InProcessTetherd> tetherd_;
};

std::vector<std::string> Items(const std::vector<InvokeEvent>& events) {
  std::vector<std::string> items;
  for (const InvokeEvent& event : events) {
    items.insert(items.end(), event.items().item().begin(),
                 event.items().item().end());
  }
  return items;
}

TEST_F(StreamCallIntegrationTest, ItemsStreamStraightFromTheAgentWithLogs) {
  std::unique_ptr<DirectCaller> caller = NewCaller("tokens");
  tether::v1::CallRequest request =
      Request("tokens", R"({"args": ["the quick brown fox"]})");
  request.set_logs(true);
  std::vector<InvokeEvent> events;
  CallInfo info;
  const absl::Status status = caller->Stream(
      request, absl::Now() + absl::Seconds(60),
      [&](const InvokeEvent& event) {
        events.push_back(event);
        return true;
      },
      &info);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(info.direct);
  EXPECT_EQ(Items(events), (std::vector<std::string>{"\"the\"", "\"quick\"",
                                                     "\"brown\"", "\"fox\""}));
  // Each line arrives before the item it precedes, tagged.
  ASSERT_TRUE(events[0].has_log());
  EXPECT_EQ(events[0].log().text(), "yielding the");
  EXPECT_EQ(events[0].log().replica(), "tokens-0");
  EXPECT_FALSE(events[0].log().request_id().empty());
  ASSERT_TRUE(events.back().has_result());
  EXPECT_FALSE(events.back().result().has_error());
}

TEST_F(StreamCallIntegrationTest, ItemsStreamThroughTetherdToo) {
  std::vector<InvokeEvent> events;
  const grpc::Status status =
      ThroughTetherd(Request("tokens", R"({"args": ["a b c"]})"), &events);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Items(events),
            (std::vector<std::string>{"\"a\"", "\"b\"", "\"c\""}));
  EXPECT_TRUE(events.back().has_result());

  tether::v1::CallRequest all = Request("tokens", R"({"args": ["a"]})");
  all.set_target(tether::v1::CallRequest::TARGET_ALL);
  events.clear();
  EXPECT_EQ(ThroughTetherd(all, &events).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(StreamCallIntegrationTest, StoppingEarlyClosesTheGenerator) {
  const std::string marker = NewTempDir("marker") + "/closed";
  std::unique_ptr<DirectCaller> caller = NewCaller("forever");
  int items = 0;
  const absl::Status status = caller->Stream(
      Request("forever", absl::StrCat(R"({"args": [")", marker, R"("]})")),
      absl::Now() + absl::Seconds(60), [&](const InvokeEvent& event) {
        items += event.items().item_size();
        return items < 5;
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_GE(items, 5);
  // The generator saw GeneratorExit and ran its finally block.
  EXPECT_TRUE(WaitFor([&] { return access(marker.c_str(), F_OK) == 0; }));
}

TEST_F(StreamCallIntegrationTest, AStreamToAServiceAtZeroWakesIt) {
  grpc::ClientContext context;
  tether::v1::ScaleServiceRequest scale;
  scale.set_name("tokens");
  scale.set_replicas(0);
  tether::v1::ServiceStatus status;
  ASSERT_TRUE(tetherd_->stub().ScaleService(&context, scale, &status).ok());
  ASSERT_TRUE(WaitFor([&] { return AgentPid(*tetherd_, "tokens-0") < 0; }));

  std::unique_ptr<DirectCaller> caller = NewCaller("tokens");
  std::vector<InvokeEvent> events;
  CallInfo info;
  const absl::Status streamed = caller->Stream(
      Request("tokens", R"({"args": ["up again"]})"),
      absl::Now() + absl::Seconds(60),
      [&](const InvokeEvent& event) {
        events.push_back(event);
        return true;
      },
      &info);
  ASSERT_TRUE(streamed.ok()) << streamed;
  EXPECT_FALSE(info.direct);
  EXPECT_TRUE(info.woke_after.has_value());
  EXPECT_EQ(Items(events), (std::vector<std::string>{"\"up\"", "\"again\""}));
}

}  // namespace
}  // namespace tether::testing
