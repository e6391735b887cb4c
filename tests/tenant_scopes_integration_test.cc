// Tenant scopes over real gRPC: a token scoped to one namespace cannot
// deploy, call, scale, delete, read or watch a service in another (each
// PERMISSION_DENIED, the service unchanged), and lists only its own.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/files.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sync/uploader.h"
#include "tests/in_process_tetherd.h"
#include "tests/service_test_util.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kAdmin[] = "admin-token";
constexpr char kTeamA[] = "team-a-token";

class TenantScopesIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = NewTempDir("tenant");
    ASSERT_TRUE(WriteFileAtomically(dir + "/tokens",
                                    "# unscoped\n"
                                    "admin-token\n"
                                    "team-a-token namespaces=team-a\n")
                    .ok());
    controlplane::Tetherd::Options options;
    options.api_tokens_file = dir + "/tokens";
    auto tetherd = InProcessTetherd::Start(dir + "/state", options);
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = *std::move(tetherd);
    WriteTree(dir + "/code",
              {{"app.py", "def greet(name):\n    return name\n"}});
    sync::UploadOptions upload;
    upload.decorate = [](grpc::ClientContext& context) {
      context.AddMetadata("authorization", "Bearer team-a-token");
    };
    auto uploaded = sync::UploadTree(tetherd_->stub(), dir + "/code", upload);
    ASSERT_TRUE(uploaded.ok()) << "any token may upload: " << uploaded.status();
    revision_ = uploaded->result.revision();
    ASSERT_TRUE(Deploy(kTeamA, Spec("alpha", "team-a")).ok());
    ASSERT_TRUE(Deploy(kAdmin, Spec("beta", "team-b")).ok());
  }

  static tether::v1::ServiceSpec Spec(const std::string& name,
                                      const std::string& ns) {
    tether::v1::ServiceSpec spec = PythonSpec(name, "greet");
    spec.set_namespace_(ns);
    return spec;
  }

  // A context carrying `token`, with a deadline.
  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", "Bearer " + token);
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(60));
    return context;
  }

  grpc::Status Deploy(const std::string& token,
                      const tether::v1::ServiceSpec& spec) {
    auto context = As(token);
    tether::v1::DeployRequest request;
    *request.mutable_spec() = spec;
    request.set_revision(revision_);
    auto reader = tetherd_->stub().Deploy(context.get(), request);
    tether::v1::DeployEvent event;
    while (reader->Read(&event)) {
    }
    return reader->Finish();
  }

  grpc::Status Get(const std::string& token, const std::string& name,
                   tether::v1::ServiceStatus* status) {
    tether::v1::GetServiceRequest request;
    request.set_name(name);
    return tetherd_->stub().GetService(As(token).get(), request, status);
  }

  grpc::Status Call(const std::string& token, const std::string& service) {
    tether::v1::CallRequest request;
    request.set_service(service);
    request.set_payload(R"({"args": ["hi"]})");
    tether::v1::CallResponse response;
    return tetherd_->stub().Call(As(token).get(), request, &response);
  }

  grpc::Status CallStream(const std::string& token,
                          const std::string& service) {
    auto context = As(token);
    tether::v1::CallRequest request;
    request.set_service(service);
    request.set_payload(R"({"args": ["hi"]})");
    auto reader = tetherd_->stub().CallStream(context.get(), request);
    tether::v1::InvokeEvent event;
    while (reader->Read(&event)) {
    }
    return reader->Finish();
  }

  // The first message of WatchEndpoints (empty on error) and how it ended.
  grpc::Status Watch(const std::string& token, const std::string& service,
                     tether::v1::Endpoints* endpoints) {
    auto context = As(token);
    tether::v1::WatchEndpointsRequest request;
    request.set_service(service);
    auto reader = tetherd_->stub().WatchEndpoints(context.get(), request);
    if (reader->Read(endpoints)) context->TryCancel();
    const grpc::Status status = reader->Finish();
    return status.error_code() == grpc::StatusCode::CANCELLED ? grpc::Status()
                                                              : status;
  }

  grpc::Status Logs(const std::string& token, const std::string& service) {
    auto context = As(token);
    tether::v1::LogsRequest request;
    request.set_service(service);
    auto reader = tetherd_->stub().Logs(context.get(), request);
    tether::v1::LogsResponse response;
    while (reader->Read(&response)) {
    }
    return reader->Finish();
  }

  std::vector<std::string> List(const std::string& token) {
    tether::v1::ListServicesResponse response;
    const grpc::Status status =
        tetherd_->stub().ListServices(As(token).get(), {}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> names;
    for (const auto& service : response.services()) {
      names.push_back(service.spec().namespace_() + "/" + service.name());
    }
    return names;
  }

  std::unique_ptr<InProcessTetherd> tetherd_;
  std::string revision_;
};

