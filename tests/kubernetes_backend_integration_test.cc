// End to end on the Kubernetes backend without a cluster: the real tetherd
// (--backend=kubernetes, kubeconfig from $KUBECONFIG) drives the fake API
// server over HTTP, and the test plays the controllers and the kubelet: it
// creates the pods the Deployment asks for, starts the real tether-agent with
// the container's arguments and the token from the Secret, and writes pod
// status the way the kubelet would.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "clients/cpp/direct_caller.h"
#include "common/exec_args.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kube/fake_pod_logs.h"
#include "kube/kube_client_http.h"
#include "kube/kube_config.h"
#include "kube/resource_type.h"
#include "kube/restricted_profile.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube_apiserver/fake_kube_apiserver_process.h"
#include "tests/fake_kube_apiserver/kubectl.h"
#include "tests/service_test_util.h"
#include "tests/tetherd_process.h"

namespace tether::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using tether::v1::DeployEvent;

constexpr char kNs[] = "ml";

constexpr char kModule[] = R"py(
def greet(name):
    return f"Hello from a pod, {name}!"
)py";

// Plays the ReplicaSet controller and the kubelet. Stops its agents on
// destruction.
class FakeKubelet {
 public:
  FakeKubelet(const FakeKubeApiserverProcess& apiserver,
              kube::KubeClient& client, std::string tetherd_address,
              std::string dir)
      : apiserver_(apiserver),
        client_(client),
        tetherd_address_(std::move(tetherd_address)),
        dir_(std::move(dir)) {}
  ~FakeKubelet() {
    for (const auto& [pod, pid] : agents_) kill(pid, SIGTERM);
    for (const auto& [pod, pid] : agents_) waitpid(pid, nullptr, 0);
  }

  // Creates pod `name` from the template of Deployment `service`.
  absl::StatusOr<json> CreatePod(const std::string& service,
                                 const std::string& name) {
    ASSIGN_OR_RETURN(json deployment,
                     client_.Get(kube::kDeployments, kNs, service));
    const json& pod_template = deployment["spec"]["template"];
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", pod_template["metadata"]},
                {"spec", pod_template["spec"]}};
    pod["metadata"]["name"] = name;
    pod["metadata"]["namespace"] = kNs;
    // The scheduler's part: the pod is on a node (its log can be read).
    pod["spec"]["nodeName"] = "node-a";
    return client_.Apply(pod);
  }

  // The kubelet's status write.
  absl::Status SetPodStatus(const std::string& name, const json& status) {
    return apiserver_
        .Send("PUT",
              absl::StrCat("/_fake/status",
                           kube::ResourcePath(kube::kPods, kNs, name)),
              status.dump())
        .status();
  }

  // Creates the pod, runs its agent container as a local process and
  // reports it running and ready.
  absl::Status RunPod(const std::string& service, const std::string& name) {
    ASSIGN_OR_RETURN(json pod, CreatePod(service, name));
    const json& container = pod["spec"]["containers"][0];
    ASSIGN_OR_RETURN(std::string agent, FindDataFile("agent/tether-agent"));
    const std::string workdir = absl::StrCat(dir_, "/", name);
    RETURN_IF_ERROR(MakeDirs(workdir));
    // The pod's network is loopback here, and tetherd's Service name
    // resolves to the test's tetherd.
    const std::map<std::string, std::string> replaced = {
        {"--gateway", tetherd_address_},
        {"--workdir", workdir},
        {"--listen", "127.0.0.1:0"},
        {"--health_listen", "127.0.0.1:0"}};
    std::vector<std::string> argv = {agent};
    for (const json& arg : container["args"]) {
      std::string text = absl::StrReplaceAll(
          arg.get<std::string>(),
          {{"$(TETHER_POD_NAME)", name}, {"$(TETHER_POD_IP)", "127.0.0.1"}});
      const std::string flag = text.substr(0, text.find('='));
      if (auto it = replaced.find(flag); it != replaced.end()) {
        text = absl::StrCat(flag, "=", it->second);
      }
      argv.push_back(std::move(text));
    }
    std::string token;
    for (const json& var : container["env"]) {
      if (var["name"] != "TETHER_SERVICE_TOKEN") continue;
      const std::string secret_name =
          var["valueFrom"]["secretKeyRef"]["name"].get<std::string>();
      ASSIGN_OR_RETURN(json secret,
                       client_.Get(kube::kSecrets, kNs, secret_name));
      // The fake API server keeps stringData as written.
      token = secret["stringData"]["token"].get<std::string>();
    }
    const pid_t pid = fork();
    if (pid < 0) return absl::InternalError("fork failed");
    if (pid == 0) {
      setenv("TETHER_SERVICE_TOKEN", token.c_str(), 1);
      std::vector<char*> args = ExecArgs(argv);
      execv(args[0], args.data());
      _exit(127);
    }
    agents_[name] = pid;
    return SetPodStatus(name, {{"phase", "Running"},
                               {"podIP", "127.0.0.1"},
                               {"conditions",
                                {{{"type", "PodScheduled"}, {"status", "True"}},
                                 {{"type", "Ready"}, {"status", "True"}}}},
                               {"containerStatuses",
                                {{{"name", "tether"},
                                  {"ready", true},
                                  {"restartCount", 0},
                                  {"state", {{"running", json::object()}}}}}}});
  }

  // The ReplicaSet controller scaled down: the pod's agent stops and the
  // pod goes.
  absl::Status StopPod(const std::string& name) {
    auto it = agents_.find(name);
    if (it == agents_.end()) return absl::NotFoundError(name);
    kill(it->second, SIGTERM);
    waitpid(it->second, nullptr, 0);
    agents_.erase(it);
    return client_.Delete(kube::kPods, kNs, name);
  }

 private:
  const FakeKubeApiserverProcess& apiserver_;
  kube::KubeClient& client_;
  const std::string tetherd_address_;
  const std::string dir_;
  // Agent processes by pod name.
  std::map<std::string, pid_t> agents_;
};

