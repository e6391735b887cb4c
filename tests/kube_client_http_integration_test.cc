// KubeClientHttp against the real fake_kube_apiserver binary on loopback:
// every verb, watch streaming and expiry, cancellation, error mapping and
// retries with an injected sleep (no wall-clock waits).

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kube/kube_client.h"
#include "kube/kube_client_http.h"
#include "kube/resource_type.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube_apiserver/fake_kube_apiserver_process.h"

namespace tether::kube {
namespace {

using ::tether::testing::UnusedLoopbackPort;

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string TestTmpDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

json Deployment(const std::string& name, int replicas) {
  const json labels = {{"app", name}};
  const json pod_spec = {
      {"containers", json::array({{{"name", "c"}, {"image", "busybox"}}})}};
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", name}, {"namespace", "ns"}, {"labels", labels}}},
      {"spec",
       {{"replicas", replicas},
        {"selector", {{"matchLabels", labels}}},
        {"template",
         {{"metadata", {{"labels", labels}}}, {"spec", pod_spec}}}}}};
}

json Secret(const std::string& ns, const std::string& name,
            const std::string& app) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", name}, {"namespace", ns}, {"labels", {{"app", app}}}}},
          {"stringData", {{"k", name}}}};
}

std::string Rv(const json& object) {
  return object["metadata"]["resourceVersion"].get<std::string>();
}

class KubeClientHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto apiserver = testing::FakeKubeApiserverProcess::Start();
    ASSERT_TRUE(apiserver.ok()) << apiserver.status();
    apiserver_ = *std::move(apiserver);
    client_ = NewClient(apiserver_->url());
  }

  std::unique_ptr<KubeClientHttp> NewClient(const std::string& server) {
    KubeClientHttp::Options options;
    options.config.server = server;
    options.retry.backoff.jitter = 0;  // Exact backoffs to assert.
    options.sleep = [this](absl::Duration d) {
      absl::MutexLock lock(&mu_);
      sleeps_.push_back(d);
    };
    absl::StatusOr<std::unique_ptr<KubeClientHttp>> client =
        KubeClientHttp::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // POSTs to the fake's test hooks.
  void Hook(const std::string& path, const json& body) {
    absl::StatusOr<std::string> sent =
        apiserver_->Send("POST", path, body.dump());
    ASSERT_TRUE(sent.ok()) << sent.status();
  }

  std::vector<absl::Duration> TakeSleeps() {
    absl::MutexLock lock(&mu_);
    return std::move(sleeps_);
  }

  std::unique_ptr<testing::FakeKubeApiserverProcess> apiserver_;
  std::unique_ptr<KubeClientHttp> client_;
  absl::Mutex mu_;
  std::vector<absl::Duration> sleeps_ ABSL_GUARDED_BY(mu_);
};

TEST_F(KubeClientHttpTest, ApplyCreatesThenUpdatesAndGetReadsBack) {
  absl::StatusOr<json> created = client_->Apply(Deployment("web", 2));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["generation"], 1);
  const std::string uid = (*created)["metadata"]["uid"];
  EXPECT_FALSE(uid.empty());

  absl::StatusOr<json> updated = client_->Apply(Deployment("web", 3));
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ((*updated)["metadata"]["uid"], uid);
  EXPECT_EQ((*updated)["metadata"]["generation"], 2);
  EXPECT_EQ((*updated)["spec"]["replicas"], 3);

  absl::StatusOr<json> got = client_->Get(kDeployments, "ns", "web");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Rv(*got), Rv(*updated));
  EXPECT_EQ((*got)["spec"]["replicas"], 3);

  absl::StatusOr<json> missing = client_->Get(kDeployments, "ns", "nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "GET /apis/apps/v1/namespaces/ns/deployments/nope: "
            "deployments.apps \"nope\" not found");

  json no_namespace = Deployment("web", 1);
  no_namespace["metadata"].erase("namespace");
  EXPECT_EQ(client_->Apply(no_namespace).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(TakeSleeps(), IsEmpty());
}

TEST_F(KubeClientHttpTest, StaleResourceVersionIsAborted) {
  absl::StatusOr<json> created = client_->Apply(Deployment("web", 1));
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(client_->Apply(Deployment("web", 2)).ok());
  json stale = Deployment("web", 3);
  stale["metadata"]["resourceVersion"] = Rv(*created);
  absl::StatusOr<json> conflict = client_->Apply(stale);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(conflict.status().message()),
              HasSubstr("PATCH /apis/apps/v1/namespaces/ns/deployments/web: "));
}

