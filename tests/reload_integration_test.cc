// Hot reload end to end on the local backend: the real tetherd (in the test
// process: nothing here is about tetherd's process), agents, zygotes and
// Python workers on loopback, driven through the public API.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/revision_id.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sync/revision_builder.h"
#include "tests/in_process_tetherd.h"
#include "tests/service_test_util.h"
#include "tests/tetherd_client.h"

namespace tether::testing {
namespace {

using ::testing::HasSubstr;
using tether::v1::CallRequest;
using tether::v1::ServiceSpec;

// greet() answers VERSION, so calls tell the revisions apart.
std::string Module(const std::string& version) {
  return absl::StrCat(R"py(
import os
import time

VERSION = ")py",
                      version, R"py("

# Replica 1 imports slowly: Deploy must wait for it too.
if os.environ.get("TETHER_REPLICA", "").endswith("-1"):
    time.sleep(0.5)


def greet():
    return VERSION
)py");
}

class ReloadIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tetherd = InProcessTetherd::Start(NewTempDir("state"));
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = std::move(*tetherd);
    code_dir_ = NewTempDir("code");
  }

  // Writes app.py (and `extra` files) and uploads the tree.
  std::string Revision(
      const std::string& app,
      std::vector<std::pair<std::string, std::string>> extra = {}) {
    extra.emplace_back("app.py", app);
    WriteTree(code_dir_, extra);
    return UploadDir(*tetherd_, code_dir_);
  }

  ::testing::AssertionResult Deployed(const ServiceSpec& spec,
                                      const std::string& revision) {
    const grpc::Status status = tetherd_->Deploy(spec, revision);
    if (status.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "deploy " << spec.name() << ": " << status.error_message();
  }

  std::string Greet(const std::string& service = "svc") {
    return CallService(*tetherd_, service);
  }

  std::unique_ptr<InProcessTetherd> tetherd_;
  std::string code_dir_;
};

TEST_F(ReloadIntegrationTest, CallsKeepSucceedingAndSwitchOnceAcrossReloads) {
  ServiceSpec spec = PythonSpec("svc", "greet");
  spec.mutable_compute()->set_workers(2);
  const std::string v1 = Revision(Module("v1"));
  ASSERT_TRUE(Deployed(spec, v1));
  const std::string v2 = Revision(Module("v2"));
  const std::string v3 = Revision(Module("v3"));

  // One caller, one call at a time: once it has seen a revision it must
  // never see an older one, and no call may fail.
  std::atomic<bool> stop{false};
  std::vector<std::string> answers;
  std::thread caller([&] {
    while (!stop) answers.push_back(Greet());
  });
  ASSERT_TRUE(Deployed(spec, v2));
  EXPECT_EQ(Greet(), R"("v2")") << "Deploy returned before the switch";
  ASSERT_TRUE(Deployed(spec, v3));
  EXPECT_EQ(Greet(), R"("v3")");
  stop = true;
  caller.join();

  ASSERT_FALSE(answers.empty());
  std::string last = R"("v1")";
  for (const std::string& answer : answers) {
    ASSERT_THAT(answer, ::testing::StartsWith("\"v")) << "a call failed";
    EXPECT_GE(answer, last) << "went back to an older revision";
    last = answer;
  }
  // v1 went when v3 loaded (its workers had drained); v2's workers may
  // still drain then, so it may stay until the next load.
  const std::string workdir = ReplicaDir(*tetherd_, "svc-0");
  EXPECT_FALSE(sync::RevisionExists(workdir, v1));
  EXPECT_FALSE(ReadFile(absl::StrCat(workdir, "/revs/", v1, ".tree.pb")).ok());
  EXPECT_TRUE(sync::RevisionExists(workdir, v3));
}

TEST_F(ReloadIntegrationTest, AnImportErrorFailsTheDeployAndKeepsServing) {
  ASSERT_TRUE(Deployed(PythonSpec("svc", "greet"), Revision(Module("v1"))));
  const std::string broken = Revision(absl::StrCat(
      Module("v2"), "\nraise RuntimeError('config file missing')\n"));
  const grpc::Status status =
      tetherd_->Deploy(PythonSpec("svc", "greet"), broken);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(),
              HasSubstr("RuntimeError: config file missing"));
  EXPECT_THAT(status.error_message(), HasSubstr("Traceback"));
  EXPECT_EQ(Greet(), R"("v1")");
  // Fixed: the next deploy goes through.
  ASSERT_TRUE(Deployed(PythonSpec("svc", "greet"), Revision(Module("v3"))));
  EXPECT_EQ(Greet(), R"("v3")");
}

