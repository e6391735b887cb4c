#include "kube/pod_policy.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

PodPolicy Policy(const std::string& text) {
  tether::v1::PodPolicy config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config));
  absl::StatusOr<PodPolicy> policy = PodPolicy::Create(config);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *policy : PodPolicy();
}

// What a check of `pod_spec` says: "" when allowed.
std::string Refusal(const PodPolicy& policy, const std::string& pod_spec) {
  const absl::Status status =
      policy.Check(json::parse(pod_spec), "spec.template.spec");
  if (status.ok()) return "";
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  return std::string(status.message());
}

constexpr char kSuffix[] =
    " is refused by the cluster's pod policy (tetherd --pod_policy_file, ";

TEST(PodPolicyTest, TheDefaultRefusesEveryHostFeature) {
  const PodPolicy policy;
  EXPECT_EQ(Refusal(policy, R"({"containers": [{"name": "a"}]})"), "");
  EXPECT_EQ(Refusal(policy, R"({"hostNetwork": false, "containers": [
              {"name": "a", "securityContext": {"privileged": false}}]})"),
            "");
  const std::pair<const char*, std::string> cases[] = {
      {R"({"hostNetwork": true})",
       std::string("spec.template.spec.hostNetwork: true") + kSuffix +
           "allow_host_network)"},
      {R"({"hostPID": true})", std::string("spec.template.spec.hostPID: true") +
                                   kSuffix + "allow_host_pid)"},
      {R"({"hostIPC": true})", std::string("spec.template.spec.hostIPC: true") +
                                   kSuffix + "allow_host_ipc)"},
      {R"({"volumes": [{"name": "a", "emptyDir": {}},
                       {"name": "b", "hostPath": {"path": "/var/log"}}]})",
       std::string(
           "spec.template.spec.volumes[1].hostPath.path: \"/var/log\"") +
           kSuffix + "allowed_host_paths)"},
      {R"({"initContainers": [{"name": "i"}], "containers": [{"name": "a"},
           {"name": "b", "securityContext": {"privileged": true}}]})",
       std::string("spec.template.spec.containers[1].securityContext."
                   "privileged: true") +
           kSuffix + "allow_privileged)"},
      {R"({"initContainers": [
           {"name": "i", "securityContext": {"privileged": true}}]})",
       std::string("spec.template.spec.initContainers[0].securityContext."
                   "privileged: true") +
           kSuffix + "allow_privileged)"},
      {R"({"containers": [{"name": "a", "ports": [{"containerPort": 80},
           {"containerPort": 8080, "hostPort": 8080}]}]})",
       std::string("spec.template.spec.containers[0].ports[1].hostPort: 8080") +
           kSuffix + "allow_host_ports)"},
      {R"({"containers": [{"name": "a", "securityContext": {"capabilities":
           {"add": ["NET_BIND_SERVICE", "CAP_SYS_ADMIN"]}}}]})",
       std::string("spec.template.spec.containers[0].securityContext."
                   "capabilities.add[1]: \"SYS_ADMIN\"") +
           kSuffix + "allowed_capabilities)"},
  };
  for (const auto& [pod_spec, want] : cases) {
    EXPECT_EQ(Refusal(policy, pod_spec), want) << pod_spec;
  }
}

TEST(PodPolicyTest, EachSettingAllowsItsOwnFeatureOnly) {
  const PodPolicy network = Policy("allow_host_network: true");
  EXPECT_EQ(Refusal(network, R"({"hostNetwork": true})"), "");
  EXPECT_NE(Refusal(network, R"({"hostNetwork": true, "hostPID": true})"), "");
  EXPECT_EQ(Refusal(Policy("allow_host_pid: true"), R"({"hostPID": true})"),
            "");
  EXPECT_EQ(Refusal(Policy("allow_host_ipc: true"), R"({"hostIPC": true})"),
            "");
  const PodPolicy privileged = Policy("allow_privileged: true");
  EXPECT_EQ(Refusal(privileged, R"({"containers": [
              {"name": "a", "securityContext": {"privileged": true}}]})"),
            "");
  EXPECT_NE(Refusal(privileged, R"({"hostIPC": true})"), "");
  EXPECT_EQ(Refusal(Policy("allow_host_ports: true"), R"({"containers": [
              {"name": "a", "ports": [{"hostPort": 80}]}]})"),
            "");
  // Listed capabilities match with or without the CAP_ prefix.
  const PodPolicy ptrace =
      Policy(R"pb(allowed_capabilities: "CAP_SYS_PTRACE")pb");
  EXPECT_EQ(Refusal(ptrace, R"({"containers": [{"name": "a", "securityContext":
              {"capabilities": {"add": ["SYS_PTRACE", "NET_BIND_SERVICE"]}}}]})"),
            "");
  EXPECT_NE(Refusal(ptrace, R"({"containers": [{"name": "a", "securityContext":
              {"capabilities": {"add": ["NET_ADMIN"]}}}]})"),
            "");
}

