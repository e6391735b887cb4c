// Starts the real fake_kube_apiserver binary on port 0 and drives it with the
// real curl binary, as an HTTP client library would see it.

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube_apiserver/fake_kube_apiserver_process.h"
#include "tests/fake_kube_apiserver/kubectl.h"

namespace tether::fake_kube {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

struct Response {
  int code = 0;
  std::map<std::string, std::string> headers;  // Lower-cased names.
  std::string body;
  json Json() const { return json::parse(body, nullptr, false); }
};

std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class FakeApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server =
        testing::FakeKubeApiserverProcess::Start({"--history_size=50"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    body_file_ = absl::StrCat(TempDir(), "/body.", getpid());
  }

  static std::string TempDir() {
    return getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
  }

  std::string Url(const std::string& path) {
    return absl::StrCat("'", server_->url(), path, "'");
  }

  Response Do(const std::string& method, const std::string& path,
              const std::string& body = "",
              const std::string& content_type = "application/json") {
    std::string cmd = absl::StrCat("curl -sS -i -X ", method, " ");
    if (!body.empty()) {
      std::ofstream(body_file_) << body;
      absl::StrAppend(&cmd, "-H 'Content-Type: ", content_type,
                      "' --data-binary @", body_file_, " ");
    }
    absl::StrAppend(&cmd, Url(path));
    std::string raw = RunCommand(cmd);
    Response r;
    size_t end = raw.find("\r\n\r\n");
    if (end == std::string::npos) return r;
    std::vector<std::string> lines = absl::StrSplit(raw.substr(0, end), "\r\n");
    std::vector<std::string> status = absl::StrSplit(lines[0], ' ');
    if (status.size() >= 2) (void)absl::SimpleAtoi(status[1], &r.code);
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t c = lines[i].find(':');
      if (c == std::string::npos) continue;
      r.headers[absl::AsciiStrToLower(lines[i].substr(0, c))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(c + 1)));
    }
    r.body = raw.substr(end + 4);
    return r;
  }

  // Creates pod `name` in namespace ns (scheduled, one container
  // "tether") and sets its `status` (JSON).
  void CreatePod(const std::string& name, const std::string& status) {
    const std::string pods = "/api/v1/namespaces/ns/pods";
    const json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}}},
        {"spec",
         {{"nodeName", "node-a"},
          {"containers", {{{"name", "tether"}, {"image", "busybox"}}}}}}};
    ASSERT_EQ(Do("POST", pods, pod.dump()).code, 201);
    ASSERT_EQ(Do("PUT", "/_fake/status" + pods + "/" + name, status).code, 200);
  }

  static json Deployment(const std::string& name, int replicas = 2) {
    return {
        {"apiVersion", "apps/v1"},
        {"kind", "Deployment"},
        {"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
        {"spec",
         {{"replicas", replicas},
          {"selector", {{"matchLabels", {{"app", name}}}}},
          {"template",
           {{"metadata", {{"labels", {{"app", name}}}}},
            {"spec",
             {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}}}}}};
  }

  static json ConfigMap(const std::string& name, const json& labels) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"labels", labels}}},
            {"data", {{"k", "v"}}}};
  }

  const std::string deps_ = "/apis/apps/v1/namespaces/ns/deployments";
  const std::string cms_ = "/api/v1/namespaces/ns/configmaps";
  std::unique_ptr<testing::FakeKubeApiserverProcess> server_;
  std::string body_file_;
};