TEST_F(ReloadIntegrationTest, AReplicaThatCannotLoadSendsTheOthersBack) {
  const ServiceSpec spec = PythonSpec("svc", "greet", 2);
  const std::string v1 = Revision(Module("v1"));
  ASSERT_TRUE(Deployed(spec, v1));
  // v2 imports on replica 0 and fails on replica 1 (which also imports
  // last: Module makes it slow), so replica 0 has switched when it fails.
  const std::string v2 = Revision(absl::StrCat(Module("v2"), R"py(
if os.environ.get("TETHER_REPLICA", "").endswith("-1"):
    raise MemoryError("not on this node")
)py"));
  const grpc::Status status = tetherd_->Deploy(spec, v2);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("MemoryError"));
  EXPECT_THAT(
      status.error_message(),
      HasSubstr("every replica goes back to revision " + ShortRevision(v1)));
  // Both replicas serve v1 again, and the service is whole.
  EXPECT_TRUE(WaitFor([&] {
    grpc::ClientContext context;
    tether::v1::GetServiceRequest get;
    get.set_name("svc");
    tether::v1::ServiceStatus service;
    return tetherd_->stub().GetService(&context, get, &service).ok() &&
           service.phase() == tether::v1::ServiceStatus::PHASE_READY &&
           service.replicas_size() == 2 &&
           service.replicas(0).revision() == v1 &&
           service.replicas(1).revision() == v1;
  }));
  EXPECT_EQ(Greet(), R"("v1")");
}

TEST_F(ReloadIntegrationTest, DeployReturnsOnlyWhenEveryReplicaServesIt) {
  ASSERT_TRUE(Deployed(PythonSpec("svc", "greet", 2), Revision(Module("v1"))));
  ASSERT_TRUE(Deployed(PythonSpec("svc", "greet", 2), Revision(Module("v2"))));
  // Replica 1 imports for 0.5 s longer, yet both serve v2 already.
  grpc::ClientContext context;
  CallRequest request;
  request.set_service("svc");
  request.set_target(CallRequest::TARGET_ALL);
  tether::v1::CallResponse response;
  ASSERT_TRUE(tetherd_->stub().Call(&context, request, &response).ok());
  ASSERT_EQ(response.results_size(), 2);
  for (const auto& result : response.results()) {
    EXPECT_EQ(result.payload(), R"("v2")") << result.replica();
  }
}

TEST_F(ReloadIntegrationTest, AFrozenServiceKeepsItsCode) {
  ServiceSpec spec = PythonSpec("svc", "greet");
  spec.mutable_compute()->set_freeze(true);
  const std::string v1 = Revision(Module("v1"));
  ASSERT_TRUE(Deployed(spec, v1));
  const grpc::Status status = tetherd_->Deploy(spec, Revision(Module("v2")));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("frozen"));
  EXPECT_EQ(Greet(), R"("v1")");
  // Other settings of the same code still apply.
  spec.mutable_compute()->set_workers(2);
  ASSERT_TRUE(Deployed(spec, v1));
  EXPECT_EQ(Greet(), R"("v1")");
}

// The zygote, end to end: `heavy` (outside the code, as torch would be in
// site-packages) is imported once for all reloads; `shared` is user code
// listed in preload, and each revision sees its own.
TEST_F(ReloadIntegrationTest, PreloadModulesAreImportedOnceAcrossReloads) {
  const std::string site = NewTempDir("site");
  const std::string counter = site + "/imports";
  WriteTree(site, {{"heavy.py", R"py(
import os
with open(os.environ["COUNTER"], "a") as f:
    f.write("imported\n")
PID = os.getpid()
)py"}});
  ServiceSpec spec = PythonSpec("svc", "describe");
  spec.mutable_compute()->add_preload("heavy");
  spec.mutable_compute()->add_preload("shared");
  (*spec.mutable_compute()->mutable_env())["PYTHONPATH"] = site;
  (*spec.mutable_compute()->mutable_env())["COUNTER"] = counter;
  const std::string app = R"py(
import os
import heavy
import shared


def describe():
    # Forked from the process that imported heavy, which is not the agent.
    return [shared.VALUE, heavy.PID == os.getppid()]
)py";
  for (const std::string& value : {"one", "two", "three"}) {
    const std::string revision =
        Revision(app, {{"shared.py", absl::StrCat("VALUE = '", value, "'\n")}});
    ASSERT_TRUE(Deployed(spec, revision));
    EXPECT_EQ(Greet(), absl::StrCat(R"([")", value, R"(",true])"));
  }
  EXPECT_EQ(ReadFile(counter).value_or(""), "imported\n");
}

}  // namespace
}  // namespace tether::testing