tether::v1::ServiceSpec PodSpec(const std::string& name, int replicas = 1) {
  tether::v1::ServiceSpec spec = PythonSpec(name, "greet", replicas);
  spec.mutable_compute()->set_image("python:3.11-slim");
  return spec;
}

// A Deploy running on its own thread while the test plays the cluster.
class BackgroundDeploy {
 public:
  BackgroundDeploy(TetherdProcess& tetherd, tether::v1::ServiceSpec spec,
                   const std::string& revision)
      : thread_([this, &tetherd, spec = std::move(spec), revision] {
          status_ = tetherd.Deploy(spec, revision, &events_);
        }) {}
  ~BackgroundDeploy() { Wait(); }

  // Waits for the end of the deploy and returns how it ended.
  const grpc::Status& Wait() {
    if (thread_.joinable()) thread_.join();
    return status_;
  }
  const std::vector<DeployEvent>& events() const { return events_; }

 private:
  grpc::Status status_;
  std::vector<DeployEvent> events_;
  std::thread thread_;  // Last: runs once the members above exist.
};

class KubernetesBackendIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto apiserver = FakeKubeApiserverProcess::Start();
    ASSERT_TRUE(apiserver.ok()) << apiserver.status();
    apiserver_ = *std::move(apiserver);
    dir_ = NewTempDir("k8s");
    const std::string& dir = dir_;
    // What `kubectl config` writes for a token user.
    const std::string kubeconfig = dir + "/kubeconfig";
    ASSERT_TRUE(
        WriteFileAtomically(kubeconfig,
                            absl::StrCat("apiVersion: v1\nkind: Config\n"
                                         "clusters:\n- name: fake\n  cluster:\n"
                                         "    server: ",
                                         apiserver_->url(),
                                         "\nusers:\n- name: dev\n  user:\n"
                                         "    token: dev-token\n"
                                         "contexts:\n- name: fake\n  context:\n"
                                         "    cluster: fake\n    user: dev\n"
                                         "    namespace: ",
                                         kNs, "\ncurrent-context: fake\n"))
            .ok());
    setenv("KUBECONFIG", kubeconfig.c_str(), 1);
    auto tetherd = TetherdProcess::Start(
        dir + "/state", {"--backend=kubernetes",
                         "--agent_image=registry.example.com/tether/agent:1",
                         "--advertise_address=tetherd.tether-system.svc:7700"});
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = *std::move(tetherd);

    absl::StatusOr<kube::KubeConfig> config = kube::LoadKubeconfig(kubeconfig);
    ASSERT_TRUE(config.ok()) << config.status();
    kube::KubeClientHttp::Options options;
    options.config = *config;
    auto client = kube::KubeClientHttp::Create(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    kubelet_ = std::make_unique<FakeKubelet>(*apiserver_, *client_,
                                             tetherd_->address(), dir);
    const std::string code = dir + "/code";
    WriteTree(code, {{"app.py", kModule}});
    revision_ = UploadDir(*tetherd_, code);
  }

  grpc::Status DeleteService(const std::string& name) {
    grpc::ClientContext context;
    tether::v1::DeleteServiceRequest request;
    request.set_name(name);
    tether::v1::DeleteServiceResponse response;
    return tetherd_->stub().DeleteService(&context, request, &response);
  }

  // Waits until tetherd has applied Deployment `name`.
  bool AwaitDeployment(const std::string& name) {
    return WaitFor(
        [&] { return client_->Get(kube::kDeployments, kNs, name).ok(); },
        absl::Seconds(20));
  }

  std::string dir_;
  std::unique_ptr<FakeKubeApiserverProcess> apiserver_;
  std::unique_ptr<TetherdProcess> tetherd_;
  std::unique_ptr<kube::KubeClientHttp> client_;
  std::unique_ptr<FakeKubelet> kubelet_;
  std::string revision_;
};

