// TLS everywhere: tetherd serves its API, the agent gateway and OTLP over
// TLS, agents serve Agent.Invoke over TLS under one shared name, and
// clients verify both against the installation's CA, with certificates made
// by the documented script (deploy/make_certs.sh). tetherd runs in-process
// on the local backend with real agents.

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/cpp/direct_caller.h"
#include "common/test_util.h"
#include "common/tls.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/in_process_tetherd.h"
#include "tests/service_test_util.h"
#include "tether/v1/agent.grpc.pb.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {
namespace {

using controlplane::Tetherd;
using google::protobuf::util::TimeUtil;

class TlsIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = NewTempDir("certs");
    ASSERT_TRUE(MakeCertificates(certs_));
  }

  std::string Cert(const std::string& name) const {
    return absl::StrCat(certs_, "/", name);
  }

  // tetherd with TLS on every hop; `client_certificates`: callers must
  // present one.
  Tetherd::Options TlsOptions(bool client_certificates) const {
    Tetherd::Options options;
    options.tls = {Cert("tetherd.crt"), Cert("tetherd.key"),
                   client_certificates ? Cert("ca.crt") : ""};
    options.agent_tls = {Cert("agent.crt"), Cert("agent.key"), Cert("ca.crt")};
    options.otlp_listen_address = "127.0.0.1:0";
    return options;
  }

  TlsFiles ClientTls() const { return {"", "", Cert("ca.crt")}; }

  void Start(Tetherd::Options options) {
    auto tetherd = InProcessTetherd::Start(NewTempDir("state"), options);
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = *std::move(tetherd);
  }

  // Deploys `greet` (reporting activity every 200 ms) over the current
  // channel.
  void DeployGreet() {
    const std::string code = NewTempDir("code");
    WriteTree(code,
              {{"app.py", "def greet(name):\n    return 'hi ' + name\n"}});
    tether::v1::ServiceSpec spec = PythonSpec("greet", "greet");
    (*spec.mutable_compute()->mutable_env())["OTEL_METRIC_EXPORT_INTERVAL"] =
        "200";
    const grpc::Status deployed =
        tetherd_->Deploy(spec, UploadDir(*tetherd_, code));
    ASSERT_TRUE(deployed.ok()) << deployed.error_message();
  }

  tether::v1::ServiceStatus Status() {
    grpc::ClientContext context;
    tether::v1::GetServiceRequest request;
    request.set_name("greet");
    tether::v1::ServiceStatus status;
    EXPECT_TRUE(tetherd_->stub().GetService(&context, request, &status).ok());
    return status;
  }

  // A health check over a channel with `credentials`.
  grpc::StatusCode Reach(const std::string& address,
                         std::shared_ptr<grpc::ChannelCredentials> credentials,
                         const std::string& server_name = "") {
    grpc::ChannelArguments args;
    SetTlsServerName(server_name, args);
    auto stub = tether::v1::Agent::NewStub(
        grpc::CreateCustomChannel(address, credentials, args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    tether::v1::InvokeRequest request;
    tether::v1::InvokeResponse response;
    // No token: a TLS channel that works gets UNAUTHENTICATED from the
    // agent; one that does not gets UNAVAILABLE from gRPC.
    return stub->Invoke(&context, request, &response).error_code();
  }

  std::string certs_;
  std::unique_ptr<InProcessTetherd> tetherd_;
};

TEST_F(TlsIntegrationTest, EveryHopIsTls) {
  Start(TlsOptions(/*client_certificates=*/false));
  // Plaintext does not reach the API.
  grpc::ClientContext context;
  tether::v1::ListServicesResponse list;
  EXPECT_EQ(tetherd_->stub().ListServices(&context, {}, &list).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  tetherd_->UseTls(ClientTls());
  // The agent attaches to tetherd over TLS, or the deploy would not finish.
  DeployGreet();
  EXPECT_EQ(CallService(*tetherd_, "greet", R"({"args": ["Ada"]})"),
            "\"hi Ada\"");

  // Direct calls verify the agents under the name tetherd publishes.
  client::DirectCaller::Options options;
  options.tetherd = tetherd_->channel();
  options.service = "greet";
  options.agent_ca_file = Cert("ca.crt");
  auto caller = client::DirectCaller::Create(options);
  ASSERT_TRUE(caller.ok()) << caller.status();
  std::optional<tether::v1::Endpoints> endpoints = (*caller)->endpoints();
  ASSERT_TRUE(endpoints.has_value());
  ASSERT_EQ(endpoints->endpoints_size(), 1);
  EXPECT_EQ(endpoints->tls_server_name(), "tether-agent");
  const absl::Time before_call = absl::Now();
  tether::v1::CallRequest request;
  request.set_service("greet");
  request.set_payload(R"({"args": ["Bo"]})");
  tether::v1::CallResponse response;
  client::CallInfo info;
  const absl::Status called = (*caller)->Call(
      request, &response, absl::Now() + absl::Seconds(30), &info);
  ASSERT_TRUE(called.ok()) << called;
  EXPECT_TRUE(info.direct);
  EXPECT_EQ(response.results(0).payload(), "\"hi Bo\"");

  // The agent's TLS: plaintext and the wrong name are refused.
  const std::string agent = endpoints->endpoints(0).address();
  auto tls = GrpcChannelCredentials(ClientTls());
  ASSERT_TRUE(tls.ok());
  EXPECT_EQ(Reach(agent, *tls, "tether-agent"),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Reach(agent, *tls, "tetherd"), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Reach(agent, grpc::InsecureChannelCredentials()),
            grpc::StatusCode::UNAVAILABLE);

  // The direct call reached tetherd only as the agent's OTLP report, over
  // TLS too.
  EXPECT_TRUE(WaitFor(
      [&] {
        return TimeUtil::TimestampToNanoseconds(
                   Status().activity().last_activity()) >=
               absl::ToUnixNanos(before_call);
      },
      absl::Seconds(20)))
      << "no activity report arrived";

  // The separate OTLP port serves TLS.
  const std::string otlp =
      absl::StrCat("127.0.0.1:", tetherd_->tetherd().otlp_port());
  EXPECT_EQ(Reach(otlp, *tls), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Reach(otlp, grpc::InsecureChannelCredentials()),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsIntegrationTest, ClientCertificatesAreRequiredWhenAsked) {
  Start(TlsOptions(/*client_certificates=*/true));
  tetherd_->UseTls(ClientTls());
  grpc::ClientContext context;
  tether::v1::ListServicesResponse list;
  EXPECT_EQ(tetherd_->stub().ListServices(&context, {}, &list).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  tetherd_->UseTls({Cert("client.crt"), Cert("client.key"), Cert("ca.crt")});
  // Agents present their own certificate to tetherd.
  DeployGreet();
  EXPECT_EQ(CallService(*tetherd_, "greet", R"({"args": ["Cy"]})"),
            "\"hi Cy\"");
}

TEST_F(TlsIntegrationTest, BadTlsFlagsAreNamed) {
  const auto start = [&](Tetherd::Options options) {
    options.state_dir = NewTempDir("state");
    options.listen_address = "127.0.0.1:0";
    return Tetherd::Create(options).status();
  };
  Tetherd::Options options = TlsOptions(false);
  options.agent_tls.ca_file.clear();
  absl::Status status = start(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "--tls_ca_file")) << status;

  options = TlsOptions(false);
  options.agent_tls.cert_file.clear();
  status = start(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "--agent_tls_cert_file"))
      << status;

  options = TlsOptions(false);
  options.tls.key_file = Cert("agent.key");
  status = start(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "does not match")) << status;
}

}  // namespace
}  // namespace tether::testing
