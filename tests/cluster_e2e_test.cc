// End to end against a real Kubernetes cluster, when there is one: runs only
// with KUBECONFIG set (tools/test passes it through) and says it was skipped
// otherwise. It uses the kubeconfig context's namespace unless
// TETHER_E2E_NAMESPACE names another, and cleans up what it creates.
//
//   KUBECONFIG=~/.kube/config tools/test
//
// Deploying and calling real code also needs an agent image the cluster can
// pull and an address where pods reach the tetherd this test starts:
//   TETHER_E2E_AGENT_IMAGE=REGISTRY/tether/agent:TAG
//   TETHER_E2E_ADVERTISE_ADDRESS=HOST:PORT  (tetherd listens on 0.0.0.0:PORT)

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kube/kube_client_http.h"
#include "kube/kube_config.h"
#include "kube/resource_type.h"
#include "nlohmann/json.hpp"
#include "tests/service_test_util.h"
#include "tests/tetherd_process.h"

namespace tether::testing {
namespace {

using nlohmann::json;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

class ClusterE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("KUBECONFIG").empty()) {
      GTEST_SKIP() << "cluster end-to-end suite skipped: KUBECONFIG is not "
                      "set (set it to run against a real cluster)";
    }
    absl::StatusOr<kube::KubeConfig> config = kube::DefaultKubeConfig();
    ASSERT_TRUE(config.ok()) << config.status();
    namespace_ = Env("TETHER_E2E_NAMESPACE").empty()
                     ? config->default_namespace
                     : Env("TETHER_E2E_NAMESPACE");
    kube::KubeClientHttp::Options options;
    options.config = *config;
    auto client = kube::KubeClientHttp::Create(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    suffix_ = absl::StrCat(getpid());
  }

  // tetherd on the cluster's backend; `listen` overrides where it serves.
  std::unique_ptr<TetherdProcess> StartTetherd(const std::string& agent_image,
                                               const std::string& advertise,
                                               const std::string& listen = "") {
    std::vector<std::string> flags = {
        "--backend=kubernetes", absl::StrCat("--kube_namespace=", namespace_),
        absl::StrCat("--agent_image=", agent_image),
        absl::StrCat("--advertise_address=", advertise)};
    if (!listen.empty()) flags.push_back(absl::StrCat("--listen=", listen));
    auto tetherd = TetherdProcess::Start(NewTempDir("e2e"), flags);
    EXPECT_TRUE(tetherd.ok()) << tetherd.status();
    return tetherd.ok() ? *std::move(tetherd) : nullptr;
  }

  std::string Upload(TetherdProcess& tetherd) {
    const std::string code = NewTempDir("e2e-code");
    WriteTree(code, {{"app.py",
                      "def greet(name):\n"
                      "    return f'Hello from the cluster, {name}!'\n"}});
    return UploadDir(tetherd, code);
  }

  void Delete(TetherdProcess& tetherd, const std::string& service) {
    grpc::ClientContext context;
    tether::v1::DeleteServiceRequest request;
    request.set_name(service);
    tether::v1::DeleteServiceResponse response;
    const grpc::Status status =
        tetherd.stub().DeleteService(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(absl::IsNotFound(
        client_->Get(kube::kDeployments, namespace_, service).status()));
  }

  std::string namespace_;
  std::string suffix_;
  std::unique_ptr<kube::KubeClientHttp> client_;
};

TEST_F(ClusterE2eTest, TheClientAppliesWatchesAndDeletes) {
  const std::string name = absl::StrCat("tether-e2e-probe-", suffix_);
  const json secret = {{"apiVersion", "v1"},
                       {"kind", "Secret"},
                       {"metadata",
                        {{"name", name},
                         {"namespace", namespace_},
                         {"labels", {{"tether.dev/e2e", suffix_}}}}},
                       {"stringData", {{"probe", "1"}}}};
  absl::StatusOr<json> created = client_->Apply(secret);
  ASSERT_TRUE(created.ok()) << created.status();
  absl::StatusOr<json> again = client_->Apply(secret);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)["metadata"]["uid"], (*created)["metadata"]["uid"]);

  absl::StatusOr<kube::ObjectList> list = client_->List(
      kube::kSecrets, namespace_, absl::StrCat("tether.dev/e2e=", suffix_));
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items.size(), 1u);

  ASSERT_TRUE(client_->Delete(kube::kSecrets, namespace_, name).ok());
  // The deletion arrives on a watch from the list's version.
  kube::WatchOptions watch;
  watch.label_selector = absl::StrCat("tether.dev/e2e=", suffix_);
  watch.resource_version = list->resource_version;
  watch.timeout = absl::Seconds(30);
  bool deleted = false;
  const absl::Status watched = client_->Watch(
      kube::kSecrets, namespace_, watch, [&](const kube::WatchEvent& event) {
        deleted = event.type == kube::WatchEvent::Type::kDeleted;
        return !deleted;
      });
  EXPECT_TRUE(watched.ok()) << watched;
  EXPECT_TRUE(deleted);
}

TEST_F(ClusterE2eTest, AnUnpullableImageFailsTheDeployQuickly) {
  // Nothing needs to reach this tetherd: no agent ever starts.
  std::unique_ptr<TetherdProcess> tetherd = StartTetherd(
      "registry.invalid/tether/agent:none", "tetherd.invalid:7700");
  ASSERT_NE(tetherd, nullptr);
  const std::string service = absl::StrCat("tether-e2e-pull-", suffix_);
  tether::v1::ServiceSpec spec = PythonSpec(service, "greet");
  spec.mutable_compute()->set_image("registry.invalid/tether/e2e:none");
  const grpc::Status deployed = tetherd->Deploy(spec, Upload(*tetherd));
  EXPECT_EQ(deployed.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << deployed.error_message();
  EXPECT_TRUE(absl::StrContains(deployed.error_message(), "ErrImagePull") ||
              absl::StrContains(deployed.error_message(), "ImagePullBackOff"))
      << deployed.error_message();
  Delete(*tetherd, service);
}

TEST_F(ClusterE2eTest, DeploysAndCallsAPythonFunction) {
  const std::string image = Env("TETHER_E2E_AGENT_IMAGE");
  const std::string advertise = Env("TETHER_E2E_ADVERTISE_ADDRESS");
  if (image.empty() || advertise.empty()) {
    GTEST_SKIP() << "skipped: set TETHER_E2E_AGENT_IMAGE and "
                    "TETHER_E2E_ADVERTISE_ADDRESS to deploy real code";
  }
  const std::string port = advertise.substr(advertise.rfind(':') + 1);
  std::unique_ptr<TetherdProcess> tetherd =
      StartTetherd(image, advertise, absl::StrCat("0.0.0.0:", port));
  ASSERT_NE(tetherd, nullptr);
  const std::string service = absl::StrCat("tether-e2e-call-", suffix_);
  tether::v1::ServiceSpec spec = PythonSpec(service, "greet");
  spec.mutable_compute()->set_image("python:3.11-slim");
  const grpc::Status deployed = tetherd->Deploy(spec, Upload(*tetherd));
  ASSERT_TRUE(deployed.ok()) << deployed.error_message();
  EXPECT_EQ(CallService(*tetherd, service, R"({"args":["e2e"]})"),
            R"("Hello from the cluster, e2e!")");
  Delete(*tetherd, service);
}

}  // namespace
}  // namespace tether::testing