TEST_F(KubernetesBackendIntegrationTest, DeploysCallsAndDeletesThroughPods) {
  BackgroundDeploy deploy(*tetherd_, PodSpec("hello", 2), revision_);
  ASSERT_TRUE(AwaitDeployment("hello")) << deploy.Wait().error_message();
  // Pods with ReplicaSet-style names, not "<service>-<index>".
  ASSERT_TRUE(kubelet_->RunPod("hello", "hello-6c9f7d-abcde").ok());
  ASSERT_TRUE(kubelet_->RunPod("hello", "hello-6c9f7d-fghij").ok());
  const grpc::Status& deployed = deploy.Wait();
  ASSERT_TRUE(deployed.ok()) << deployed.error_message();
  EXPECT_EQ(deploy.events().back().stage(), DeployEvent::STAGE_READY);
  // For BENCHMARKS.md: one apply (Secret, Deployment, Service, PDB and the
  // label sweeps) against the fake API server.
  google::protobuf::Timestamp accepted, applied;
  for (const DeployEvent& event : deploy.events()) {
    if (event.stage() == DeployEvent::STAGE_ACCEPTED) accepted = event.time();
    if (event.stage() == DeployEvent::STAGE_APPLIED) applied = event.time();
  }
  std::cerr << "apply took "
            << google::protobuf::util::TimeUtil::DurationToMilliseconds(
                   applied - accepted)
            << " ms\n";

  EXPECT_EQ(CallService(*tetherd_, "hello", R"({"args":["Ada"]})"),
            R"("Hello from a pod, Ada!")");
  grpc::ClientContext context;
  tether::v1::GetServiceRequest get;
  get.set_name("hello");
  tether::v1::ServiceStatus status;
  ASSERT_TRUE(tetherd_->stub().GetService(&context, get, &status).ok());
  ASSERT_EQ(status.replicas_size(), 2);
  EXPECT_EQ(status.replicas(0).name(), "hello-6c9f7d-abcde");
  EXPECT_EQ(status.replicas(0).address().rfind("127.0.0.1:", 0), 0u)
      << "the agent advertises the pod IP, not 0.0.0.0";

  ASSERT_TRUE(DeleteService("hello").ok());
  EXPECT_TRUE(absl::IsNotFound(
      client_->Get(kube::kDeployments, kNs, "hello").status()));
  EXPECT_TRUE(absl::IsNotFound(
      client_->Get(kube::kSecrets, kNs, "hello-tether-token").status()));
}

