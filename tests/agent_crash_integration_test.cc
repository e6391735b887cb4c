// Fault injection: kill -9 an agent half-way through applying a revision and
// check that it comes back serving the old revision, intact on disk, and
// that the deploy (and later ones) still go through.
//
// No hooks in the product: the kill lands while the new revision's workers
// import (its module blocks reading a FIFO the test holds), or while the
// agent writes the new revision dir (a large file makes that take long
// enough to see the staging dir and kill the agent).

#include <dirent.h>
#include <signal.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sync/revision_builder.h"
#include "tests/service_test_util.h"
#include "tests/tetherd_process.h"

namespace tether::testing {
namespace {

using tether::v1::ServiceSpec;

constexpr char kReplica[] = "svc-0";

std::string Module(const std::string& version) {
  return absl::StrCat("def greet():\n    return '", version, "'\n");
}

// Names in `dir` containing `part`.
std::vector<std::string> Entries(const std::string& dir,
                                 const std::string& part) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* entry = readdir(d)) {
    if (absl::StrContains(entry->d_name, part)) names.push_back(entry->d_name);
  }
  closedir(d);
  return names;
}

class AgentCrashIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tetherd = TetherdProcess::Start(NewTempDir("state"));
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = std::move(*tetherd);
    code_dir_ = NewTempDir("code");
    spec_ = PythonSpec("svc", "greet");
    WriteTree(code_dir_, {{"app.py", Module("v1")}});
    v1_ = UploadDir(*tetherd_, code_dir_);
    ASSERT_TRUE(tetherd_->Deploy(spec_, v1_).ok());
    ASSERT_EQ(Greet(), R"("v1")");
    workdir_ = ReplicaDir(*tetherd_, kReplica);
  }

  std::string Greet() { return CallService(*tetherd_, "svc"); }

  // Deploys `revision` on another thread (it outlives the agent's crash).
  void DeployInBackground(const std::string& revision) {
    deploy_ = std::thread([this, revision] {
      deploy_status_ = tetherd_->Deploy(spec_, revision);
    });
  }

  grpc::Status FinishDeploy() {
    deploy_.join();
    return deploy_status_;
  }

  // kill -9 of the agent; checks that the old revision is whole on disk.
  pid_t KillAgent() {
    const pid_t agent = AgentPid(*tetherd_, kReplica);
    EXPECT_GT(agent, 0);
    if (agent <= 0) return agent;
    EXPECT_EQ(kill(agent, SIGKILL), 0);
    EXPECT_TRUE(sync::RevisionExists(workdir_, v1_));
    EXPECT_EQ(
        ReadFile(sync::RevisionDir(workdir_, v1_) + "/app.py").value_or(""),
        Module("v1"));
    return agent;
  }

  // Returns once tetherd has started a new agent and that serves v1 again.
  void WaitForV1After(pid_t killed) {
    ASSERT_TRUE(WaitFor([&] {
      const pid_t now = AgentPid(*tetherd_, kReplica);
      return now > 0 && now != killed;
    })) << "tetherd did not restart the agent";
    std::string answer;
    ASSERT_TRUE(WaitFor([&] {
      answer = Greet();
      return answer == R"("v1")";
    })) << "after the crash: "
        << answer;
  }

  std::unique_ptr<TetherdProcess> tetherd_;
  std::string code_dir_;
  std::string workdir_;
  ServiceSpec spec_;
  std::string v1_;
  std::thread deploy_;
  grpc::Status deploy_status_;
};

TEST_F(AgentCrashIntegrationTest, KilledWhileNewWorkersImport) {
  const std::string fifo = NewTempDir("fifo") + "/gate";
  MakeFifo(fifo);
  WriteTree(
      code_dir_,
      {{"app.py", absl::StrCat("open('", fifo, "').read()\n", Module("v2"))}});
  const std::string v2 = UploadDir(*tetherd_, code_dir_);
  DeployInBackground(v2);
  // A worker of v2 is importing (it opened the FIFO); v1 still serves.
  int gate = OpenFifoWhenReaderArrives(fifo);
  ASSERT_GE(gate, 0);
  EXPECT_EQ(Greet(), R"("v1")");

  const pid_t killed = KillAgent();
  close(gate);  // Its reader died with the agent.
  WaitForV1After(killed);

  // The new agent applies v2 again (tetherd resends it on attach): while
  // its workers import, the restored v1 workers serve.
  gate = OpenFifoWhenReaderArrives(fifo);
  ASSERT_GE(gate, 0);
  EXPECT_EQ(Greet(), R"("v1")");
  ASSERT_EQ(write(gate, "go", 2), 2);
  close(gate);
  const grpc::Status status = FinishDeploy();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Greet(), R"("v2")");

  // And a later deploy works as ever.
  WriteTree(code_dir_, {{"app.py", Module("v3")}});
  ASSERT_TRUE(tetherd_->Deploy(spec_, UploadDir(*tetherd_, code_dir_)).ok());
  EXPECT_EQ(Greet(), R"("v3")");
}

TEST_F(AgentCrashIntegrationTest, KilledWhileBuildingTheRevisionDir) {
  // Big enough that writing it (and fsyncing) takes a while.
  std::string blob(256 << 20, '\0');
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i + 8 <= blob.size(); i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    memcpy(&blob[i], &x, 8);
  }
  WriteTree(code_dir_, {{"app.py", Module("v2")}, {"weights.bin", blob}});
  blob.clear();
  blob.shrink_to_fit();
  const std::string v2 = UploadDir(*tetherd_, code_dir_);
  DeployInBackground(v2);
  const std::string revs = workdir_ + "/revs";
  ASSERT_TRUE(WaitFor([&] { return !Entries(revs, ".staging-").empty(); }))
      << "the agent never started building " << v2;

  const pid_t killed = KillAgent();
  // The kill landed mid-build (else this test proves less than it says).
  EXPECT_FALSE(sync::RevisionExists(workdir_, v2));
  WaitForV1After(killed);

  // The new agent builds v2 again, from scratch, and finishes the deploy.
  const grpc::Status status = FinishDeploy();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Greet(), R"("v2")");
  EXPECT_TRUE(Entries(revs, ".staging-").empty()) << "stale staging dir";

  WriteTree(code_dir_, {{"app.py", Module("v3")}});
  ASSERT_TRUE(tetherd_->Deploy(spec_, UploadDir(*tetherd_, code_dir_)).ok());
  EXPECT_EQ(Greet(), R"("v3")");
}

}  // namespace
}  // namespace tether::testing
