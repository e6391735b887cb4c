#include "kube/kube_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::kube {
namespace {

using ::testing::HasSubstr;

class KubeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = absl::StrCat(
        tmp != nullptr ? tmp : "/tmp", "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(RemoveAll(dir_).ok());
    ASSERT_TRUE(MakeDirs(dir_).ok());
  }

  std::string Write(const std::string& name, const std::string& contents) {
    std::string path = absl::StrCat(dir_, "/", name);
    EXPECT_TRUE(WriteFileAtomically(path, contents).ok());
    return path;
  }

  // An environment with only `vars` set.
  ConfigEnvironment Env(std::map<std::string, std::string> vars) {
    ConfigEnvironment env;
    env.getenv = [vars = std::move(vars)](const std::string& name) {
      auto it = vars.find(name);
      return it == vars.end() ? std::string() : it->second;
    };
    env.service_account_dir = dir_ + "/sa";
    return env;
  }

  std::string dir_;
};

constexpr char kTwoContexts[] = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://dev.example:6443
    certificate-authority-data: Q0EgUEVN
- name: prod-cluster
  cluster:
    server: https://prod.example
    certificate-authority: certs/ca.pem
    insecure-skip-tls-verify: true
contexts:
- name: dev
  context:
    cluster: dev-cluster
    user: dev-user
    namespace: team
- name: prod
  context:
    cluster: prod-cluster
    user: prod-user
users:
- name: dev-user
  user:
    token: dev-token
- name: prod-user
  user:
    client-certificate: certs/client.pem
    client-key-data: S0VZIFBFTQ==
    tokenFile: token
)";

TEST_F(KubeConfigTest, CurrentContext) {
  absl::StatusOr<KubeConfig> config =
      LoadKubeconfig(Write("config", kTwoContexts));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://dev.example:6443");
  EXPECT_EQ(config->ca_pem, "CA PEM");
  EXPECT_EQ(config->token, "dev-token");
  EXPECT_EQ(config->default_namespace, "team");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_TRUE(config->client_cert_pem.empty());
  EXPECT_FALSE(config->exec.has_value());
}

TEST_F(KubeConfigTest, NamedContextResolvesFilesAgainstKubeconfigDir) {
  ASSERT_TRUE(MakeDirs(dir_ + "/certs").ok());
  Write("certs/ca.pem", "PROD CA");
  Write("certs/client.pem", "CLIENT CERT");
  const std::string path = Write("config", kTwoContexts);
  absl::StatusOr<KubeConfig> config = LoadKubeconfig(path, "prod");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://prod.example");
  EXPECT_EQ(config->ca_pem, "PROD CA");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->client_cert_pem, "CLIENT CERT");
  EXPECT_EQ(config->client_key_pem, "KEY PEM");
  EXPECT_EQ(config->token_file, dir_ + "/token");
  EXPECT_EQ(config->default_namespace, "default");
}

TEST_F(KubeConfigTest, ErrorsNameFileAndField) {
  const std::string path = Write("config", kTwoContexts);
  absl::StatusOr<KubeConfig> config = LoadKubeconfig(path, "foo");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(),
            absl::StrCat("kubeconfig ", path, ": context \"foo\" not found"));

  // prod's client certificate file is missing.
  ASSERT_TRUE(MakeDirs(dir_ + "/certs").ok());
  Write("certs/ca.pem", "PROD CA");
  config = LoadKubeconfig(path, "prod");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("users[1].user.client-certificate: "));

  const std::string bad_key = Write("bad_key", R"(current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://k"}}]