// The cluster's pod policy (default: no privileged containers) sees the pod
// after the templates are merged: a privileged cluster template fails the
// deploy before the service is recorded or anything applied; without it
// the pod passes the restricted profile.
TEST_F(KubernetesBackendIntegrationTest, APrivilegedTemplateIsRefused) {
  ASSERT_TRUE(client_
                  ->Apply(json::parse(R"({
    "apiVersion": "v1", "kind": "PodTemplate",
    "metadata": {"name": "tether-default", "namespace": "ml"},
    "template": {"spec": {"containers": [
      {"name": "primary", "securityContext": {"privileged": true}}]}}})"))
                  .ok());
  BackgroundDeploy deploy(*tetherd_, PodSpec("hello", 1), revision_);
  const grpc::Status& refused = deploy.Wait();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(refused.error_message(),
            "Deployment/hello: spec.template.spec.containers[0]."
            "securityContext.privileged: true is refused by the cluster's "
            "pod policy (tetherd --pod_policy_file, allow_privileged)");
  grpc::ClientContext context;
  tether::v1::GetServiceRequest get;
  get.set_name("hello");
  tether::v1::ServiceStatus status;
  EXPECT_EQ(tetherd_->stub().GetService(&context, get, &status).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(absl::IsNotFound(
      client_->Get(kube::kSecrets, kNs, "hello-tether-token").status()));

  ASSERT_TRUE(client_->Delete(kube::kPodTemplates, kNs, "tether-default").ok());
  BackgroundDeploy allowed(*tetherd_, PodSpec("hello", 1), revision_);
  ASSERT_TRUE(AwaitDeployment("hello")) << allowed.Wait().error_message();
  absl::StatusOr<json> applied = client_->Get(kube::kDeployments, kNs, "hello");
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_THAT(
      kube::RestrictedProfileViolations((*applied)["spec"]["template"]["spec"]),
      ::testing::IsEmpty());
  ASSERT_TRUE(DeleteService("hello").ok());
}

// A team's own Deployment (`tether apply`): tetherd injects the agent into
// its pod template, its pods serve the callable, and delete removes it.
TEST_F(KubernetesBackendIntegrationTest, AppliesATeamsDeploymentWithTheAgent) {
  tether::v1::ServiceSpec spec = PythonSpec("hello", "greet");
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "hello", "labels": {"team": "ml"}},
                      "spec": {"replicas": 1,
                        "selector": {"matchLabels": {"app": "hello"}},
                        "template": {"metadata": {"labels": {"app": "hello"}},
                          "spec": {"containers": [{"name": "app",
                            "image": "python:3.11-slim",
                            "env": [{"name": "MODE", "value": "prod"}]}]}}}})",
                  spec.mutable_workload()->mutable_object())
                  .ok());
  BackgroundDeploy deploy(*tetherd_, spec, revision_);
  ASSERT_TRUE(AwaitDeployment("hello")) << deploy.Wait().error_message();
  absl::StatusOr<json> applied = client_->Get(kube::kDeployments, kNs, "hello");
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ((*applied)["metadata"]["labels"]["team"], "ml");
  EXPECT_EQ((*applied)["metadata"]["labels"]["tether.dev/service"], "hello");
  const json& pod = (*applied)["spec"]["template"];
  EXPECT_TRUE(pod["metadata"]["annotations"].contains("tether.dev/status"));
  const json& app = pod["spec"]["containers"][0];
  EXPECT_EQ(app["name"], "app");
  EXPECT_EQ(app["command"], json::array({"/tether/bin/tether-agent"}));

  ASSERT_TRUE(kubelet_->RunPod("hello", "hello-7d4b9c-abcde").ok());
  const grpc::Status& deployed = deploy.Wait();
  ASSERT_TRUE(deployed.ok()) << deployed.error_message();
  EXPECT_EQ(CallService(*tetherd_, "hello", R"({"args":["Ada"]})"),
            R"("Hello from a pod, Ada!")");

  ASSERT_TRUE(DeleteService("hello").ok());
  EXPECT_TRUE(absl::IsNotFound(
      client_->Get(kube::kDeployments, kNs, "hello").status()));
}

// A Job keeps its program under the agent and cannot be scaled.
TEST_F(KubernetesBackendIntegrationTest, AppliesAJobThatStillFinishes) {
  tether::v1::ServiceSpec spec = PythonSpec("train", "greet");
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"apiVersion": "batch/v1", "kind": "Job",
                      "metadata": {"name": "train"},
                      "spec": {"template": {"spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "train",
                          "image": "python:3.11-slim",
                          "command": ["python", "train.py"]}]}}}})",
                  spec.mutable_workload()->mutable_object())
                  .ok());
  BackgroundDeploy deploy(*tetherd_, spec, revision_);
  ASSERT_TRUE(
      WaitFor([&] { return client_->Get(kube::kJobs, kNs, "train").ok(); },
              absl::Seconds(20)))
      << deploy.Wait().error_message();
  const json job = *client_->Get(kube::kJobs, kNs, "train");
  const json& args = job["spec"]["template"]["spec"]["containers"][0]["args"];
  EXPECT_EQ(args.back(), R"(--app_command=["python","train.py"])");

  grpc::ClientContext scale_context;
  tether::v1::ScaleServiceRequest scale;
  scale.set_name("train");
  scale.set_replicas(0);
  tether::v1::ServiceStatus scaled;
  const grpc::Status refused =
      tetherd_->stub().ScaleService(&scale_context, scale, &scaled);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("cannot be scaled"));

  ASSERT_TRUE(DeleteService("train").ok());
  EXPECT_TRUE(
      absl::IsNotFound(client_->Get(kube::kJobs, kNs, "train").status()));
  // The deploy that waited for the Job's pod ends with the delete.
  deploy.Wait();
}

