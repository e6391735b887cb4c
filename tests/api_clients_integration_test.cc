// Servers speak standard gRPC: health checking and reflection answer a
// client written in another language (Python's grpcio, no generated code).

#include <stdio.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sync/uploader.h"
#include "tests/tetherd_process.h"

namespace tether::testing {
namespace {

// Runs the Python client against `address`; its exit code and output.
std::pair<int, std::string> RunPythonClient(
    const std::string& address, const std::vector<std::string>& services) {
  auto script = FindDataFile("tests/grpc_client_check.py");
  EXPECT_TRUE(script.ok()) << script.status();
  const std::string command =
      absl::StrCat("/usr/bin/python3 ", *script, " ", address, " ",
                   absl::StrJoin(services, " "), " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  return {WEXITSTATUS(status), out};
}

TEST(ApiClientsIntegrationTest, TetherdAndAgentsServeHealthAndReflection) {
  auto tetherd = TetherdProcess::Start(NewTempDir("state"));
  ASSERT_TRUE(tetherd.ok()) << tetherd.status();
  auto [code, out] =
      RunPythonClient((*tetherd)->address(),
                      {"tether.v1.ControlPlane", "tether.v1.AgentGateway",
                       "grpc.health.v1.Health"});
  EXPECT_EQ(code, 0) << out;

  const std::string dir = NewTempDir("code");
  WriteTree(dir, {{"app.py", "def f():\n    return 1\n"}});
  auto uploaded =
      sync::UploadTree((*tetherd)->stub(), dir, sync::UploadOptions());
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  tether::v1::ServiceSpec spec;
  spec.set_name("f");
  spec.mutable_callable()->set_module("app");
  spec.mutable_callable()->set_name("f");
  grpc::Status deployed = (*tetherd)->Deploy(spec, uploaded->result.revision());
  ASSERT_TRUE(deployed.ok()) << deployed.error_message();
  grpc::ClientContext context;
  tether::v1::GetServiceRequest get;
  get.set_name("f");
  tether::v1::ServiceStatus service;
  ASSERT_TRUE((*tetherd)->stub().GetService(&context, get, &service).ok());
  std::tie(code, out) =
      RunPythonClient(service.replicas(0).address(),
                      {"tether.v1.Agent", "grpc.health.v1.Health"});
  EXPECT_EQ(code, 0) << out;
}

TEST(ApiClientsIntegrationTest, WithApiTokensEveryControlPlaneCallNeedsOne) {
  const std::string dir = NewTempDir("auth");
  ASSERT_TRUE(WriteFileAtomically(dir + "/tokens", "# ci\ns3cret\n").ok());
  auto tetherd = TetherdProcess::Start(
      dir + "/state", {absl::StrCat("--api_tokens_file=", dir, "/tokens")});
  ASSERT_TRUE(tetherd.ok()) << tetherd.status();
  tether::v1::ControlPlane::Stub& stub = (*tetherd)->stub();

  const auto list = [&](const std::string& authorization) {
    grpc::ClientContext context;
    if (!authorization.empty()) {
      context.AddMetadata("authorization", authorization);
    }
    tether::v1::ListServicesResponse response;
    return stub.ListServices(&context, {}, &response);
  };
  EXPECT_EQ(list("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(list("Bearer wrong").error_message(), "unknown API token");
  EXPECT_TRUE(list("Bearer s3cret").ok());

  // Streams are refused before they start, and pass with the token.
  WriteTree(dir + "/code", {{"app.py", "def f():\n    return 1\n"}});
  auto refused = sync::UploadTree(stub, dir + "/code", sync::UploadOptions());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated)
      << refused.status();
  sync::UploadOptions with_token;
  with_token.decorate = [](grpc::ClientContext& context) {
    context.AddMetadata("authorization", "Bearer s3cret");
  };
  auto uploaded = sync::UploadTree(stub, dir + "/code", with_token);
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  tether::v1::ServiceSpec spec;
  spec.set_name("f");
  spec.mutable_callable()->set_module("app");
  spec.mutable_callable()->set_name("f");
  EXPECT_EQ((*tetherd)->Deploy(spec, uploaded->result.revision()).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // Health and reflection stay open: probes and tools need no token.
  auto [code, out] =
      RunPythonClient((*tetherd)->address(),
                      {"tether.v1.ControlPlane", "grpc.health.v1.Health"});
  EXPECT_EQ(code, 0) << out;
}

}  // namespace
}  // namespace tether::testing
