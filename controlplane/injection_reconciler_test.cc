#include "controlplane/injection_reconciler.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/test_util.h"
#include "gtest/gtest.h"
#include "kube/event_recorder.h"
#include "kube/fake_kube_client.h"
#include "kube/resource_type.h"
#include "nlohmann/json.hpp"

namespace tether::controlplane {
namespace {

using json = nlohmann::json;
using ::tether::testing::WaitFor;

// A pod a ReplicaSet made from a template labelled for injection.
json OptedInPod(const std::string& name) {
  json pod = json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
      "namespace": "ml",
      "labels": {"tether.dev/inject": "true",
                 "app.kubernetes.io/name": "hello"},
      "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                           "name": "hello-6c9f7d", "uid": "rs-uid",
                           "controller": true}]},
    "spec": {"containers": [{"name": "app", "image": "python:3.11"}]}})");
  pod["metadata"]["name"] = name;
  return pod;
}

class InjectionReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kube::EventRecorder::Options events;
    events.client = &client_;
    events.component = "tetherd";
    absl::StatusOr<std::unique_ptr<kube::EventRecorder>> recorder =
        kube::EventRecorder::Create(std::move(events));
    ASSERT_TRUE(recorder.ok()) << recorder.status();
    events_ = *std::move(recorder);
    InjectionReconciler::Options options;
    options.client = &client_;
    options.events = events_.get();
    options.ns = "ml";
    absl::StatusOr<std::unique_ptr<InjectionReconciler>> reconciler =
        InjectionReconciler::Create(std::move(options));
    ASSERT_TRUE(reconciler.ok()) << reconciler.status();
    reconciler_ = *std::move(reconciler);
  }

  std::vector<std::string> Listed() const {
    std::vector<std::string> names;
    for (const auto& pod : reconciler_->List()) names.push_back(pod.pod());
    return names;
  }

  kube::FakeKubeClient client_;
  std::unique_ptr<kube::EventRecorder> events_;
  std::unique_ptr<InjectionReconciler> reconciler_;
};

TEST_F(InjectionReconcilerTest, ListsAPodWithoutTheAgentAndWarnsOnItsOwner) {
  ASSERT_TRUE(client_.Apply(OptedInPod("hello-6c9f7d-abcde")).ok());
  ASSERT_TRUE(WaitFor([&] { return Listed().size() == 1; }));
  const tether::v1::UninjectedPod pod = reconciler_->List()[0];
  EXPECT_EQ(pod.pod(), "hello-6c9f7d-abcde");
  EXPECT_EQ(pod.owner_kind(), "ReplicaSet");
  EXPECT_EQ(pod.owner_name(), "hello-6c9f7d");
  EXPECT_EQ(pod.service(), "hello");
  EXPECT_GT(pod.since().seconds(), 0);

  // A change to the pod (its status) warns no more.
  ASSERT_TRUE(client_
                  .SetStatus(kube::kPods, "ml", "hello-6c9f7d-abcde",
                             {{"phase", "Running"}})
                  .ok());
  ASSERT_TRUE(client_.Apply(OptedInPod("hello-6c9f7d-fghij")).ok());
  ASSERT_TRUE(WaitFor([&] { return Listed().size() == 2; }));
  events_->Flush();
  const std::vector<json> events = client_.Objects(kube::kEvents, "ml");
  ASSERT_EQ(events.size(), 2u);  // One per pod: the messages name them.
  for (const json& event : events) {
    EXPECT_EQ(event["type"], "Warning");
    EXPECT_EQ(event["reason"], "TetherNotInjected");
    EXPECT_EQ(event["involvedObject"]["kind"], "ReplicaSet");
    EXPECT_EQ(event["involvedObject"]["name"], "hello-6c9f7d");
    EXPECT_EQ(event["source"]["component"], "tetherd");
    EXPECT_EQ(event["count"], 1);
  }
}

TEST_F(InjectionReconcilerTest, AFixedPodDisappears) {
  ASSERT_TRUE(client_.Apply(OptedInPod("bad")).ok());
  json injected = OptedInPod("good");
  injected["metadata"]["annotations"] = {{"tether.dev/status", "{}"}};
  ASSERT_TRUE(client_.Apply(injected).ok());
  json sidecar = OptedInPod("sidecar");
  sidecar["spec"]["initContainers"] = {{{"name", "tether"}}};
  ASSERT_TRUE(client_.Apply(sidecar).ok());
  ASSERT_TRUE(WaitFor([&] { return Listed().size() == 1; }));
  EXPECT_EQ(Listed(), std::vector<std::string>{"bad"});

  ASSERT_TRUE(client_.Delete(kube::kPods, "ml", "bad").ok());
  EXPECT_TRUE(WaitFor([&] { return Listed().empty(); }));
}

TEST_F(InjectionReconcilerTest, IgnoresPodsThatDidNotOptInOrAreGoing) {
  json other = OptedInPod("other");
  other["metadata"]["labels"].erase("tether.dev/inject");
  ASSERT_TRUE(client_.Apply(other).ok());
  json going = OptedInPod("going");
  going["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z";
  ASSERT_TRUE(client_.Apply(going).ok());
  json unnamed_service = OptedInPod("no-service");
  unnamed_service["metadata"]["labels"].erase("app.kubernetes.io/name");
  ASSERT_TRUE(client_.Apply(unnamed_service).ok());
  // The last one is listed (without a service): it proves the others were
  // seen and left out.
  ASSERT_TRUE(WaitFor([&] { return Listed().size() == 1; }));
  EXPECT_EQ(Listed(), std::vector<std::string>{"no-service"});
  EXPECT_EQ(reconciler_->List()[0].service(), "");
}

TEST(InjectionReconcilerCreateTest, NeedsClientEventsAndNamespace) {
  EXPECT_TRUE(absl::IsInvalidArgument(
      InjectionReconciler::Create(InjectionReconciler::Options()).status()));
}

}  // namespace
}  // namespace tether::controlplane
