#include "kube/event_recorder.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "kube/fake_kube_client.h"
#include "kube/resource_type.h"
#include "nlohmann/json.hpp"

namespace tether::kube {
namespace {

using json = nlohmann::json;

// FakeKubeClient whose Apply waits until the test opens the gate, so a
// test can hold the recorder's thread inside a write.
class GatedKubeClient final : public KubeClient {
 public:
  absl::StatusOr<json> Apply(const json& object) override {
    {
      absl::MutexLock lock(&mu_);
      ++waiting_;
      mu_.Await(absl::Condition(&open_));
      --waiting_;
    }
    return fake.Apply(object);
  }
  absl::StatusOr<json> Get(const ResourceType& type, absl::string_view ns,
                           absl::string_view name) override {
    return fake.Get(type, ns, name);
  }
  absl::StatusOr<ObjectList> List(const ResourceType& type,
                                  absl::string_view ns,
                                  absl::string_view selector) override {
    return fake.List(type, ns, selector);
  }
  absl::Status Watch(
      const ResourceType& type, absl::string_view ns,
      const WatchOptions& options,
      const std::function<bool(const WatchEvent&)>& on_event) override {
    return fake.Watch(type, ns, options, on_event);
  }
  absl::Status Delete(const ResourceType& type, absl::string_view ns,
                      absl::string_view name,
                      Propagation propagation) override {
    return fake.Delete(type, ns, name, propagation);
  }
  absl::StatusOr<int32_t> GetScale(const ResourceType& type,
                                   absl::string_view ns,
                                   absl::string_view name) override {
    return fake.GetScale(type, ns, name);
  }
  absl::Status SetScale(const ResourceType& type, absl::string_view ns,
                        absl::string_view name, int32_t replicas) override {
    return fake.SetScale(type, ns, name, replicas);
  }
  absl::StatusOr<std::string> PodLogs(absl::string_view ns,
                                      absl::string_view name,
                                      const PodLogOptions& options) override {
    return fake.PodLogs(ns, name, options);
  }
  absl::StatusOr<ResourceType> Discover(absl::string_view api_version,
                                        absl::string_view kind) override {
    return fake.Discover(api_version, kind);
  }
  void Shutdown() override { fake.Shutdown(); }

  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  // Waits until a write is held at the gate.
  void AwaitHeldWrite() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* waiting) { return *waiting > 0; }, &waiting_));
  }

  FakeKubeClient fake;

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

const ObjectReference kReplicaSet{"apps/v1", "ReplicaSet", "web-6c9f7d", "ns",
                                  "uid-1"};

class EventRecorderTest : public ::testing::Test {
 protected:
  std::unique_ptr<EventRecorder> MakeRecorder(KubeClient* client,
                                              size_t max_pending = 256) {
    EventRecorder::Options options;
    options.client = client;
    options.component = "tether-injector";
    options.instance = "tether-injector-abc";
    options.max_pending = max_pending;
    options.clock = &clock_;
    options.on_outcome = [this](EventOutcome outcome) {
      absl::MutexLock lock(&mu_);
      outcomes_.push_back(outcome);
    };
    absl::StatusOr<std::unique_ptr<EventRecorder>> recorder =
        EventRecorder::Create(std::move(options));
    EXPECT_TRUE(recorder.ok()) << recorder.status();
    return *std::move(recorder);
  }
  int Count(EventOutcome outcome) {
    absl::MutexLock lock(&mu_);
    return std::count(outcomes_.begin(), outcomes_.end(), outcome);
  }

  SimulatedClock clock_{absl::FromUnixSeconds(1700000000)};
  absl::Mutex mu_;
  std::vector<EventOutcome> outcomes_ ABSL_GUARDED_BY(mu_);
};

