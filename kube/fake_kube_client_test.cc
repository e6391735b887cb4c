#include "kube/fake_kube_client.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/test_util.h"
#include "gtest/gtest.h"
#include "kube/fake_pod_logs.h"
#include "kube/pod_log.h"
#include "kube/resource_type.h"
#include "nlohmann/json.hpp"

namespace tether::kube {
namespace {

using json = nlohmann::json;
using ::tether::testing::WaitFor;

json Deployment(const std::string& name, json labels = json::object()) {
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", name}, {"namespace", "ns"}, {"labels", labels}}},
      {"spec", {{"template", {{"spec", {{"containers", json::array()}}}}}}}};
}

json Secret(const std::string& name, const std::string& ns = "ns") {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"data", {{"k", "dg=="}}}};
}

std::string Rv(const json& object) {
  return object["metadata"]["resourceVersion"].get<std::string>();
}

// Collects watch events from another thread.
class Recorder {
 public:
  bool Add(const WatchEvent& event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
    return true;
  }
  std::vector<WatchEvent> Events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  size_t Size() const { return Events().size(); }

 private:
  mutable absl::Mutex mu_;
  std::vector<WatchEvent> events_ ABSL_GUARDED_BY(mu_);
};

// Runs a Watch on its own thread until it returns.
class BackgroundWatch {
 public:
  BackgroundWatch(FakeKubeClient& client, const WatchOptions& options)
      : thread_([this, &client, options] {
          absl::Status status = client.Watch(
              kSecrets, "ns", options,
              [this](const WatchEvent& e) { return recorder.Add(e); });
          absl::MutexLock lock(&mu_);
          status_ = status;
          done_ = true;
        }) {}
  ~BackgroundWatch() { thread_.join(); }