// The refusal every out-of-scope request gets.
void ExpectDenied(const grpc::Status& status, const std::string& what) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr(what));
  EXPECT_THAT(status.error_message(),
              HasSubstr("this API token is not allowed to use it"));
}

TEST_F(TenantScopesIntegrationTest, AScopedTokenCannotTouchAnotherNamespace) {
  tether::v1::ServiceStatus before;
  ASSERT_TRUE(Get(kAdmin, "beta", &before).ok());
  ASSERT_EQ(before.phase(), tether::v1::ServiceStatus::PHASE_READY);

  ExpectDenied(Deploy(kTeamA, Spec("beta", "team-b")), "namespace team-b");
  // Moving another team's service into one's own is touching it.
  ExpectDenied(Deploy(kTeamA, Spec("beta", "team-a")), "namespace team-b");
  ExpectDenied(Deploy(kTeamA, Spec("gamma", "team-b")), "namespace team-b");
  // An unset namespace is tetherd's default one.
  ExpectDenied(Deploy(kTeamA, Spec("gamma", "")), "namespace default");
  ExpectDenied(Call(kTeamA, "beta"), "namespace team-b");
  ExpectDenied(CallStream(kTeamA, "beta"), "namespace team-b");
  tether::v1::ServiceStatus unused;
  ExpectDenied(Get(kTeamA, "beta", &unused), "namespace team-b");
  tether::v1::Endpoints endpoints;
  ExpectDenied(Watch(kTeamA, "beta", &endpoints), "namespace team-b");
  EXPECT_TRUE(endpoints.token().empty()) << "no agent token leaked";
  ExpectDenied(Logs(kTeamA, "beta"), "namespace team-b");
  {
    tether::v1::ScaleServiceRequest request;
    request.set_name("beta");
    request.set_replicas(0);
    ExpectDenied(
        tetherd_->stub().ScaleService(As(kTeamA).get(), request, &unused),
        "namespace team-b");
  }
  {
    tether::v1::DeleteServiceRequest request;
    request.set_name("beta");
    tether::v1::DeleteServiceResponse response;
    ExpectDenied(
        tetherd_->stub().DeleteService(As(kTeamA).get(), request, &response),
        "namespace team-b");
  }

  // Nothing changed: beta is as it was and still answers, gamma never was.
  tether::v1::ServiceStatus after;
  ASSERT_TRUE(Get(kAdmin, "beta", &after).ok());
  EXPECT_EQ(after.generation(), before.generation());
  EXPECT_EQ(after.spec().namespace_(), "team-b");
  EXPECT_EQ(after.phase(), tether::v1::ServiceStatus::PHASE_READY);
  EXPECT_FALSE(after.has_scale());
  EXPECT_EQ(after.replicas_size(), 1);
  EXPECT_TRUE(Call(kAdmin, "beta").ok());
  EXPECT_EQ(Get(kAdmin, "gamma", &unused).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(TenantScopesIntegrationTest, AScopedTokenUsesAndListsItsOwn) {
  EXPECT_THAT(List(kTeamA), UnorderedElementsAre("team-a/alpha"));
  EXPECT_THAT(List(kAdmin),
              UnorderedElementsAre("team-a/alpha", "team-b/beta"));
  EXPECT_TRUE(Call(kTeamA, "alpha").ok());
  EXPECT_TRUE(CallStream(kTeamA, "alpha").ok());
  tether::v1::Endpoints endpoints;
  ASSERT_TRUE(Watch(kTeamA, "alpha", &endpoints).ok());
  EXPECT_FALSE(endpoints.token().empty());
  tether::v1::ServiceStatus status;
  EXPECT_TRUE(Get(kTeamA, "alpha", &status).ok());
  EXPECT_EQ(Get(kTeamA, "nothing", &status).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(Deploy(kTeamA, Spec("alpha", "team-a")).ok()) << "a redeploy";
}

TEST_F(TenantScopesIntegrationTest, NamesStayUniqueAcrossNamespaces) {
  const grpc::Status moved = Deploy(kAdmin, Spec("beta", "team-a"));
  EXPECT_EQ(moved.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(moved.error_message(),
              HasSubstr("service beta already exists in namespace team-b"));
  const grpc::Status bad = Deploy(kAdmin, Spec("delta", "Team_B"));
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("namespace: \"Team_B\""));
  // Without a namespace a deploy records tetherd's default one.
  ASSERT_TRUE(Deploy(kAdmin, Spec("delta", "")).ok());
  tether::v1::ServiceStatus status;
  ASSERT_TRUE(Get(kAdmin, "delta", &status).ok());
  EXPECT_EQ(status.spec().namespace_(), "default");
}

}  // namespace
}  // namespace tether::testing