users: [{name: u, user: {client-certificate-data: Q0VSVA==,
                         client-key-data: "not*base64"}}]
)");
  config = LoadKubeconfig(bad_key);
  EXPECT_EQ(config.status().message(),
            absl::StrCat("kubeconfig ", bad_key,
                         ": users[0].user.client-key-data: not base64"));

  const std::string no_cluster = Write("no_cluster", R"(current-context: c
contexts: [{name: c, context: {cluster: missing}}]
)");
  EXPECT_EQ(LoadKubeconfig(no_cluster).status().message(),
            absl::StrCat("kubeconfig ", no_cluster,
                         ": contexts[0].context.cluster: cluster \"missing\" "
                         "not found"));

  const std::string no_server = Write("no_server", R"(current-context: c
contexts: [{name: c, context: {cluster: k}}]
clusters: [{name: k, cluster: {insecure-skip-tls-verify: maybe}}]
)");
  EXPECT_EQ(LoadKubeconfig(no_server).status().message(),
            absl::StrCat("kubeconfig ", no_server,
                         ": clusters[0].cluster.server: missing"));

  const std::string no_current = Write("no_current", "contexts: []\n");
  EXPECT_EQ(LoadKubeconfig(no_current).status().message(),
            absl::StrCat("kubeconfig ", no_current,
                         ": current-context: not set, and no context was "
                         "given"));

  const std::string provider = Write("provider", R"(current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://k"}}]
users: [{name: u, user: {auth-provider: {name: gcp}}}]
)");
  EXPECT_THAT(std::string(LoadKubeconfig(provider).status().message()),
              HasSubstr(": users[0].user.auth-provider: not supported"));

  const std::string broken = Write("broken", "clusters: [\n");
  EXPECT_THAT(std::string(LoadKubeconfig(broken).status().message()),
              HasSubstr(absl::StrCat("kubeconfig ", broken, ": not YAML")));
}

TEST_F(KubeConfigTest, InClusterConfig) {
  EXPECT_EQ(InClusterConfig(Env({})).status().code(),
            absl::StatusCode::kFailedPrecondition);

  ConfigEnvironment env = Env({{"KUBERNETES_SERVICE_HOST", "fd00::1"},
                               {"KUBERNETES_SERVICE_PORT", "443"}});
  absl::StatusOr<KubeConfig> config = InClusterConfig(env);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr(dir_ + "/sa/token"));

  ASSERT_TRUE(MakeDirs(dir_ + "/sa").ok());
  Write("sa/token", "sa-token\n");
  Write("sa/ca.crt", "CLUSTER CA");
  Write("sa/namespace", "tether-system\n");
  config = InClusterConfig(env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://[fd00::1]:443");
  EXPECT_EQ(config->ca_pem, "CLUSTER CA");
  EXPECT_EQ(config->token_file, dir_ + "/sa/token");
  EXPECT_EQ(config->default_namespace, "tether-system");
  absl::StatusOr<std::string> token = TokenSource(*config).Token();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "sa-token");
}

TEST_F(KubeConfigTest, DefaultKubeConfigOrder) {
  const std::string config = Write("config", kTwoContexts);
  ASSERT_TRUE(MakeDirs(dir_ + "/home/.kube").ok());
  Write("home/.kube/config", R"(current-context: h
contexts: [{name: h, context: {cluster: k}}]
clusters: [{name: k, cluster: {server: "https://home"}}]
)");
  ASSERT_TRUE(MakeDirs(dir_ + "/sa").ok());
  Write("sa/token", "t");
  Write("sa/ca.crt", "ca");

  // KUBECONFIG: the first listed file that exists.
  absl::StatusOr<KubeConfig> loaded = DefaultKubeConfig(
      Env({{"KUBECONFIG", absl::StrCat(dir_, "/absent:", config)},
           {"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
           {"KUBERNETES_SERVICE_PORT", "443"}}));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->server, "https://dev.example:6443");
  EXPECT_EQ(DefaultKubeConfig(Env({{"KUBECONFIG", dir_ + "/absent"}}))
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);

  loaded = DefaultKubeConfig(Env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                                  {"KUBERNETES_SERVICE_PORT", "443"},
                                  {"HOME", dir_ + "/home"}}));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->server, "https://10.0.0.1:443");

  loaded = DefaultKubeConfig(Env({{"HOME", dir_ + "/home"}}));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->server, "https://home");

  loaded = DefaultKubeConfig(Env({{"HOME", dir_}}));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("set KUBECONFIG"));
}

