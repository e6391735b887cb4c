// The Event each kind of review calls for, on the golden reviews of
// sidecar/testdata/admission, and its way to the API server through the
// recorder.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "gtest/gtest.h"
#include "kube/event_recorder.h"
#include "kube/fake_kube_client.h"
#include "kube/resource_type.h"
#include "nlohmann/json.hpp"
#include "sidecar/admission.h"
#include "sidecar/injector.h"
#include "sidecar/test_config.h"

namespace tether::sidecar {
namespace {

using json = nlohmann::json;

std::string Review(const std::string& name) {
  absl::StatusOr<std::string> path = FindDataFile(
      absl::StrCat("sidecar/testdata/admission/", name, "/review.json"));
  EXPECT_TRUE(path.ok()) << path.status();
  absl::StatusOr<std::string> body = ReadFile(*path);
  EXPECT_TRUE(body.ok()) << body.status();
  return *body;
}

std::optional<AdmissionEvent> EventOf(const std::string& body) {
  absl::StatusOr<Admission> admission = Admit(body, TestInjectorConfig());
  EXPECT_TRUE(admission.ok()) << admission.status();
  EXPECT_EQ(admission->review, *ReviewAdmission(body, TestInjectorConfig()));
  return admission->event;
}

TEST(AdmissionEventTest, InjectedOnTheReplicaSet) {
  const std::optional<AdmissionEvent> event =
      EventOf(Review("deployment-pod-wrap"));
  ASSERT_TRUE(event.has_value());
  EXPECT_FALSE(event->warning);
  EXPECT_EQ(event->reason, "TetherInjected");
  EXPECT_EQ(event->message,
            "injected tether-agent (wrap mode) into container \"app\" for "
            "service \"hello\"");
  EXPECT_EQ(event->subject.kind, "ReplicaSet");
  EXPECT_EQ(event->subject.name, "hello-6c9f7d8b5");
  EXPECT_EQ(event->subject.ns, "ml");
}

TEST(AdmissionEventTest, InjectedOnTheJob) {
  const std::optional<AdmissionEvent> event = EventOf(Review("job-pod-wrap"));
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->subject.kind, "Job");
  EXPECT_EQ(event->subject.name, "train");
}

TEST(AdmissionEventTest, SkippedOnlyWhenOptedIn) {
  for (const char* name : {"host-network-skipped", "already-injected-status",
                           "already-runs-agent"}) {
    const std::optional<AdmissionEvent> event = EventOf(Review(name));
    ASSERT_TRUE(event.has_value()) << name;
    EXPECT_FALSE(event->warning);
    EXPECT_EQ(event->reason, "TetherSkipped");
  }
  EXPECT_EQ(EventOf(Review("host-network-skipped"))->message,
            "not injected: hostNetwork pod");
  EXPECT_FALSE(EventOf(Review("not-labelled")).has_value());
  EXPECT_FALSE(EventOf(Review("update-ignored")).has_value());
}

TEST(AdmissionEventTest, DeniedIsAWarningWithTheReason) {
  const std::optional<AdmissionEvent> event =
      EventOf(Review("invalid-mode-denied"));
  ASSERT_TRUE(event.has_value());
  EXPECT_TRUE(event->warning);
  EXPECT_EQ(event->reason, "TetherInjectionDenied");
  const json review =
      *ReviewAdmission(Review("invalid-mode-denied"), TestInjectorConfig());
  EXPECT_EQ(event->message, review["response"]["status"]["message"]);
}

TEST(AdmissionEventTest, NoneForAnUnownedPodWithoutAName) {
  json review = json::parse(Review("deployment-pod-wrap"));
  review["request"]["object"]["metadata"].erase("ownerReferences");
  EXPECT_FALSE(EventOf(review.dump()).has_value());
  review["request"]["object"]["metadata"]["name"] = "solo";
  const std::optional<AdmissionEvent> event = EventOf(review.dump());
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->subject.kind, "Pod");
  EXPECT_EQ(event->subject.name, "solo");
}

// What the webhook server does with a review's Event.
TEST(AdmissionEventTest, RecordedOnTheOwnerThroughTheClient) {
  kube::FakeKubeClient client;
  kube::EventRecorder::Options options;
  options.client = &client;
  options.component = "tether-injector";
  absl::StatusOr<std::unique_ptr<kube::EventRecorder>> recorder =
      kube::EventRecorder::Create(std::move(options));
  ASSERT_TRUE(recorder.ok()) << recorder.status();
  for (int i = 0; i < 2; ++i) {
    const std::optional<AdmissionEvent> event =
        EventOf(Review("deployment-pod-wrap"));
    ASSERT_TRUE(event.has_value());
    RecordAdmissionEvent(**recorder, *event);
  }
  (*recorder)->Flush();
  const std::vector<json> events = client.Objects(kube::kEvents, "ml");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["involvedObject"]["name"], "hello-6c9f7d8b5");
  EXPECT_EQ(events[0]["reason"], "TetherInjected");
  EXPECT_EQ(events[0]["type"], "Normal");
  EXPECT_EQ(events[0]["count"], 2);
}

}  // namespace
}  // namespace tether::sidecar