TEST_F(FakeApiServerTest, CreateGetListDelete) {
  Response r = Do("POST", deps_, Deployment("web").dump());
  ASSERT_EQ(r.code, 201) << r.body;
  json created = r.Json();
  EXPECT_EQ(created["metadata"]["namespace"], "ns");
  EXPECT_EQ(created["metadata"]["generation"], 1);
  EXPECT_FALSE(created["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(created["metadata"]["creationTimestamp"].is_null());
  std::string rv = created["metadata"]["resourceVersion"];

  r = Do("GET", deps_ + "/web");
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(r.Json()["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(r.headers["content-type"], "application/json");

  r = Do("POST", deps_, Deployment("web").dump());
  EXPECT_EQ(r.code, 409);
  EXPECT_EQ(r.Json()["reason"], "AlreadyExists");

  r = Do("GET", "/apis/apps/v1/deployments");  // Cluster-wide list.
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(r.Json()["kind"], "DeploymentList");
  EXPECT_EQ(r.Json()["items"].size(), 1u);

  r = Do("DELETE", deps_ + "/web?propagationPolicy=Foreground");
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(r.Json()["kind"], "Status");
  EXPECT_EQ(r.Json()["status"], "Success");

  r = Do("GET", deps_ + "/web");
  ASSERT_EQ(r.code, 404);
  json status = r.Json();
  EXPECT_EQ(status["kind"], "Status");
  EXPECT_EQ(status["status"], "Failure");
  EXPECT_EQ(status["reason"], "NotFound");
  EXPECT_EQ(status["code"], 404);
  EXPECT_EQ(status["details"]["name"], "web");
  EXPECT_EQ(status["details"]["group"], "apps");
  EXPECT_EQ(status["details"]["kind"], "deployments");
  EXPECT_EQ(status["message"], "deployments.apps \"web\" not found");

  EXPECT_EQ(Do("DELETE", deps_ + "/web").code, 404);
  EXPECT_EQ(Do("GET", "/apis/apps/v1/namespaces/ns/widgets").code, 404);
}

TEST_F(FakeApiServerTest, LabelSelectors) {
  ASSERT_EQ(
      Do("POST", cms_, ConfigMap("a", {{"app", "x"}, {"t", "1"}}).dump()).code,
      201);
  ASSERT_EQ(Do("POST", cms_, ConfigMap("b", {{"app", "y"}}).dump()).code, 201);
  ASSERT_EQ(Do("POST", "/api/v1/namespaces/other/configmaps",
               ConfigMap("c", {{"app", "x"}}).dump())
                .code,
            201);
  auto names = [&](const std::string& path) {
    std::vector<std::string> out;
    Response r = Do("GET", path);
    EXPECT_EQ(r.code, 200) << r.body;
    json list = r.Json();  // Kept alive: the loop borrows from it.
    for (const json& item : list["items"]) {
      out.push_back(item["metadata"]["name"]);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(cms_), (V{"a", "b"}));
  EXPECT_EQ(names(cms_ + "?labelSelector=app%3Dx"), (V{"a"}));
  EXPECT_EQ(names(cms_ + "?labelSelector=app%3Dx,t%3D2"), (V{}));
  EXPECT_EQ(names(cms_ + "?labelSelector=app!%3Dx"), (V{"b"}));
  EXPECT_EQ(names(cms_ + "?labelSelector=app%20in%20(x,y)"), (V{"a", "b"}));
  EXPECT_EQ(names(cms_ + "?labelSelector=t"), (V{"a"}));
  EXPECT_EQ(names("/api/v1/configmaps?labelSelector=app%3Dx"), (V{"a", "c"}));
}

TEST_F(FakeApiServerTest, ReplaceConflictsOnStaleResourceVersion) {
  json cm = Do("POST", cms_, ConfigMap("a", {{"app", "x"}}).dump()).Json();
  std::string rv1 = cm["metadata"]["resourceVersion"];
  cm["data"]["k"] = "v2";
  Response r = Do("PUT", cms_ + "/a", cm.dump());
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_NE(r.Json()["metadata"]["resourceVersion"], rv1);
  cm["data"]["k"] = "v3";  // Still carries rv1.
  r = Do("PUT", cms_ + "/a", cm.dump());
  EXPECT_EQ(r.code, 409);
  EXPECT_EQ(r.Json()["reason"], "Conflict");
}

TEST_F(FakeApiServerTest, InvalidObjects) {
  json no_name = ConfigMap("", nullptr);
  no_name["metadata"].erase("name");
  Response r = Do("POST", cms_, no_name.dump());
  EXPECT_EQ(r.code, 422);
  EXPECT_EQ(r.Json()["reason"], "Invalid");
  EXPECT_EQ(r.Json()["details"]["causes"][0]["field"], "metadata.name");
  // A type mismatch with the path fails decoding (400, as upstream).
  r = Do("POST", deps_, ConfigMap("x", nullptr).dump());
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(r.Json()["reason"], "BadRequest");
}

TEST_F(FakeApiServerTest, ServerSideApplyUpserts) {
  std::string path = deps_ + "/web?fieldManager=tether";
  const std::string apply = "application/apply-patch+yaml";
  Response r = Do("PATCH", deps_ + "/web", Deployment("web").dump(), apply);
  EXPECT_EQ(r.code, 422);  // fieldManager is required for apply.
  r = Do("PATCH", path, Deployment("web", 2).dump(), apply);
  ASSERT_EQ(r.code, 201) << r.body;
  std::string rv1 = r.Json()["metadata"]["resourceVersion"];
  r = Do("PATCH", path, Deployment("web", 2).dump(), apply);
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(r.Json()["metadata"]["resourceVersion"], rv1);  // No-op.
  r = Do("PATCH", path, Deployment("web", 5).dump(), apply);
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(r.Json()["spec"]["replicas"], 5);
  EXPECT_EQ(r.Json()["metadata"]["generation"], 2);

  r = Do("PATCH", deps_ + "/web", R"({"metadata":{"labels":{"x":"y"}}})",
         "application/merge-patch+json");
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(r.Json()["metadata"]["labels"]["x"], "y");
  EXPECT_EQ(r.Json()["metadata"]["generation"], 2);  // Spec unchanged.
  r = Do("PATCH", deps_ + "/web", "{}", "text/plain");
  EXPECT_EQ(r.code, 415);
}

TEST_F(FakeApiServerTest, ScaleSubresourceAndStatusHook) {
  ASSERT_EQ(Do("POST", deps_, Deployment("web", 2).dump()).code, 201);
  Response r = Do("GET", deps_ + "/web/scale");
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(r.Json()["kind"], "Scale");
  EXPECT_EQ(r.Json()["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(r.Json()["spec"]["replicas"], 2);
  EXPECT_EQ(r.Json()["status"]["selector"], "app=web");

  json scale = r.Json();
  scale["spec"]["replicas"] = 4;
  r = Do("PUT", deps_ + "/web/scale", scale.dump());
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(Do("GET", deps_ + "/web").Json()["spec"]["replicas"], 4);
  r = Do("PUT", deps_ + "/web/scale", scale.dump());  // Stale rv.
  EXPECT_EQ(r.code, 409);
  r = Do("PATCH", deps_ + "/web/scale", R"({"spec":{"replicas":1}})",
         "application/merge-patch+json");
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(r.Json()["spec"]["replicas"], 1);

  r = Do("PUT", "/_fake/status" + deps_ + "/web",
         R"({"replicas":1,"readyReplicas":1,"availableReplicas":1})");
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(Do("GET", deps_ + "/web").Json()["status"]["readyReplicas"], 1);
  // Writes to the main resource leave status alone, as upstream.
  r = Do("PATCH", deps_ + "/web", R"({"status":{"readyReplicas":9}})",
         "application/merge-patch+json");
  EXPECT_EQ(r.Json()["status"]["readyReplicas"], 1);
}

TEST_F(FakeApiServerTest, PodLogsAnswerAsTheApiServerAndKubeletDo) {
  const std::string pods = "/api/v1/namespaces/ns/pods";
  Response r = Do("GET", pods + "/web-1/log");
  EXPECT_EQ(r.code, 404);
  EXPECT_EQ(r.Json()["message"], "pods \"web-1\" not found");
  CreatePod("web-1",
            R"({"phase":"Pending","containerStatuses":[{"name":"tether",)"
            R"("state":{"waiting":{"reason":"ContainerCreating"}}}]})");
  r = Do("GET", pods + "/web-1/log?container=tether");
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(r.Json()["reason"], "BadRequest");
  EXPECT_EQ(r.Json()["message"],
            "container \"tether\" in pod \"web-1\" is waiting to start: "
            "ContainerCreating");

  // Running after a crash: the current log, and the previous one.
  ASSERT_EQ(Do("PUT", "/_fake/status" + pods + "/web-1",
               R"({"phase":"Running","containerStatuses":[{"name":"tether",)"
               R"("state":{"running":{}},"lastState":{"terminated":)"
               R"({"exitCode":1,"containerID":"containerd://a"}}}]})")
                .code,
            200);
  ASSERT_EQ(Do("PUT", "/_fake/logs" + pods + "/web-1?container=tether",
               "2024-05-01T10:00:00.25Z one\n2024-05-01T10:00:02Z two\n",
               "text/plain")
                .code,
            200);
  ASSERT_EQ(
      Do("PUT", "/_fake/logs" + pods + "/web-1?container=tether&previous=true",
         "2024-05-01T09:59:00Z crashed\n", "text/plain")
          .code,
      200);
  r = Do("GET", pods + "/web-1/log?timestamps=true");
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "text/plain");
  EXPECT_EQ(r.body, "2024-05-01T10:00:00.25Z one\n2024-05-01T10:00:02Z two\n");
  r = Do("GET", pods + "/web-1/log?sinceTime=2024-05-01T10:00:01Z");
  EXPECT_EQ(r.body, "two\n");
  r = Do("GET", pods + "/web-1/log?tailLines=1&limitBytes=2");
  EXPECT_EQ(r.body, "tw");
  r = Do("GET", pods + "/web-1/log?previous=true");
  EXPECT_EQ(r.body, "crashed\n");
  r = Do("GET", pods + "/web-1/log?tailLines=-1");
  EXPECT_EQ(r.code, 422);
  EXPECT_EQ(r.Json()["message"],
            "PodLogOptions \"web-1\" is invalid: tailLines: Invalid value: "
            "-1: must be greater than or equal to 0");
  r = Do("GET", pods + "/web-1/log?container=nope");
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(r.Json()["message"], "container nope is not valid for pod web-1");

  // Never crashed: no previous instance.
  ASSERT_EQ(Do("PUT", "/_fake/status" + pods + "/web-1",
               R"({"phase":"Running","containerStatuses":[{"name":"tether",)"
               R"("state":{"running":{}}}]})")
                .code,
            200);
  r = Do("GET", pods + "/web-1/log?previous=true");
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(r.Json()["message"],
            "previous terminated container \"tether\" in pod \"web-1\" not "
            "found");
}

// kubectl (a real client) finds pods through discovery and reads their
// logs; skipped where kubectl is not installed.
TEST_F(FakeApiServerTest, KubectlReadsPodLogs) {
  absl::StatusOr<testing::Kubectl> kubectl =
      testing::Kubectl::Create(server_->url(), "ns", TempDir());
  if (absl::IsNotFound(kubectl.status())) {
    GTEST_SKIP() << kubectl.status().message();
  }
  ASSERT_TRUE(kubectl.ok()) << kubectl.status();
  CreatePod("web-1",
            R"({"phase":"Running","containerStatuses":[{"name":"tether",)"
            R"("state":{"running":{}}}]})");
  ASSERT_TRUE(server_
                  ->SetPodLog("ns", "web-1", "tether",
                              "2024-05-01T10:00:00Z hello\n"
                              "2024-05-01T10:00:01.5Z world\n")
                  .ok());
  EXPECT_EQ(kubectl->Run({"logs", "web-1"}).stdout_text, "hello\nworld\n");
  EXPECT_EQ(
      kubectl->Run({"logs", "web-1", "--timestamps", "--tail=1"}).stdout_text,
      "2024-05-01T10:00:01.5Z world\n");
  EXPECT_EQ(kubectl->Run({"logs", "web-1", "--previous"}).stderr_text,
            "Error from server (BadRequest): previous terminated container "
            "\"tether\" in pod \"web-1\" not found\n");
}

// kubectl, a client nobody here wrote, applies server-side (with its
// default strict validation, which reads the OpenAPI), gets and watches;
// skipped where kubectl is not installed.
TEST_F(FakeApiServerTest, KubectlAppliesGetsAndWatches) {
  const std::string dir = TempDir();
  absl::StatusOr<testing::Kubectl> kubectl =
      testing::Kubectl::Create(server_->url(), "ns", dir);
  if (absl::IsNotFound(kubectl.status())) {
    GTEST_SKIP() << kubectl.status().message();
  }
  ASSERT_TRUE(kubectl.ok()) << kubectl.status();
  auto apply = [&](const json& object, std::vector<std::string> flags) {
    const std::string file = absl::StrCat(dir, "/apply.json");
    std::ofstream(file) << object.dump();
    flags.insert(flags.begin(), {"apply", "--server-side", "-f", file});
    return kubectl->Run(flags);
  };
  json web = Deployment("web");
  web["spec"]["template"]["spec"]["containers"][0]["env"] = {
      {{"name", "A"}, {"value", "1"}}};
  testing::Kubectl::Result applied = apply(web, {});
  ASSERT_TRUE(applied.ok()) << applied.stderr_text;
  EXPECT_EQ(applied.stdout_text, "deployment.apps/web serverside-applied\n");

  absl::StatusOr<std::unique_ptr<testing::KubectlProcess>> watch =
      kubectl->Start({"get", "pods", "--watch", "-o", "name"});
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_EQ(Do("POST", "/api/v1/namespaces/ns/pods",
               R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1"},)"
               R"("spec":{"containers":[{"name":"c","image":"busybox"}]}})")
                .code,
            201);
  EXPECT_TRUE((*watch)->WaitForOutput("pod/web-1\n")) << (*watch)->Output();

  // Another manager's container change merges by the patch keys.
  const json user_change = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "web"}}},
      {"spec",
       {{"template",
         {{"spec",
           {{"containers",
             {{{"name", "c"},
               {"env", {{{"name", "B"}, {"value", "2"}}}}}}}}}}}}}};
  applied = apply(user_change, {"--field-manager=user"});
  ASSERT_TRUE(applied.ok()) << applied.stderr_text;
  testing::Kubectl::Result got =
      kubectl->Run({"get", "deploy", "web", "-o", "json"});
  ASSERT_TRUE(got.ok()) << got.stderr_text;
  json container =
      json::parse(got.stdout_text)["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["image"], "busybox");
  EXPECT_EQ(container["env"].size(), 2u) << container;

  // Changing a field kubectl's apply owns conflicts, as upstream words it,
  // until forced.
  json replicas = user_change;
  replicas["spec"]["replicas"] = 5;
  applied = apply(replicas, {"--field-manager=user"});
  EXPECT_FALSE(applied.ok());
  EXPECT_THAT(applied.stderr_text,
              HasSubstr("Apply failed with 1 conflict: conflict with "
                        "\"kubectl\" using apps/v1: .spec.replicas"));
  applied = apply(replicas, {"--field-manager=user", "--force-conflicts"});
  ASSERT_TRUE(applied.ok()) << applied.stderr_text;
  got = kubectl->Run({"get", "deployments", "-o", "json"});
  ASSERT_TRUE(got.ok()) << got.stderr_text;
  EXPECT_EQ(json::parse(got.stdout_text)["items"][0]["spec"]["replicas"], 5);
  // Short names come from discovery.
  got = kubectl->Run({"get", "deploy", "-o", "name"});
  EXPECT_EQ(got.stdout_text, "deployment.apps/web\n") << got.stderr_text;
}

TEST_F(FakeApiServerTest, WatchStreamsEventsAfterResourceVersion) {
  std::string rv = Do("GET", cms_).Json()["metadata"]["resourceVersion"];
  std::string cmd = absl::StrCat(
      "curl -sS -N ",
      Url(cms_ + "?watch=1&timeoutSeconds=2&resourceVersion=" + rv));
  std::string events;
  // Watching from `rv` replays what happened since, however late curl
  // connects.
  std::thread watcher([&] { events = RunCommand(cmd); });
  json cm = Do("POST", cms_, ConfigMap("a", {{"app", "x"}}).dump()).Json();
  cm["data"]["k"] = "v2";
  ASSERT_EQ(Do("PUT", cms_ + "/a", cm.dump()).code, 200);
  ASSERT_EQ(Do("DELETE", cms_ + "/a").code, 200);
  watcher.join();  // timeoutSeconds ends the stream.
  std::vector<std::string> lines =
      absl::StrSplit(events, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << events;
  EXPECT_EQ(json::parse(lines[0])["type"], "ADDED");
  EXPECT_EQ(json::parse(lines[1])["type"], "MODIFIED");
  EXPECT_EQ(json::parse(lines[1])["object"]["data"]["k"], "v2");
  EXPECT_EQ(json::parse(lines[2])["type"], "DELETED");
}

TEST_F(FakeApiServerTest, TooOldResourceVersionExpires) {
  std::string rv = Do("POST", cms_, ConfigMap("a", nullptr).dump())
                       .Json()["metadata"]["resourceVersion"];
  ASSERT_EQ(Do("POST", cms_, ConfigMap("b", nullptr).dump()).code, 201);
  // Drops history up to the current version, so `rv` is now too old.
  ASSERT_EQ(Do("POST", "/_fake/compact", "{}").code, 200);
  Response r =
      Do("GET", cms_ + "?watch=1&timeoutSeconds=2&resourceVersion=" + rv);
  ASSERT_EQ(r.code, 200);
  json event = json::parse(r.body.substr(0, r.body.find('\n')), nullptr, false);
  EXPECT_EQ(event["type"], "ERROR") << r.body;
  EXPECT_EQ(event["object"]["code"], 410);
  EXPECT_EQ(event["object"]["reason"], "Expired");
  r = Do("GET", cms_ + "?resourceVersionMatch=Exact&resourceVersion=" + rv);
  EXPECT_EQ(r.code, 410);
  EXPECT_EQ(r.Json()["reason"], "Expired");
}

TEST_F(FakeApiServerTest, InjectedThrottling) {
  ASSERT_EQ(Do("POST", "/_fake/failures",
               R"({"pathPrefix":"/api/v1","count":2,"code":429,)"
               R"("retryAfterSeconds":3})")
                .code,
            200);
  Response r = Do("GET", cms_);
  EXPECT_EQ(r.code, 429);
  EXPECT_EQ(r.headers["retry-after"], "3");
  EXPECT_EQ(r.Json()["reason"], "TooManyRequests");
  EXPECT_EQ(r.Json()["details"]["retryAfterSeconds"], 3);
  EXPECT_EQ(Do("GET", cms_).code, 429);
  EXPECT_EQ(Do("GET", cms_).code, 200);
}

}  // namespace
}  // namespace tether::fake_kube