// Any kind with a pod template: a custom resource found by discovery.
TEST_F(KubernetesBackendIntegrationTest, AppliesACustomResourceByItsPath) {
  tether::v1::ServiceSpec spec = PythonSpec("train", "greet");
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                      "metadata": {"name": "train"},
                      "spec": {"pytorchReplicaSpecs": {"Worker": {
                        "replicas": 1, "template": {"spec": {"containers": [
                          {"name": "pytorch", "image": "pytorch:2",
                           "command": ["python", "train.py"]}]}}}}}})",
                  spec.mutable_workload()->mutable_object())
                  .ok());
  spec.mutable_workload()->set_pod_template_path(
      "spec.pytorchReplicaSpecs.Worker.template");
  BackgroundDeploy deploy(*tetherd_, spec, revision_);
  absl::StatusOr<kube::ResourceType> type =
      client_->Discover("kubeflow.org/v1", "PyTorchJob");
  ASSERT_TRUE(type.ok()) << type.status();
  EXPECT_EQ(type->plural, "pytorchjobs");
  ASSERT_TRUE(WaitFor([&] { return client_->Get(*type, kNs, "train").ok(); },
                      absl::Seconds(20)))
      << deploy.Wait().error_message();
  const json job = *client_->Get(*type, kNs, "train");
  const json& pod = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"];
  EXPECT_EQ(pod["metadata"]["labels"]["tether.dev/service"], "train");
  EXPECT_EQ(pod["spec"]["containers"][0]["args"].back(),
            R"(--app_command=["python","train.py"])");

  ASSERT_TRUE(DeleteService("train").ok());
  EXPECT_TRUE(absl::IsNotFound(client_->Get(*type, kNs, "train").status()));
  deploy.Wait();
}

// kubectl, the tool users run, sees what tetherd applied and the pods come,
// and a user's server-side apply merges with tetherd's by the patch keys;
// skipped where kubectl is not installed.
TEST_F(KubernetesBackendIntegrationTest,
       KubectlSeesTheDeployAndMergesAUserChange) {
  absl::StatusOr<Kubectl> kubectl =
      Kubectl::Create(apiserver_->url(), kNs, dir_);
  if (absl::IsNotFound(kubectl.status())) {
    GTEST_SKIP() << kubectl.status().message();
  }
  ASSERT_TRUE(kubectl.ok()) << kubectl.status();
  absl::StatusOr<std::unique_ptr<KubectlProcess>> pods =
      kubectl->Start({"get", "pods", "--watch", "-o", "name"});
  ASSERT_TRUE(pods.ok()) << pods.status();

  BackgroundDeploy deploy(*tetherd_, PodSpec("hello"), revision_);
  ASSERT_TRUE(AwaitDeployment("hello")) << deploy.Wait().error_message();
  ASSERT_TRUE(kubelet_->RunPod("hello", "hello-6c9f7d-abcde").ok());
  const grpc::Status& deployed = deploy.Wait();
  ASSERT_TRUE(deployed.ok()) << deployed.error_message();
  EXPECT_TRUE((*pods)->WaitForOutput("pod/hello-6c9f7d-abcde\n"))
      << (*pods)->Output();

  auto tether_container = [&]() -> json {
    Kubectl::Result got = kubectl->Run({"get", "deployments", "-o", "json"});
    EXPECT_TRUE(got.ok()) << got.stderr_text;
    const json list = json::parse(got.stdout_text, nullptr, false);
    EXPECT_EQ(list["items"].size(), 1u) << got.stdout_text;
    for (const json& c :
         list["items"][0]["spec"]["template"]["spec"]["containers"]) {
      if (c["name"] == "tether") return c;
    }
    ADD_FAILURE() << "no tether container: " << got.stdout_text;
    return json();
  };
  const json applied = tether_container();
  EXPECT_EQ(applied["image"], "python:3.11-slim");
  ASSERT_TRUE(applied["env"].is_array()) << applied;

  // A user adds a variable to tetherd's container with their own apply.
  const std::string change = dir_ + "/change.yaml";
  ASSERT_TRUE(WriteFileAtomically(change,
                                  "apiVersion: apps/v1\n"
                                  "kind: Deployment\n"
                                  "metadata:\n  name: hello\n"
                                  "spec:\n  template:\n    spec:\n"
                                  "      containers:\n"
                                  "      - name: tether\n"
                                  "        env:\n"
                                  "        - name: EXTRA\n"
                                  "          value: \"1\"\n")
                  .ok());
  Kubectl::Result user = kubectl->Run(
      {"apply", "--server-side", "--field-manager=user", "-f", change});
  ASSERT_TRUE(user.ok()) << user.stderr_text;
  const json merged = tether_container();
  EXPECT_EQ(merged["image"], applied["image"]);
  EXPECT_EQ(merged["args"], applied["args"]);
  EXPECT_EQ(merged["env"].size(), applied["env"].size() + 1) << merged;
  for (const json& var : applied["env"]) {
    EXPECT_NE(std::find(merged["env"].begin(), merged["env"].end(), var),
              merged["env"].end())
        << var;
  }
  EXPECT_NE(std::find(merged["env"].begin(), merged["env"].end(),
                      json({{"name", "EXTRA"}, {"value", "1"}})),
            merged["env"].end())
      << merged;
}