TEST_F(KubeConfigTest, TokenFileIsReReadAfterItsTtl) {
  KubeConfig config;
  config.token = "ignored: the file wins";
  config.token_file = Write("token", "first\n");
  absl::Time now = absl::UnixEpoch();
  TokenSource::Options options;
  options.now = [&] { return now; };
  TokenSource tokens(config, options);
  EXPECT_EQ(*tokens.Token(), "first");

  Write("token", "second");
  now += absl::Seconds(59);
  EXPECT_EQ(*tokens.Token(), "first");
  now += absl::Seconds(1);
  EXPECT_EQ(*tokens.Token(), "second");

  // A vanished file keeps the last good token.
  ASSERT_EQ(unlink(config.token_file.c_str()), 0);
  now += absl::Minutes(5);
  EXPECT_EQ(*tokens.Token(), "second");

  KubeConfig fixed;
  fixed.token = "fixed";
  EXPECT_EQ(*TokenSource(fixed).Token(), "fixed");
  EXPECT_EQ(*TokenSource(KubeConfig()).Token(), "");
}

TEST_F(KubeConfigTest, ExecPluginTokenCachedUntilExpiry) {
  // The plugin counts its runs and echoes its argument and env into the
  // token; the expiry comes from a file the test rewrites.
  Write("expiry", "2030-01-01T00:00:00Z");
  ASSERT_TRUE(MakeDirs(dir_ + "/bin").ok());
  const std::string plugin = Write("bin/plugin.sh", R"sh(#!/bin/sh
dir=$(dirname "$0")/..
echo run >> "$dir/runs"
runs=$(wc -l < "$dir/runs")
api=$(echo "$KUBERNETES_EXEC_INFO" | sed 's/.*"apiVersion":"\([^"]*\)".*/\1/')
cat <<EOF
{"kind":"ExecCredential","apiVersion":"$api","status":{
 "token":"$1-$REGION-$runs","expirationTimestamp":"$(cat "$dir/expiry")"}}
EOF
)sh");
  ASSERT_EQ(chmod(plugin.c_str(), 0755), 0);
  const std::string path = Write("config", R"(current-context: c
contexts: [{name: c, context: {cluster: k, user: sso}}]
clusters: [{name: k, cluster: {server: "https://k"}}]
users:
- name: sso
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: bin/plugin.sh
      args: [tok]
      env: [{name: REGION, value: eu}]
)");
  absl::StatusOr<KubeConfig> config = LoadKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->exec.has_value());
  EXPECT_EQ(config->exec->command, plugin);
  EXPECT_EQ(config->exec->user, "sso");

  absl::Time now =
      absl::FromCivil(absl::CivilDay(2029, 12, 31), absl::UTCTimeZone());
  TokenSource::Options options;
  options.now = [&] { return now; };
  TokenSource tokens(*config, options);
  absl::StatusOr<std::string> token = tokens.Token();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "tok-eu-1");
  now += absl::Hours(23);
  EXPECT_EQ(*tokens.Token(), "tok-eu-1");
  now += absl::Hours(1);
  EXPECT_EQ(*tokens.Token(), "tok-eu-2");

  Write("expiry", "yesterday");
  now += absl::Hours(24 * 365 * 2);
  EXPECT_THAT(std::string(tokens.Token().status().message()),
              HasSubstr("status.expirationTimestamp"));

  config->exec->command = dir_ + "/missing-plugin";
  absl::StatusOr<std::string> failed = TokenSource(*config).Token();
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(failed.status().message()),
              HasSubstr("kubeconfig user \"sso\""));
}

TEST_F(KubeConfigTest, AnExecPluginThatHangsIsKilled) {
  KubeConfig config;
  config.exec.emplace();
  config.exec->user = "sso";
  config.exec->api_version = "client.authentication.k8s.io/v1";
  config.exec->command = "/bin/sleep";
  config.exec->args = {"600"};
  config.exec->timeout = absl::Milliseconds(100);
  const absl::StatusOr<std::string> token = TokenSource(config).Token();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(token.status().message()),
              HasSubstr("no answer within 100ms"));
}

TEST_F(KubeConfigTest, ExecPluginApiVersionChecked) {
  const std::string path = Write("config", R"(current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://k"}}]
users:
- name: u
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}
)");
  EXPECT_THAT(std::string(LoadKubeconfig(path).status().message()),
              HasSubstr(": users[0].user.exec.apiVersion: "
                        "\"client.authentication.k8s.io/v1alpha1\" "
                        "unsupported"));
}

}  // namespace
}  // namespace tether::kube