TEST_F(KubeClientHttpTest, ListFollowsPagesAndSelectors) {
  // More than a 500-object page, written from several threads at once.
  constexpr int kObjects = 503;
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = t; i < kObjects; i += 4) {
        absl::StatusOr<json> applied =
            client_->Apply(Secret("ns", absl::StrCat("s", i), "a"));
        EXPECT_TRUE(applied.ok()) << applied.status();
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  ASSERT_TRUE(client_->Apply(Secret("ns", "b1", "b")).ok());
  ASSERT_TRUE(client_->Apply(Secret("ns", "c1", "c")).ok());
  ASSERT_TRUE(client_->Apply(Secret("other", "b2", "b")).ok());

  absl::StatusOr<ObjectList> all = client_->List(kSecrets, "ns", "app=a");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->items.size(), kObjects);
  std::set<std::string> names;
  for (const json& item : all->items) names.insert(item["metadata"]["name"]);
  EXPECT_EQ(names.size(), kObjects);
  EXPECT_FALSE(all->resource_version.empty());

  // The selector's spaces, parentheses and commas survive URL encoding.
  absl::StatusOr<ObjectList> some =
      client_->List(kSecrets, "ns", "app in (b, c),app!=c");
  ASSERT_TRUE(some.ok()) << some.status();
  ASSERT_EQ(some->items.size(), 1u);
  EXPECT_EQ(some->items[0]["metadata"]["name"], "b1");
  EXPECT_EQ(some->items[0]["metadata"]["namespace"], "ns");

  absl::StatusOr<ObjectList> none = client_->List(kPods, "ns", "");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(none->items, IsEmpty());

  EXPECT_EQ(client_->List(kSecrets, "ns", "app in (").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(KubeClientHttpTest, WatchStreamsInOrderAndResumes) {
  absl::StatusOr<ObjectList> list = client_->List(kDeployments, "ns", "");
  ASSERT_TRUE(list.ok()) << list.status();

  std::vector<WatchEvent> events;
  absl::Notification watching;
  absl::Status watch_status;
  std::thread watcher([&] {
    WatchOptions options;
    options.resource_version = list->resource_version;
    watch_status = client_->Watch(
        kDeployments, "ns", options, [&](const WatchEvent& event) {
          events.push_back(event);
          return event.type != WatchEvent::Type::kDeleted;
        });
  });
  ASSERT_TRUE(client_->Apply(Deployment("web", 1)).ok());
  ASSERT_TRUE(client_->SetScale(kDeployments, "ns", "web", 4).ok());
  ASSERT_TRUE(client_->Apply(Deployment("other", 1)).ok());
  ASSERT_TRUE(client_->Delete(kDeployments, "ns", "web").ok());
  watcher.join();  // on_event returns false at the DELETED.
  EXPECT_TRUE(watch_status.ok()) << watch_status;
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kAdded);
  EXPECT_EQ(events[1].type, WatchEvent::Type::kModified);
  EXPECT_EQ(events[1].object["spec"]["replicas"], 4);
  EXPECT_EQ(events[2].type, WatchEvent::Type::kAdded);
  EXPECT_EQ(events[2].object["metadata"]["name"], "other");
  EXPECT_EQ(events[3].type, WatchEvent::Type::kDeleted);
  EXPECT_EQ(events[3].object["metadata"]["name"], "web");

  // Resuming after the first event replays the rest, with the selector.
  std::vector<std::string> resumed;
  WatchOptions options;
  options.resource_version = Rv(events[0].object);
  options.label_selector = "app=web";
  absl::Status status =
      client_->Watch(kDeployments, "ns", options, [&](const WatchEvent& event) {
        resumed.push_back(Rv(event.object));
        return event.type != WatchEvent::Type::kDeleted;
      });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_THAT(resumed, ElementsAre(Rv(events[1].object), Rv(events[3].object)));

  // Without a version the current state comes first; the server's
  // timeoutSeconds then ends the stream with OK.
  std::vector<std::string> current;
  options = WatchOptions();
  options.timeout = absl::Seconds(1);
  options.allow_bookmarks = false;
  status =
      client_->Watch(kDeployments, "ns", options, [&](const WatchEvent& event) {
        current.push_back(event.object["metadata"]["name"]);
        return true;
      });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_THAT(current, ElementsAre("other"));
}