// A pod that asked for the agent but was admitted without it (no webhook
// here, as when tether-injector is down): tetherd lists it, says so to
// `tether status`, warns on its ReplicaSet with an Event kubectl shows (when
// installed), and forgets it once it is deleted.
TEST_F(KubernetesBackendIntegrationTest, ReportsAPodAdmittedWithoutTheAgent) {
  json pod = json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
      "name": "byo-5d8f-xyz12",
      "labels": {"tether.dev/inject": "true", "app": "byo"},
      "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                           "name": "byo-5d8f", "uid": "rs-1",
                           "controller": true}]},
    "spec": {"containers": [{"name": "app", "image": "python:3.11"}]}})");
  pod["metadata"]["namespace"] = kNs;
  ASSERT_TRUE(client_->Apply(pod).ok());
  const auto listed = [&] {
    grpc::ClientContext context;
    tether::v1::ListServicesResponse list;
    EXPECT_TRUE(
        tetherd_->stub()
            .ListServices(&context, tether::v1::ListServicesRequest(), &list)
            .ok());
    return list;
  };
  ASSERT_TRUE(WaitFor([&] { return listed().uninjected_pods_size() == 1; }));
  const tether::v1::UninjectedPod found = listed().uninjected_pods(0);
  EXPECT_EQ(found.pod(), "byo-5d8f-xyz12");
  EXPECT_EQ(found.service(), "byo");
  EXPECT_EQ(found.owner_kind(), "ReplicaSet");
  EXPECT_EQ(found.owner_name(), "byo-5d8f");

  // tetherd does not know the service, and says why one might ask.
  grpc::ClientContext context;
  tether::v1::GetServiceRequest get;
  get.set_name("byo");
  tether::v1::ServiceStatus status;
  const grpc::Status got = tetherd_->stub().GetService(&context, get, &status);
  EXPECT_EQ(got.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(got.error_message(),
              HasSubstr("run without the agent (was "
                        "tether-injector down?): byo-5d8f-xyz12"));

  std::vector<json> events;
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<kube::ObjectList> list =
        client_->List(kube::kEvents, kNs, "");
    events.clear();
    if (!list.ok()) return false;
    for (const json& event : list->items) {
      if (event.value("reason", "") == "TetherNotInjected") {
        events.push_back(event);
      }
    }
    return !events.empty();
  }));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_EQ(events[0]["involvedObject"]["kind"], "ReplicaSet");
  EXPECT_EQ(events[0]["involvedObject"]["name"], "byo-5d8f");
  absl::StatusOr<Kubectl> kubectl =
      Kubectl::Create(apiserver_->url(), kNs, dir_);
  if (kubectl.ok()) {
    Kubectl::Result shown = kubectl->Run(
        {"get", "events", "-o",
         "jsonpath={range .items[*]}{.reason} {.involvedObject.kind}/"
         "{.involvedObject.name}{\"\\n\"}{end}"});
    ASSERT_TRUE(shown.ok()) << shown.stderr_text;
    EXPECT_THAT(shown.stdout_text,
                HasSubstr("TetherNotInjected ReplicaSet/byo-5d8f\n"));
  } else {
    EXPECT_TRUE(absl::IsNotFound(kubectl.status())) << kubectl.status();
  }

  ASSERT_TRUE(client_->Delete(kube::kPods, kNs, "byo-5d8f-xyz12").ok());
  EXPECT_TRUE(WaitFor([&] { return listed().uninjected_pods_size() == 0; }));
}