TEST(PodPolicyTest, HostPathsByWholeComponents) {
  const PodPolicy policy = Policy(R"pb(allowed_host_paths: "/var/log/"
                                       allowed_host_paths: "/mnt//models")pb");
  const auto volume = [](const std::string& path) {
    return absl::StrCat(R"({"volumes": [{"name": "v", "hostPath": {"path": ")",
                        path, R"("}}]})");
  };
  for (const char* allowed :
       {"/var/log", "/var/log/", "/var/log/app", "/mnt/models/./llama"}) {
    EXPECT_EQ(Refusal(policy, volume(allowed)), "") << allowed;
  }
  for (const char* refused :
       {"/var/logs", "/var", "/", "/var/log/../../etc", "var/log", ""}) {
    EXPECT_NE(Refusal(policy, volume(refused)), "") << refused;
  }
  EXPECT_EQ(Refusal(policy, volume("/var/log/../../etc")),
            std::string("spec.template.spec.volumes[0].hostPath.path: "
                        "\"/var/log/../../etc\", not an absolute path without "
                        "\"..\",") +
                kSuffix + "allowed_host_paths)");
  EXPECT_EQ(Refusal(Policy(R"pb(allowed_host_paths: "/")pb"), volume("/etc")),
            "");
}

TEST(PodPolicyTest, CreateRefusesBadHostPaths) {
  for (const char* bad : {"var/log", "/var/../etc", ""}) {
    tether::v1::PodPolicy config;
    config.add_allowed_host_paths("/ok");
    config.add_allowed_host_paths(bad);
    const absl::Status status = PodPolicy::Create(config).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(),
              absl::StrCat("allowed_host_paths[1]: \"", bad,
                           "\" is not an absolute path without \"..\""));
  }
}

TEST(PodPolicyTest, FromYamlFile) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/policy.yaml";
  ASSERT_TRUE(WriteFileAtomically(path, R"yaml(
# Node log shippers may read the logs.
allow_host_network: true
allowed_host_paths: [/var/log]
)yaml")
                  .ok());
  absl::StatusOr<PodPolicy> policy = PodPolicy::FromFile(path);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(Refusal(*policy, R"({"hostNetwork": true, "volumes": [
              {"name": "v", "hostPath": {"path": "/var/log/pods"}}]})"),
            "");
  EXPECT_NE(Refusal(*policy, R"({"hostPID": true})"), "");

  const std::string empty = dir + "/empty.yaml";
  ASSERT_TRUE(WriteFileAtomically(empty, "\n").ok());
  policy = PodPolicy::FromFile(empty);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_NE(Refusal(*policy, R"({"hostNetwork": true})"), "");

  const std::string typo = dir + "/typo.yaml";
  ASSERT_TRUE(WriteFileAtomically(typo, "allow_privledged: true\n").ok());
  const absl::Status status = PodPolicy::FromFile(typo).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(),
                               typo + ": allow_privledged: unknown field"))
      << status;
  const std::string bad_path = dir + "/bad-path.yaml";
  ASSERT_TRUE(
      WriteFileAtomically(bad_path, "allowed_host_paths: [logs]\n").ok());
  EXPECT_EQ(PodPolicy::FromFile(bad_path).status().message(),
            bad_path +
                ": allowed_host_paths[0]: \"logs\" is not an absolute path "
                "without \"..\"");
  EXPECT_EQ(PodPolicy::FromFile(dir + "/none.yaml").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tether::kube