TEST_F(KubeClientHttpTest, WatchFromCompactedVersionIsOutOfRange) {
  absl::StatusOr<json> created = client_->Apply(Deployment("web", 1));
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(client_->Apply(Deployment("web", 2)).ok());
  Hook("/_fake/compact", json::object());
  WatchOptions options;
  options.resource_version = Rv(*created);
  int events = 0;
  absl::Status status =
      client_->Watch(kDeployments, "ns", options, [&](const WatchEvent&) {
        ++events;
        return true;
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("too old resource version"));
  EXPECT_EQ(events, 0);

  // A 410 answer to the request itself means the same, and is final.
  Hook("/_fake/failures",
       {{"pathPrefix", "/apis/apps/v1/namespaces/ns/deployments"},
        {"method", "GET"},
        {"code", 410}});
  options.resource_version = Rv(*created);
  status = client_->Watch(kDeployments, "ns", options,
                          [](const WatchEvent&) { return true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange) << status;
  EXPECT_THAT(TakeSleeps(), IsEmpty());
}

TEST_F(KubeClientHttpTest, WatchReassemblesEventsSplitAcrossChunks) {
  // libcurl hands over at most 16 KiB at a time, so this event arrives in
  // several pieces.
  json big = Secret("ns", "big", "a");
  big["stringData"]["k"] = std::string(100 * 1024, 'x');
  ASSERT_TRUE(client_->Apply(big).ok());
  ASSERT_TRUE(client_->Apply(Secret("ns", "small", "a")).ok());
  std::vector<std::string> names;
  absl::Status status = client_->Watch(
      kSecrets, "ns", WatchOptions(), [&](const WatchEvent& event) {
        names.push_back(event.object["metadata"]["name"]);
        EXPECT_EQ(event.type, WatchEvent::Type::kAdded);
        return names.size() < 2;
      });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_THAT(names, ElementsAre("big", "small"));
}

// Watches a quiet stream (one ADDED, then nothing) until `end` ends it.
absl::Status WatchUntil(KubeClient& client, absl::Notification* stop,
                        const std::function<void()>& end) {
  absl::Notification first_event;
  absl::Status status;
  std::thread watcher([&] {
    WatchOptions options;
    options.stop = stop;
    status = client.Watch(kDeployments, "ns", options, [&](const WatchEvent&) {
      if (!first_event.HasBeenNotified()) first_event.Notify();
      return true;
    });
  });
  first_event.WaitForNotification();
  end();
  watcher.join();
  return status;
}

TEST_F(KubeClientHttpTest, StopEndsQuietWatch) {
  ASSERT_TRUE(client_->Apply(Deployment("web", 1)).ok());
  absl::Notification stop;
  absl::Status status = WatchUntil(*client_, &stop, [&] { stop.Notify(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  // The client stays usable.
  EXPECT_TRUE(client_->Get(kDeployments, "ns", "web").ok());
}

TEST_F(KubeClientHttpTest, ShutdownEndsWatchAndLaterCalls) {
  ASSERT_TRUE(client_->Apply(Deployment("web", 1)).ok());
  absl::Status status =
      WatchUntil(*client_, nullptr, [&] { client_->Shutdown(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  client_->Shutdown();  // Idempotent.
  EXPECT_EQ(client_->Get(kDeployments, "ns", "web").status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(client_->Delete(kDeployments, "ns", "web").code(),
            absl::StatusCode::kCancelled);
}

TEST_F(KubeClientHttpTest, DeleteAndScale) {
  ASSERT_TRUE(client_->Apply(Deployment("web", 2)).ok());
  absl::StatusOr<int32_t> replicas =
      client_->GetScale(kDeployments, "ns", "web");
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  EXPECT_EQ(*replicas, 2);
  ASSERT_TRUE(client_->SetScale(kDeployments, "ns", "web", 0).ok());
  EXPECT_EQ(*client_->GetScale(kDeployments, "ns", "web"), 0);
  ASSERT_TRUE(client_->SetScale(kDeployments, "ns", "web", 5).ok());
  EXPECT_EQ(*client_->GetScale(kDeployments, "ns", "web"), 5);
  EXPECT_EQ((*client_->Get(kDeployments, "ns", "web"))["spec"]["replicas"], 5);
  EXPECT_EQ(client_->GetScale(kDeployments, "ns", "nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->SetScale(kDeployments, "ns", "web", -1).code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_TRUE(
      client_->Delete(kDeployments, "ns", "web", Propagation::kForeground)
          .ok());
  EXPECT_EQ(client_->Get(kDeployments, "ns", "web").status().code(),
            absl::StatusCode::kNotFound);
  absl::Status again = client_->Delete(kDeployments, "ns", "web");
  EXPECT_EQ(again.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(again.message()),
              HasSubstr("DELETE /apis/apps/v1/namespaces/ns/deployments/web"));
}

TEST_F(KubeClientHttpTest, PodLogsSendTheQueryAndMapRefusals) {
  EXPECT_EQ(client_->PodLogs("ns", "web-1", {}).status().code(),
            absl::StatusCode::kNotFound);
  const json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "web-1"}, {"namespace", "ns"}}},
      {"spec",
       {{"nodeName", "node-a"},
        {"containers", {{{"name", "tether"}, {"image", "busybox"}}}}}}};
  ASSERT_TRUE(client_->Apply(pod).ok());
  ASSERT_TRUE(
      apiserver_
          ->Send("PUT", "/_fake/status/api/v1/namespaces/ns/pods/web-1",
                 json{{"containerStatuses",
                       {{{"name", "tether"},
                         {"state",
                          {{"waiting", {{"reason", "ContainerCreating"}}}}}}}}}
                     .dump())
          .ok());
  absl::StatusOr<std::string> log = client_->PodLogs("ns", "web-1", {});
  EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(log.status().message()),
              HasSubstr("GET /api/v1/namespaces/ns/pods/web-1/log: container "
                        "\"tether\" in pod \"web-1\" is waiting to start: "
                        "ContainerCreating"));

  ASSERT_TRUE(apiserver_
                  ->Send("PUT", "/_fake/status/api/v1/namespaces/ns/pods/web-1",
                         json{{"containerStatuses",
                               {{{"name", "tether"},
                                 {"state", {{"running", json::object()}}},
                                 {"lastState",
                                  {{"terminated",
                                    {{"exitCode", 2},
                                     {"containerID", "containerd://a"}}}}}}}}}
                             .dump())
                  .ok());
  ASSERT_TRUE(apiserver_
                  ->SetPodLog("ns", "web-1", "tether",
                              "2024-05-01T10:00:00.5Z starting\n"
                              "2024-05-01T10:00:01Z serving\n"
                              "2024-05-01T10:00:03.25Z still serving\n")
                  .ok());
  ASSERT_TRUE(apiserver_
                  ->SetPodLog("ns", "web-1", "tether",
                              "2024-05-01T09:00:00Z Traceback\n",
                              /*previous=*/true)
                  .ok());
  PodLogOptions options;
  options.container = "tether";
  options.timestamps = true;
  // 10:00:01.9 goes as 10:00:01: whole seconds.
  options.since_time = absl::FromCivil(absl::CivilSecond(2024, 5, 1, 10, 0, 1),
                                       absl::UTCTimeZone()) +
                       absl::Milliseconds(900);
  log = client_->PodLogs("ns", "web-1", options);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(*log,
            "2024-05-01T10:00:01Z serving\n"
            "2024-05-01T10:00:03.25Z still serving\n");
  options.tail_lines = 1;
  options.limit_bytes = 25;
  EXPECT_EQ(client_->PodLogs("ns", "web-1", options).value(),
            "2024-05-01T10:00:03.25Z s");
  options = PodLogOptions();
  options.previous = true;
  EXPECT_EQ(client_->PodLogs("ns", "web-1", options).value(), "Traceback\n");
  options.tail_lines = 0;
  EXPECT_EQ(client_->PodLogs("ns", "web-1", options).value(), "");
}

TEST_F(KubeClientHttpTest, RetriesHonourRetryAfterAndBackoff) {
  ASSERT_TRUE(client_->Apply(Deployment("web", 1)).ok());
  const std::string path = "/apis/apps/v1/namespaces/ns/deployments/web";

  Hook("/_fake/failures", {{"pathPrefix", path},
                           {"method", "GET"},
                           {"count", 2},
                           {"code", 429},
                           {"retryAfterSeconds", 3}});
  EXPECT_TRUE(client_->Get(kDeployments, "ns", "web").ok());
  EXPECT_THAT(TakeSleeps(), ElementsAre(absl::Seconds(3), absl::Seconds(3)));

  // Retry-After is capped.
  Hook("/_fake/failures", {{"pathPrefix", path},
                           {"method", "PATCH"},
                           {"code", 429},
                           {"retryAfterSeconds", 3600}});
  EXPECT_TRUE(client_->Apply(Deployment("web", 2)).ok());
  EXPECT_THAT(TakeSleeps(), ElementsAre(absl::Seconds(30)));

  // Without Retry-After: exponential backoff.
  Hook("/_fake/failures", {{"pathPrefix", path},
                           {"method", "DELETE"},
                           {"count", 3},
                           {"code", 503}});
  EXPECT_TRUE(client_->Delete(kDeployments, "ns", "web").ok());
  EXPECT_THAT(TakeSleeps(),
              ElementsAre(absl::Milliseconds(200), absl::Milliseconds(400),
                          absl::Milliseconds(800)));

  // A watch is retried until its stream starts.
  Hook("/_fake/failures", {{"pathPrefix", "/apis/apps/v1/namespaces/ns/"},
                           {"method", "GET"},
                           {"code", 500}});
  WatchOptions options;
  options.timeout = absl::Seconds(1);
  EXPECT_TRUE(client_
                  ->Watch(kDeployments, "ns", options,
                          [](const WatchEvent&) { return true; })
                  .ok());
  EXPECT_THAT(TakeSleeps(), ElementsAre(absl::Milliseconds(200)));
}

TEST_F(KubeClientHttpTest, RetriesGiveUpAfterMaxAttempts) {
  Hook("/_fake/failures",
       {{"pathPrefix", "/api/v1"}, {"count", 5}, {"code", 429}});
  absl::StatusOr<json> got = client_->Get(kSecrets, "ns", "s");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(got.status().message(),
            "GET /api/v1/namespaces/ns/secrets/s: injected failure (429)");
  EXPECT_EQ(TakeSleeps().size(), 4u);

  Hook("/_fake/failures",
       {{"pathPrefix", "/api/v1"}, {"count", 5}, {"code", 503}});
  EXPECT_EQ(client_->List(kSecrets, "ns", "").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_THAT(TakeSleeps(),
              ElementsAre(absl::Milliseconds(200), absl::Milliseconds(400),
                          absl::Milliseconds(800), absl::Milliseconds(1600)));

  // Nothing listening: connection refused, retried, then UNAVAILABLE.
  std::unique_ptr<KubeClientHttp> nowhere =
      NewClient(absl::StrCat("http://127.0.0.1:", UnusedLoopbackPort()));
  absl::Status status = nowhere->Delete(kSecrets, "ns", "s");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(TakeSleeps().size(), 4u);
}

TEST_F(KubeClientHttpTest, A401FetchesARotatedTokenAnewOnce) {
  const std::string token_file =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/token");
  ASSERT_TRUE(WriteFileAtomically(token_file, "rotated\n").ok());
  KubeClientHttp::Options options;
  options.config.server = apiserver_->url();
  options.config.token_file = token_file;
  auto client = KubeClientHttp::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();

  // One refusal: the token is read again and the request goes through
  // (to the 404 of a missing Secret).
  Hook("/_fake/failures",
       {{"pathPrefix", "/api/v1"}, {"count", 1}, {"code", 401}});
  EXPECT_TRUE(absl::IsNotFound((*client)->Get(kSecrets, "ns", "s").status()));
  // Refused again with the fresh token: that is the answer.
  Hook("/_fake/failures",
       {{"pathPrefix", "/api/v1"}, {"count", 2}, {"code", 401}});
  EXPECT_EQ((*client)->Get(kSecrets, "ns", "s").status().code(),
            absl::StatusCode::kUnauthenticated);
  // A fixed token cannot change: no second try.
  Hook("/_fake/failures",
       {{"pathPrefix", "/api/v1"}, {"count", 1}, {"code", 401}});
  EXPECT_EQ(client_->Get(kSecrets, "ns", "s").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(TakeSleeps().empty()) << "a 401 is not a transient error";
}

// Makes a CA, a server certificate for 127.0.0.1 and a client certificate
// signed by it, a second unrelated CA, and the file `openssl s_server -HTTP`
// answers a GET of a Secret with (it serves ./<path>, headers included).
constexpr char kMakeCerts[] = R"sh(set -e
cd "$1"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca
openssl req -x509 $ec -keyout other.key -out other.crt -days 2 -subj /CN=other
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl req $ec -keyout server.key -out server.csr -subj /CN=server
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out server.crt -days 2 -extfile san.ext
openssl req $ec -keyout client.key -out client.csr -subj /CN=tether
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out client.crt -days 2
mkdir -p root/api/v1/namespaces/ns/secrets
printf 'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"kind":"Secret","metadata":{"name":"s"}}' \
  > root/api/v1/namespaces/ns/secrets/s
)sh";

// TLS against `openssl s_server`, which demands a client certificate
// signed by the CA (-Verify 1).
class KubeClientHttpTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(TestTmpDir(), "/tls");
    ASSERT_TRUE(RemoveAll(dir_).ok());
    ASSERT_TRUE(MakeDirs(dir_).ok());
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/make_certs.sh", kMakeCerts).ok());
    ASSERT_EQ(std::system(absl::StrCat("sh ", dir_, "/make_certs.sh ", dir_,
                                       " 2>", dir_, "/openssl.log")
                              .c_str()),
              0)
        << *ReadFile(dir_ + "/openssl.log");
    const int port = UnusedLoopbackPort();
    ASSERT_NE(port, 0);
    const std::string accept = absl::StrCat("127.0.0.1:", port);
    const std::string root = dir_ + "/root";
    const std::string log = dir_ + "/s_server.log";
    pid_ = fork();
    if (pid_ == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || chdir(root.c_str()) != 0) _exit(127);
      dup2(fd, 1);
      dup2(fd, 2);
      execlp("openssl", "openssl", "s_server", "-quiet", "-HTTP", "-cert",
             "../server.crt", "-key", "../server.key", "-CAfile", "../ca.crt",
             "-Verify", "1", "-accept", accept.c_str(), nullptr);
      _exit(127);
    }
    // Waits until it accepts connections (a condition, not a duration).
    bool listening = false;
    for (int i = 0; i < 400 && !listening; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(port);
      listening =
          connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      close(fd);
      if (!listening) absl::SleepFor(absl::Milliseconds(25));
    }
    ASSERT_TRUE(listening) << "openssl s_server did not start";
    config_.server = absl::StrCat("https://", accept);
    config_.ca_pem = Pem("ca.crt");
    config_.client_cert_pem = Pem("client.crt");
    config_.client_key_pem = Pem("client.key");
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

  std::string Pem(const std::string& name) {
    absl::StatusOr<std::string> pem = ReadFile(absl::StrCat(dir_, "/", name));
    EXPECT_TRUE(pem.ok()) << pem.status();
    return pem.ok() ? *pem : "";
  }

  // GETs the served Secret with a client for `config`; `attempts` counts
  // the tries.
  absl::StatusOr<json> GetSecret(const KubeConfig& config, int* attempts) {
    KubeClientHttp::Options options;
    options.config = config;
    *attempts = 1;
    options.sleep = [attempts](absl::Duration) { ++*attempts; };
    ASSIGN_OR_RETURN(std::unique_ptr<KubeClientHttp> client,
                     KubeClientHttp::Create(std::move(options)));
    return client->Get(kSecrets, "ns", "s");
  }

  std::string dir_;
  pid_t pid_ = -1;
  KubeConfig config_;
};

TEST_F(KubeClientHttpTlsTest, VerifiesServerAndPresentsClientCertificate) {
  int attempts = 0;
  absl::StatusOr<json> secret = GetSecret(config_, &attempts);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ((*secret)["metadata"]["name"], "s");

  // A server certificate the CA did not sign fails at once.
  KubeConfig wrong_ca = config_;
  wrong_ca.ca_pem = Pem("other.crt");
  secret = GetSecret(wrong_ca, &attempts);
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kUnavailable)
      << secret.status();
  EXPECT_EQ(attempts, 1);

  KubeConfig insecure = wrong_ca;
  insecure.insecure_skip_tls_verify = true;
  secret = GetSecret(insecure, &attempts);
  EXPECT_TRUE(secret.ok()) << secret.status();

  // The server requires a client certificate.
  KubeConfig anonymous = config_;
  anonymous.client_cert_pem.clear();
  anonymous.client_key_pem.clear();
  secret = GetSecret(anonymous, &attempts);
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kUnavailable)
      << secret.status();
}

}  // namespace
}  // namespace tether::kube