TEST_F(KubernetesBackendIntegrationTest, AnImagePullErrorFailsTheDeploy) {
  BackgroundDeploy deploy(*tetherd_, PodSpec("broken"), revision_);
  ASSERT_TRUE(AwaitDeployment("broken")) << deploy.Wait().error_message();
  ASSERT_TRUE(kubelet_->CreatePod("broken", "broken-5d8-xyz12").ok());
  const absl::Time pulled = absl::Now();
  ASSERT_TRUE(
      kubelet_
          ->SetPodStatus(
              "broken-5d8-xyz12",
              {{"phase", "Pending"},
               {"conditions", {{{"type", "PodScheduled"}, {"status", "True"}}}},
               {"containerStatuses",
                {{{"name", "tether"},
                  {"ready", false},
                  {"restartCount", 0},
                  {"state",
                   {{"waiting",
                     {{"reason", "ImagePullBackOff"},
                      {"message",
                       "Back-off pulling image \"python:3.11-nope\""}}}}}}}}})
          .ok());
  const grpc::Status& deployed = deploy.Wait();
  EXPECT_EQ(deployed.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(deployed.error_message(),
            "replica broken-5d8-xyz12: container tether: ImagePullBackOff: "
            "Back-off pulling image \"python:3.11-nope\"");
  std::cerr << "ImagePullBackOff reached the Deploy stream after "
            << absl::ToDoubleMilliseconds(absl::Now() - pulled) << " ms\n";
}

TEST_F(KubernetesBackendIntegrationTest,
       LogsShowWhatAPodPrintedWithoutAnAgent) {
  BackgroundDeploy deploy(*tetherd_, PodSpec("hello"), revision_);
  ASSERT_TRUE(AwaitDeployment("hello")) << deploy.Wait().error_message();
  // A pod whose agent never attaches: its container crashes at start and
  // waits to restart; the kubelet kept what its last run printed.
  const std::string pod = "hello-6c9f7d-abcde";
  ASSERT_TRUE(kubelet_->CreatePod("hello", pod).ok());
  const absl::Time crashed = absl::Now() - absl::Seconds(30);
  ASSERT_TRUE(apiserver_
                  ->SetPodLog(kNs, pod, "tether",
                              absl::StrCat(kube::FormatLogTime(crashed),
                                           " F1203 10:00:00.000000 1 "
                                           "agent.cc:1] cannot load the "
                                           "revision\n",
                                           kube::FormatLogTime(crashed),
                                           " exec format error\n"),
                              /*previous=*/true)
                  .ok());
  ASSERT_TRUE(
      kubelet_
          ->SetPodStatus(
              pod,
              {{"phase", "Running"},
               {"conditions", {{{"type", "PodScheduled"}, {"status", "True"}}}},
               {"containerStatuses",
                {{{"name", "tether"},
                  {"ready", false},
                  {"restartCount", 3},
                  {"state",
                   {{"waiting",
                     {{"reason", "CrashLoopBackOff"},
                      {"message",
                       "back-off 40s restarting failed container"}}}}},
                  {"lastState",
                   {{"terminated",
                     {{"exitCode", 1},
                      {"reason", "Error"},
                      {"containerID", "containerd://1a2b"}}}}}}}}})
          .ok());
  EXPECT_EQ(deploy.Wait().error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  // `tether logs hello` and `--replica`: the pod log, not UNAVAILABLE.
  for (const std::string& replica : {std::string(), pod}) {
    std::vector<tether::v1::LogLine> lines;
    grpc::Status status;
    ASSERT_TRUE(WaitFor(
        [&] {
          tether::v1::LogsRequest request;
          request.set_service("hello");
          request.set_replica(replica);
          grpc::ClientContext context;
          auto reader = tetherd_->stub().Logs(&context, request);
          lines.clear();
          tether::v1::LogsResponse response;
          while (reader->Read(&response)) lines.push_back(response.line());
          status = reader->Finish();
          return status.ok() && lines.size() == 2;
        },
        absl::Seconds(20)))
        << status.error_message();
    EXPECT_EQ(lines[0].replica(), pod);
    EXPECT_EQ(lines[0].level(), "pod");
    EXPECT_THAT(lines[0].text(), HasSubstr("cannot load the revision"));
    EXPECT_EQ(lines[0].time().seconds(), absl::ToUnixSeconds(crashed));
    EXPECT_EQ(lines[1].text(), "exec format error");
  }
}

TEST_F(KubernetesBackendIntegrationTest, ARestartedTetherdKeepsThePods) {
  BackgroundDeploy deploy(*tetherd_, PodSpec("hello"), revision_);
  ASSERT_TRUE(AwaitDeployment("hello")) << deploy.Wait().error_message();
  ASSERT_TRUE(kubelet_->RunPod("hello", "hello-6c9f7d-abcde").ok());
  ASSERT_TRUE(deploy.Wait().ok()) << deploy.Wait().error_message();

  // A crashed tetherd: the pods (agents) live on and re-attach.
  tetherd_->Kill();
  ASSERT_TRUE(tetherd_->Restart().ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        return CallService(*tetherd_, "hello", R"({"args":["again"]})") ==
               R"("Hello from a pod, again!")";
      },
      absl::Seconds(30)));
}