  bool Done() const {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  absl::Status Status() const {
    absl::MutexLock lock(&mu_);
    return status_;
  }

  Recorder recorder;

 private:
  mutable absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

TEST(FakeKubeClientTest, ApplyCreatesWithServerFields) {
  FakeKubeClient client;
  const std::string before = client.ResourceVersion();
  absl::StatusOr<json> created = client.Apply(Deployment("web"));
  ASSERT_TRUE(created.ok()) << created.status();
  const json& meta = (*created)["metadata"];
  EXPECT_FALSE(meta["uid"].get<std::string>().empty());
  EXPECT_TRUE(meta.contains("creationTimestamp"));
  EXPECT_EQ(meta["generation"], 1);
  EXPECT_EQ(std::stoll(Rv(*created)), std::stoll(before) + 1);
  EXPECT_EQ((*created)["spec"]["replicas"], 1);  // Defaulted.
  EXPECT_EQ((*created)["status"], json::object());
  EXPECT_EQ((*created)["kind"], "Deployment");
  EXPECT_EQ(client.Get(kDeployments, "ns", "web").value(), *created);
}

TEST(FakeKubeClientTest, ApplyMergesMapsReplacesListsAndNullDeletes) {
  FakeKubeClient client;
  json first = Deployment("web", {{"a", "1"}, {"b", "2"}});
  first["spec"]["template"]["spec"]["containers"] = {{{"name", "x"}}};
  ASSERT_TRUE(client.Apply(first).ok());
  json second = Deployment("web", {{"a", nullptr}, {"c", "3"}});
  second["spec"]["template"]["spec"]["containers"] = {{{"name", "y"}}};
  absl::StatusOr<json> merged = client.Apply(second);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ((*merged)["metadata"]["labels"], json({{"b", "2"}, {"c", "3"}}));
  EXPECT_EQ((*merged)["spec"]["template"]["spec"]["containers"],
            json({{{"name", "y"}}}));
  EXPECT_EQ((*merged)["metadata"]["generation"], 2);
}

TEST(FakeKubeClientTest, NoOpApplyKeepsVersionAndStatusIsServerOwned) {
  FakeKubeClient client;
  absl::StatusOr<json> created = client.Apply(Deployment("web"));
  ASSERT_TRUE(created.ok());
  json with_status = Deployment("web");
  with_status["status"] = {{"replicas", 9}};
  absl::StatusOr<json> again = client.Apply(with_status);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *created);
  EXPECT_EQ(client.ResourceVersion(), Rv(*created));
}

TEST(FakeKubeClientTest, ApplyErrors) {
  FakeKubeClient client;
  json unnamed = Secret("");
  EXPECT_EQ(client.Apply(unnamed).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client.Apply(json{{"kind", "Nope"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<json> created = client.Apply(Secret("s"));
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(client.Apply(Secret("s")).ok());
  json stale = Secret("s");
  stale["metadata"]["resourceVersion"] = "1";
  stale["data"]["k"] = "dw==";
  EXPECT_EQ(client.Apply(stale).status().code(), absl::StatusCode::kAborted);
  stale["metadata"]["resourceVersion"] = Rv(*created);
  EXPECT_TRUE(client.Apply(stale).ok());
}

TEST(FakeKubeClientTest, GetAndDeleteNotFound) {
  FakeKubeClient client;
  absl::Status status = client.Get(kDeployments, "ns", "web").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "deployments.apps \"web\" not found");
  EXPECT_EQ(client.Delete(kSecrets, "ns", "s").code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(client.Apply(Secret("s")).ok());
  EXPECT_TRUE(client.Delete(kSecrets, "ns", "s").ok());
  EXPECT_EQ(client.Get(kSecrets, "ns", "s").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(FakeKubeClientTest, ListFiltersByNamespaceAndSelector) {
  FakeKubeClient client;
  ASSERT_TRUE(client.Apply(Deployment("a", {{"app", "x"}, {"t", "1"}})).ok());
  ASSERT_TRUE(client.Apply(Deployment("b", {{"app", "y"}})).ok());
  ASSERT_TRUE(client.Apply(Deployment("c", json::object())).ok());
  ASSERT_TRUE(client.Apply(Secret("s")).ok());
  ASSERT_TRUE(client.Apply(Secret("other", "ns2")).ok());
  auto names = [&](const std::string& selector) {
    std::vector<std::string> out;
    absl::StatusOr<ObjectList> list = client.List(kDeployments, "ns", selector);
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return out;
    EXPECT_EQ(list->resource_version, client.ResourceVersion());
    for (const json& item : list->items) {
      EXPECT_FALSE(item.contains("kind"));
      out.push_back(item["metadata"]["name"].get<std::string>());
    }
    return out;
  };
  EXPECT_EQ(names(""), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(names("app=x"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(names("app!=x"), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(names("app"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(names("app,t=1"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(client.List(kSecrets, "ns", "").value().items.size(), 1u);
  EXPECT_EQ(client.List(kSecrets, "ns", "a in b").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FakeKubeClientTest, WatchReplaysHistoryInOrder) {
  FakeKubeClient client;
  const std::string start = client.ResourceVersion();
  ASSERT_TRUE(client.Apply(Secret("a")).ok());
  json changed = Secret("a");
  changed["data"]["k"] = "dw==";
  ASSERT_TRUE(client.Apply(changed).ok());
  ASSERT_TRUE(client.Apply(Secret("elsewhere", "ns2")).ok());
  ASSERT_TRUE(client.Delete(kSecrets, "ns", "a").ok());
  std::vector<WatchEvent> events;
  WatchOptions options;
  options.resource_version = start;
  absl::Status status =
      client.Watch(kSecrets, "ns", options, [&](const WatchEvent& e) {
        events.push_back(e);
        return events.size() < 3;  // Ends the watch with OK.
      });
  EXPECT_TRUE(status.ok()) << status;
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kAdded);
  EXPECT_EQ(events[1].type, WatchEvent::Type::kModified);
  EXPECT_EQ(events[2].type, WatchEvent::Type::kDeleted);
  EXPECT_EQ(events[2].object["metadata"]["name"], "a");
  EXPECT_EQ(Rv(events[2].object), client.ResourceVersion());
}

TEST(FakeKubeClientTest, WatchWithoutVersionStartsWithCurrentObjects) {
  FakeKubeClient client;
  ASSERT_TRUE(client.Apply(Secret("a")).ok());
  ASSERT_TRUE(client.Apply(Secret("b")).ok());
  std::vector<std::string> added;
  absl::Status status =
      client.Watch(kSecrets, "ns", WatchOptions(), [&](const WatchEvent& e) {
        EXPECT_EQ(e.type, WatchEvent::Type::kAdded);
        added.push_back(e.object["metadata"]["name"].get<std::string>());
        return added.size() < 2;
      });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(added, (std::vector<std::string>{"a", "b"}));
}

TEST(FakeKubeClientTest, WatchBlocksForNewEventsFilteredBySelector) {
  FakeKubeClient client;
  WatchOptions options;
  options.resource_version = client.ResourceVersion();
  options.label_selector = "app=x";
  BackgroundWatch watch(client, options);
  ASSERT_TRUE(WaitFor([&] { return client.WatchCount() == 1; }));
  json skipped = Secret("skipped");
  skipped["metadata"]["labels"] = {{"app", "y"}};
  ASSERT_TRUE(client.Apply(skipped).ok());
  json wanted = Secret("wanted");
  wanted["metadata"]["labels"] = {{"app", "x"}};
  ASSERT_TRUE(client.Apply(wanted).ok());
  ASSERT_TRUE(WaitFor([&] { return watch.recorder.Size() == 1; }));
  EXPECT_EQ(watch.recorder.Events()[0].object["metadata"]["name"], "wanted");
  client.EndWatches();
  ASSERT_TRUE(WaitFor([&] { return watch.Done(); }));
  EXPECT_TRUE(watch.Status().ok()) << watch.Status();
}

TEST(FakeKubeClientTest, WatchEndsWithOkAfterTimeout) {
  FakeKubeClient client;
  WatchOptions options;
  options.resource_version = client.ResourceVersion();
  options.timeout = absl::Milliseconds(1);
  EXPECT_TRUE(client
                  .Watch(kSecrets, "ns", options,
                         [](const WatchEvent&) { return true; })
                  .ok());
}

TEST(FakeKubeClientTest, WatchStopAndShutdownCancel) {
  FakeKubeClient client;
  absl::Notification stop;
  WatchOptions options;
  options.resource_version = client.ResourceVersion();
  options.stop = &stop;
  BackgroundWatch stopped(client, options);
  options.stop = nullptr;
  BackgroundWatch shut_down(client, options);
  ASSERT_TRUE(WaitFor([&] { return client.WatchCount() == 2; }));
  stop.Notify();
  ASSERT_TRUE(WaitFor([&] { return stopped.Done(); }));
  EXPECT_EQ(stopped.Status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(shut_down.Done());
  client.Shutdown();
  ASSERT_TRUE(WaitFor([&] { return shut_down.Done(); }));
  EXPECT_EQ(shut_down.Status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(client.Get(kSecrets, "ns", "a").status().code(),
            absl::StatusCode::kCancelled);
}

TEST(FakeKubeClientTest, CompactExpiresOlderVersions) {
  FakeKubeClient client;
  const std::string old = client.ResourceVersion();
  ASSERT_TRUE(client.Apply(Secret("a")).ok());
  client.Compact();
  auto watch_from = [&](const std::string& rv) {
    WatchOptions options;
    options.resource_version = rv;
    options.timeout = absl::Milliseconds(1);
    return client.Watch(kSecrets, "ns", options,
                        [](const WatchEvent&) { return true; });
  };
  EXPECT_EQ(watch_from(old).code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(watch_from(client.ResourceVersion()).ok());
}

TEST(FakeKubeClientTest, BoundedHistoryExpiresOlderVersions) {
  FakeKubeClient client(/*history_size=*/2);
  const std::string old = client.ResourceVersion();
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_TRUE(client.Apply(Secret(name)).ok());
  }
  WatchOptions options;
  options.resource_version = old;
  EXPECT_EQ(client
                .Watch(kSecrets, "ns", options,
                       [](const WatchEvent&) { return true; })
                .code(),
            absl::StatusCode::kOutOfRange);
}

TEST(FakeKubeClientTest, OpenWatchBehindCompactionGetsOutOfRange) {
  FakeKubeClient client;
  absl::Notification release;
  WatchOptions options;
  options.resource_version = client.ResourceVersion();
  ASSERT_TRUE(client.Apply(Secret("a")).ok());
  std::vector<WatchEvent> events;
  std::thread writer([&] {
    EXPECT_TRUE(WaitFor([&] { return client.WatchCount() == 1; }));
    // The watch is blocked in its callback for "a" while these happen.
    EXPECT_TRUE(client.Apply(Secret("b")).ok());
    client.Compact();
    release.Notify();
  });
  absl::Status status =
      client.Watch(kSecrets, "ns", options, [&](const WatchEvent& e) {
        events.push_back(e);
        release.WaitForNotification();
        return true;
      });
  writer.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(events.size(), 1u);
}

TEST(FakeKubeClientTest, BookmarkAdvancesQuietWatch) {
  FakeKubeClient client;
  WatchOptions options;
  options.resource_version = client.ResourceVersion();
  BackgroundWatch watch(client, options);
  ASSERT_TRUE(WaitFor([&] { return client.WatchCount() == 1; }));
  ASSERT_TRUE(client.Apply(Secret("elsewhere", "ns2")).ok());
  client.Bookmark();
  ASSERT_TRUE(WaitFor([&] { return watch.recorder.Size() == 1; }));
  const WatchEvent bookmark = watch.recorder.Events()[0];
  EXPECT_EQ(bookmark.type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(Rv(bookmark.object), client.ResourceVersion());
  client.EndWatches();
}

TEST(FakeKubeClientTest, SetStatusEmitsModified) {
  FakeKubeClient client;
  EXPECT_EQ(client.SetStatus(kDeployments, "ns", "web", json::object()).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(client.Apply(Deployment("web")).ok());
  WatchOptions options;
  options.resource_version = client.ResourceVersion();
  ASSERT_TRUE(
      client.SetStatus(kDeployments, "ns", "web", {{"readyReplicas", 2}}).ok());
  WatchEvent seen;
  ASSERT_TRUE(client
                  .Watch(kDeployments, "ns", options,
                         [&](const WatchEvent& e) {
                           seen = e;
                           return false;
                         })
                  .ok());
  EXPECT_EQ(seen.type, WatchEvent::Type::kModified);
  EXPECT_EQ(seen.object["status"], json({{"readyReplicas", 2}}));
  EXPECT_EQ(seen.object["metadata"]["generation"], 1);
}

TEST(FakeKubeClientTest, Scale) {
  FakeKubeClient client;
  ASSERT_TRUE(client.Apply(Deployment("web")).ok());
  EXPECT_EQ(client.GetScale(kDeployments, "ns", "web").value(), 1);
  ASSERT_TRUE(client.SetScale(kDeployments, "ns", "web", 3).ok());
  EXPECT_EQ(client.GetScale(kDeployments, "ns", "web").value(), 3);
  EXPECT_EQ(client.Get(kDeployments, "ns", "web").value()["spec"]["replicas"],
            3);
  EXPECT_EQ(client.SetScale(kDeployments, "ns", "web", -1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client.GetScale(kDeployments, "ns", "nope").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(client.Apply(Secret("s")).ok());
  EXPECT_EQ(client.GetScale(kSecrets, "ns", "s").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client.ScaleCount(), 6);
}

TEST(FakeKubeClientTest, FailNextInjectsErrorsPerVerbAndCountsCalls) {
  FakeKubeClient client;
  client.FailNext(FakeKubeClient::Verb::kApply, absl::UnavailableError("down"),
                  2);
  client.FailNext("get", absl::ResourceExhaustedError("slow down"));
  EXPECT_EQ(client.Apply(Secret("s")).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(client.Apply(Secret("s")).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(client.Apply(Secret("s")).ok());
  EXPECT_EQ(client.Get(kSecrets, "ns", "s").status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(client.Get(kSecrets, "ns", "s").ok());
  EXPECT_EQ(client.ApplyCount(), 3);
  EXPECT_EQ(client.GetCount(), 2);
  EXPECT_EQ(client.ListCount(), 0);
  EXPECT_EQ(client.Objects(kSecrets, "ns").size(), 1u);
}

// Pod "web-1" on a node, its "tether" container running after one crash,
// beside an init container.
json RestartedPod() {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "web-1"}, {"namespace", "ns"}}},
          {"spec",
           {{"nodeName", "node-a"},
            {"initContainers", {{{"name", "bundle"}}}},
            {"containers", {{{"name", "tether"}}}}}}};
}

const json kRestartedStatus = {
    {"phase", "Running"},
    {"containerStatuses",
     {{{"name", "tether"},
       {"state", {{"running", json::object()}}},
       {"lastState",
        {{"terminated",
          {{"exitCode", 1}, {"containerID", "containerd://old"}}}}}}}}};

TEST(FakeKubeClientTest, PodLogsServeTheInstanceAndQueryTheKubeletWould) {
  FakeKubeClient client;
  ASSERT_TRUE(client.Apply(RestartedPod()).ok());
  ASSERT_TRUE(client.SetStatus(kPods, "ns", "web-1", kRestartedStatus).ok());
  const absl::Time t0 = absl::FromUnixSeconds(1714557600);
  std::string log;
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(&log, FormatLogTime(t0 + absl::Milliseconds(500 * i)),
                    " line ", i, "\n");
  }
  client.SetPodLog("ns", "web-1", "tether", log);
  client.SetPodLog("ns", "web-1", "tether",
                   FormatLogTime(t0 - absl::Minutes(1)) + " crashed\n",
                   LogInstance::kPrevious);

  PodLogOptions options;  // The only container.
  EXPECT_EQ(client.PodLogs("ns", "web-1", options).value(),
            "line 0\nline 1\nline 2\nline 3\n");
  options.previous = true;
  EXPECT_EQ(client.PodLogs("ns", "web-1", options).value(), "crashed\n");
  options.previous = false;
  options.timestamps = true;
  options.tail_lines = 1;
  EXPECT_EQ(client.PodLogs("ns", "web-1", options).value(),
            "2024-05-01T10:00:01.5Z line 3\n");
  // sinceTime counts whole seconds: 10:00:01.2 reads from 10:00:01.
  options.timestamps = false;
  options.tail_lines = -1;
  options.since_time = t0 + absl::Milliseconds(1200);
  EXPECT_EQ(client.PodLogs("ns", "web-1", options).value(), "line 2\nline 3\n");
  options.limit_bytes = 9;
  EXPECT_EQ(client.PodLogs("ns", "web-1", options).value(), "line 2\nli");
  EXPECT_EQ(client.LogsCount(), 5);
}

TEST(FakeKubeClientTest, PodLogsRefuseWhatTheServersRefuse) {
  FakeKubeClient client;
  EXPECT_EQ(client.PodLogs("ns", "web-1", {}).status().message(),
            "pods \"web-1\" not found");
  json pod = RestartedPod();
  pod["spec"]["nodeName"] = nullptr;
  ASSERT_TRUE(client.Apply(pod).ok());
  // No node yet: an empty log, whatever the status says.
  EXPECT_EQ(client.PodLogs("ns", "web-1", {}).value(), "");
  ASSERT_TRUE(client.Apply(RestartedPod()).ok());
  absl::StatusOr<std::string> read = client.PodLogs("ns", "web-1", {});
  EXPECT_TRUE(absl::IsInvalidArgument(read.status()));
  EXPECT_EQ(read.status().message(),
            "container \"tether\" in pod \"web-1\" is not available");
  PodLogOptions options;
  options.container = "sidecar";
  EXPECT_EQ(client.PodLogs("ns", "web-1", options).status().message(),
            "container sidecar is not valid for pod web-1");
  json two = RestartedPod();
  two["metadata"]["name"] = "web-2";
  two["spec"]["containers"].push_back({{"name", "sidecar"}});
  ASSERT_TRUE(client.Apply(two).ok());
  EXPECT_EQ(client.PodLogs("ns", "web-2", {}).status().message(),
            "a container name must be specified for pod web-2, choose one "
            "of: [bundle tether sidecar]");
  client.FailNext("logs", absl::UnavailableError("down"));
  EXPECT_TRUE(absl::IsUnavailable(client.PodLogs("ns", "web-2", {}).status()));
}

TEST(FakeKubeClientDeathTest, FailNextRejectsUnknownVerb) {
  FakeKubeClient client;
  EXPECT_DEATH(client.FailNext("patch", absl::InternalError("x")),
               "unknown verb");
}

}  // namespace
}  // namespace tether::kube
