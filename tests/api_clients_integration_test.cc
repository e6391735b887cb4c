// Servers speak standard gRPC: health checking and reflection answer a
// client written in another language (Python's grpcio, no generated code).

#include <stdio.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
  auto uploaded = UploadTree((*tetherd)->stub(), dir, UploadOptions());
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

}  // namespace
}  // namespace tether::testing