TEST_F(KubernetesBackendIntegrationTest, ParksThroughTheScaleSubresource) {
  BackgroundDeploy deploy(*tetherd_, PodSpec("hello"), revision_);
  ASSERT_TRUE(AwaitDeployment("hello")) << deploy.Wait().error_message();
  ASSERT_TRUE(kubelet_->RunPod("hello", "hello-6c9f7d-abcde").ok());
  ASSERT_TRUE(deploy.Wait().ok()) << deploy.Wait().error_message();

  grpc::ClientContext scale_context;
  tether::v1::ScaleServiceRequest scale;
  scale.set_name("hello");
  scale.set_replicas(0);
  tether::v1::ServiceStatus status;
  ASSERT_TRUE(
      tetherd_->stub().ScaleService(&scale_context, scale, &status).ok());
  auto replicas = [&] {
    absl::StatusOr<int32_t> count =
        client_->GetScale(kube::kDeployments, kNs, "hello");
    return count.ok() ? *count : -1;
  };
  ASSERT_TRUE(WaitFor([&] { return replicas() == 0; }, absl::Seconds(20)));
  // Only the count changed: the Service still resolves.
  EXPECT_TRUE(client_->Get(kube::kServices, kNs, "hello").ok());
  ASSERT_TRUE(kubelet_->StopPod("hello-6c9f7d-abcde").ok());

  // A call wakes it: tetherd scales the Deployment up, the "controller"
  // starts a pod, and the call is answered once its agent attaches.
  std::string answer;
  std::string woke_after_ms;
  std::thread caller([&] {
    tether::v1::CallRequest request;
    request.set_service("hello");
    request.set_payload(R"({"args":["Ada"]})");
    tether::v1::CallResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    const grpc::Status called =
        tetherd_->stub().Call(&context, request, &response);
    answer =
        called.ok() ? response.results(0).payload() : called.error_message();
    const auto& trailers = context.GetServerTrailingMetadata();
    if (auto it = trailers.find("tether-woke-after-ms"); it != trailers.end()) {
      woke_after_ms.assign(it->second.data(), it->second.size());
    }
  });
  const bool scaled_up =
      WaitFor([&] { return replicas() == 1; }, absl::Seconds(20));
  if (scaled_up) {
    EXPECT_TRUE(kubelet_->RunPod("hello", "hello-6c9f7d-klmno").ok());
  }
  caller.join();
  ASSERT_TRUE(scaled_up);
  EXPECT_EQ(answer, R"("Hello from a pod, Ada!")");
  EXPECT_FALSE(woke_after_ms.empty());
}

TEST_F(KubernetesBackendIntegrationTest, DirectCallsOutliveTetherd) {
  BackgroundDeploy deploy(*tetherd_, PodSpec("hello", 2), revision_);
  ASSERT_TRUE(AwaitDeployment("hello")) << deploy.Wait().error_message();
  ASSERT_TRUE(kubelet_->RunPod("hello", "hello-6c9f7d-abcde").ok());
  ASSERT_TRUE(kubelet_->RunPod("hello", "hello-6c9f7d-fghij").ok());
  ASSERT_TRUE(deploy.Wait().ok()) << deploy.Wait().error_message();

  client::DirectCaller::Options options;
  options.tetherd = grpc::CreateChannel(tetherd_->address(),
                                        grpc::InsecureChannelCredentials());
  options.service = "hello";
  auto caller = client::DirectCaller::Create(options);
  ASSERT_TRUE(caller.ok()) << caller.status();
  ASSERT_EQ((*caller)->endpoints()->endpoints_size(), 2);

  // tetherd crashes; the pods, and calls to them, go on.
  tetherd_->Kill();
  for (int i = 0; i < 4; ++i) {
    tether::v1::CallRequest request;
    request.set_service("hello");
    request.set_payload(R"({"args":["Ada"]})");
    tether::v1::CallResponse response;
    client::CallInfo info;
    const absl::Status called = (*caller)->Call(
        request, &response, absl::Now() + absl::Seconds(30), &info);
    ASSERT_TRUE(called.ok()) << called;
    EXPECT_TRUE(info.direct);
    EXPECT_EQ(response.results(0).payload(), R"("Hello from a pod, Ada!")");
  }
}

}  // namespace
}  // namespace tether::testing