TEST_F(EventRecorderTest, WritesAnEventAboutTheObject) {
  FakeKubeClient client;
  std::unique_ptr<EventRecorder> recorder = MakeRecorder(&client);
  recorder->Record(kReplicaSet, EventRecorder::Type::kWarning,
                   "TetherNotInjected", "admitted without the agent");
  recorder->Flush();

  const std::vector<json> events = client.Objects(kEvents, "ns");
  ASSERT_EQ(events.size(), 1u);
  const json& event = events[0];
  EXPECT_EQ(event["metadata"]["name"], "web-6c9f7d.17979cfe362a0000");
  EXPECT_EQ(event["involvedObject"], json({{"apiVersion", "apps/v1"},
                                           {"kind", "ReplicaSet"},
                                           {"name", "web-6c9f7d"},
                                           {"namespace", "ns"},
                                           {"uid", "uid-1"}}));
  EXPECT_EQ(event["type"], "Warning");
  EXPECT_EQ(event["reason"], "TetherNotInjected");
  EXPECT_EQ(event["message"], "admitted without the agent");
  EXPECT_EQ(event["source"], json({{"component", "tether-injector"}}));
  EXPECT_EQ(event["reportingComponent"], "tether-injector");
  EXPECT_EQ(event["reportingInstance"], "tether-injector-abc");
  EXPECT_EQ(event["firstTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(event["lastTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(event["count"], 1);
  EXPECT_EQ(Count(EventOutcome::kRecorded), 1);
}

TEST_F(EventRecorderTest, RepeatsWithinTheWindowBumpTheSameEvent) {
  FakeKubeClient client;
  std::unique_ptr<EventRecorder> recorder = MakeRecorder(&client);
  const auto record = [&](absl::string_view message) {
    recorder->Record(kReplicaSet, EventRecorder::Type::kNormal, "TetherSkipped",
                     message);
    recorder->Flush();
  };
  record("hostNetwork pod");
  clock_.Advance(absl::Minutes(9));
  record("hostNetwork pod");
  clock_.Advance(absl::Minutes(9));
  record("hostNetwork pod");

  std::vector<json> events = client.Objects(kEvents, "ns");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["count"], 3);
  EXPECT_EQ(events[0]["firstTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(events[0]["lastTimestamp"], "2023-11-14T22:31:20Z");

  record("already injected");  // Another message: another Event.
  clock_.Advance(absl::Minutes(11));
  record("hostNetwork pod");  // Past the window: a new Event.
  events = client.Objects(kEvents, "ns");
  ASSERT_EQ(events.size(), 3u);
  for (const json& event : events) {
    if (event["message"] == "hostNetwork pod" && event["count"] == 1) {
      EXPECT_EQ(event["firstTimestamp"], "2023-11-14T22:42:20Z");
    }
  }
}

TEST_F(EventRecorderTest, RepeatsWhileQueuedAreWrittenOnce) {
  GatedKubeClient client;
  std::unique_ptr<EventRecorder> recorder = MakeRecorder(&client);
  recorder->Record(kReplicaSet, EventRecorder::Type::kNormal, "TetherInjected",
                   "first");
  client.AwaitHeldWrite();
  for (int i = 0; i < 3; ++i) {
    recorder->Record(kReplicaSet, EventRecorder::Type::kNormal,
                     "TetherInjected", "second");
  }
  client.Open();
  recorder->Flush();

  EXPECT_EQ(client.fake.ApplyCount(), 2);
  const std::vector<json> events = client.fake.Objects(kEvents, "ns");
  ASSERT_EQ(events.size(), 2u);
  for (const json& event : events) {
    EXPECT_EQ(event["count"], event["message"] == "second" ? 3 : 1);
  }
}

TEST_F(EventRecorderTest, DropsWhenTheQueueIsFull) {
  GatedKubeClient client;
  std::unique_ptr<EventRecorder> recorder =
      MakeRecorder(&client, /*max_pending=*/1);
  const auto record = [&](absl::string_view message) {
    recorder->Record(kReplicaSet, EventRecorder::Type::kNormal,
                     "TetherInjected", message);
  };
  record("a");
  client.AwaitHeldWrite();  // "a" is being written.
  record("b");              // Queued: the one free place.
  record("c");              // Dropped at once, without waiting.
  record("b");              // A repeat of a queued Event needs no place.
  EXPECT_EQ(Count(EventOutcome::kDropped), 1);
  client.Open();
  recorder->Flush();

  EXPECT_EQ(Count(EventOutcome::kRecorded), 2);
  const std::vector<json> events = client.fake.Objects(kEvents, "ns");
  ASSERT_EQ(events.size(), 2u);
  for (const json& event : events) EXPECT_NE(event["message"], "c");
}

TEST_F(EventRecorderTest, CountsFailedWrites) {
  FakeKubeClient client;
  client.FailNext(FakeKubeClient::Verb::kApply,
                  absl::PermissionDeniedError("events is forbidden"));
  std::unique_ptr<EventRecorder> recorder = MakeRecorder(&client);
  recorder->Record(kReplicaSet, EventRecorder::Type::kNormal, "TetherInjected",
                   "m");
  recorder->Flush();
  EXPECT_EQ(Count(EventOutcome::kFailed), 1);
  EXPECT_TRUE(client.Objects(kEvents, "ns").empty());
}

TEST_F(EventRecorderTest, CutsLongMessagesAtTheApiLimit) {
  FakeKubeClient client;
  std::unique_ptr<EventRecorder> recorder = MakeRecorder(&client);
  // 1023 ASCII bytes, then a two-byte character across the limit.
  recorder->Record(kReplicaSet, EventRecorder::Type::kNormal, "R",
                   std::string(1023, 'x') + "\xc3\xa9" + "tail");
  recorder->Flush();
  const std::vector<json> events = client.Objects(kEvents, "ns");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["message"], std::string(1023, 'x'));
}

TEST(EventRecorderCreateTest, NeedsClientAndComponent) {
  FakeKubeClient client;
  EventRecorder::Options options;
  options.component = "tetherd";
  EXPECT_TRUE(absl::IsInvalidArgument(EventRecorder::Create(options).status()));
  options.client = &client;
  options.component = "";
  EXPECT_TRUE(absl::IsInvalidArgument(EventRecorder::Create(options).status()));
}

TEST(EventSubjectTest, IsThePodsController) {
  const json pod = json::parse(R"({"metadata": {
      "generateName": "web-6c9f7d-",
      "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u0"},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6c9f7d",
         "uid": "u1", "controller": true}]}})");
  const std::optional<ObjectReference> subject = EventSubject(pod, "ns");
  ASSERT_TRUE(subject.has_value());
  EXPECT_EQ(subject->api_version, "apps/v1");
  EXPECT_EQ(subject->kind, "ReplicaSet");
  EXPECT_EQ(subject->name, "web-6c9f7d");
  EXPECT_EQ(subject->ns, "ns");
  EXPECT_EQ(subject->uid, "u1");
}

TEST(EventSubjectTest, IsThePodWithoutAController) {
  const json named = json::parse(
      R"({"metadata": {"name": "solo", "uid": "u2", "ownerReferences": [
          {"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}]}})");
  const std::optional<ObjectReference> subject = EventSubject(named, "ns");
  ASSERT_TRUE(subject.has_value());
  EXPECT_EQ(subject->kind, "Pod");
  EXPECT_EQ(subject->name, "solo");
  EXPECT_EQ(subject->uid, "u2");

  const json unnamed = json::parse(R"({"metadata": {"generateName": "x-"}})");
  EXPECT_FALSE(EventSubject(unnamed, "ns").has_value());
}
}  // namespace
}  // namespace tether::kube
