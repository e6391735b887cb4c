// Crash faults at chosen points: tetherd, an agent or a worker dies of
// SIGKILL at a named step of deploy, sync, reload, call, scale-down or
// wake-up (common/fault_point.h; tetherd's environment reaches its agents
// and their workers). Each case then checks that the state dir holds no lost
// or torn record, revision or blob, that the caller in flight got a clear
// status before its deadline, and that everything recovers without help:
// tetherd by a restart, agents and workers by their parents.

#include <stdlib.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/sha256.h"
#include "common/test_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sync/revision_builder.h"
#include "sync/tree.h"
#include "sync/uploader.h"
#include "tests/service_test_util.h"
#include "tests/tetherd_process.h"
#include "tether/v1/code.pb.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {
namespace {

using tether::v1::ServiceSpec;
using tether::v1::ServiceStatus;

constexpr char kService[] = "svc";
constexpr char kReplica[] = "svc-0";

std::string Module(const std::string& version) {
  return absl::StrCat("def greet():\n    return '", version, "'\n");
}

std::string Quoted(const std::string& version) {
  return absl::StrCat("\"", version, "\"");
}

class FaultIntegrationTest : public ::testing::Test {
 protected:
  void TearDown() override { unsetenv("TETHER_FAULT_POINT"); }

  // Starts tetherd set to die at `point` (none when empty). A held point
  // fires only after Arm(); either fires once, even across restarts.
  void Start(const std::string& point, bool held) {
    marker_ = NewTempDir("fault") + "/fired";
    if (held) WriteTree(marker_.substr(0, marker_.rfind('/')), {{"fired", ""}});
    if (point.empty()) {
      unsetenv("TETHER_FAULT_POINT");
    } else {
      setenv("TETHER_FAULT_POINT", absl::StrCat(point, ":", marker_).c_str(),
             1);
    }
    auto tetherd = TetherdProcess::Start(NewTempDir("state"));
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = std::move(*tetherd);
    code_dir_ = NewTempDir("code");
  }

  void Arm() { ASSERT_EQ(unlink(marker_.c_str()), 0); }
  bool Fired() const { return access(marker_.c_str(), F_OK) == 0; }

  // tetherd died at the point (not by any other end): start it again.
  void RestartAfterFault() {
    ASSERT_TRUE(tetherd_->WaitUntilKilled(absl::Seconds(60)))
        << "tetherd did not die at the fault point";
    ASSERT_TRUE(Fired());
    ASSERT_TRUE(tetherd_->Restart().ok());
  }

  absl::StatusOr<sync::UploadResult> TryUpload(
      const std::vector<std::pair<std::string, std::string>>& files) {
    WriteTree(code_dir_, files);
    return sync::UploadTree(tetherd_->stub(), code_dir_, sync::UploadOptions());
  }

  std::string Upload(const std::string& version) {
    WriteTree(code_dir_, {{"app.py", Module(version)}});
    return UploadDir(*tetherd_, code_dir_);
  }

  static ServiceSpec Spec(const std::string& ttl = "") {
    ServiceSpec spec = PythonSpec(kService, "greet");
    spec.mutable_compute()->set_inactivity_ttl(ttl);
    return spec;
  }

  ::testing::AssertionResult Deployed(const std::string& revision,
                                      const std::string& ttl = "") {
    const grpc::Status status = tetherd_->Deploy(Spec(ttl), revision);
    if (status.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "deploy: " << status.error_message();
  }

  // Calls until the service answers `want` (recovery takes a restart or
  // two); the last answer on failure.
  ::testing::AssertionResult Answers(const std::string& want) {
    std::string answer;
    if (WaitFor([&] {
          answer = CallService(*tetherd_, kService);
          return answer == want;
        })) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "last answer: " << answer;
  }

  // A caller in flight hears of the crash at once, not at its deadline.
  static ::testing::AssertionResult Clear(const grpc::Status& status,
                                          grpc::StatusCode code) {
    if (status.error_code() == code && !status.error_message().empty()) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "status " << status.error_code()
                                         << ": " << status.error_message();
  }

  grpc::Status Call(absl::Duration timeout, const std::string& payload = "") {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    tether::v1::CallRequest request;
    request.set_service(kService);
    request.set_payload(payload);
    tether::v1::CallResponse response;
    return tetherd_->stub().Call(&context, request, &response);
  }

  ServiceStatus Status() {
    grpc::ClientContext context;
    tether::v1::GetServiceRequest request;
    request.set_name(kService);
    ServiceStatus status;
    EXPECT_TRUE(tetherd_->stub().GetService(&context, request, &status).ok());
    return status;
  }

  // The service records on disk. Every `<name>.pb` must parse whole and be
  // named after its service (an empty, torn file parses as an empty
  // message).
  std::map<std::string, ServiceStatus> Records() {
    const std::string dir = tetherd_->state_dir() + "/services";
    std::map<std::string, ServiceStatus> records;
    absl::StatusOr<std::vector<std::string>> files = ListDir(dir);
    EXPECT_TRUE(files.ok()) << files.status();
    for (const std::string& file : files.value_or(std::vector<std::string>{})) {
      if (!absl::EndsWith(file, ".pb")) continue;
      ServiceStatus record;
      EXPECT_TRUE(record.ParseFromString(
          ReadFile(absl::StrCat(dir, "/", file)).value_or("")))
          << file;
      EXPECT_EQ(absl::StrCat(record.name(), ".pb"), file) << "torn record";
      records[record.name()] = record;
    }
    return records;
  }

  // The code store after a crash: every tree is named by its id and every
  // blob it lists is stored with that SHA-256; every blob hashes to its
  // name; nothing is left in tmp/. Returns the revisions stored.
  std::set<std::string> StoredRevisions() {
    const std::string code = tetherd_->state_dir() + "/code";
    std::set<std::string> revisions;
    for (const std::string& file :
         ListDir(code + "/trees").value_or(std::vector<std::string>{})) {
      tether::v1::Tree tree;
      EXPECT_TRUE(tree.ParseFromString(
          ReadFile(absl::StrCat(code, "/trees/", file)).value_or("")))
          << file;
      const std::string revision(absl::StripSuffix(file, ".pb"));
      EXPECT_EQ(sync::TreeId(tree), revision) << "torn tree " << file;
      for (const tether::v1::TreeEntry& entry : tree.entries()) {
        if (entry.kind() != tether::v1::TreeEntry::KIND_FILE) continue;
        const std::string hex = ToHex(entry.sha256());
        const std::string blob =
            absl::StrCat(code, "/blobs/", hex.substr(0, 2), "/", hex);
        EXPECT_EQ(ToHex(Sha256OfFile(blob).value_or("")), hex)
            << "revision " << revision << " lacks " << entry.path();
      }
      revisions.insert(revision);
    }
    for (const std::string& fan :
         ListDir(code + "/blobs").value_or(std::vector<std::string>{})) {
      const std::string dir = absl::StrCat(code, "/blobs/", fan);
      for (const std::string& name :
           ListDir(dir).value_or(std::vector<std::string>{})) {
        EXPECT_EQ(ToHex(Sha256OfFile(dir + "/" + name).value_or("")), name)
            << "torn blob";
      }
    }
    EXPECT_TRUE(
        ListDir(code + "/tmp").value_or(std::vector<std::string>{"?"}).empty())
        << "temp files survived the restart";
    return revisions;
  }

  // Records and code agree: the service is recorded at `revision`, and
  // every recorded revision is stored whole.
  void ExpectStateWhole(const std::string& revision) {
    const std::map<std::string, ServiceStatus> records = Records();
    ASSERT_EQ(records.count(kService), 1u);
    EXPECT_EQ(records.at(kService).revision(), revision);
    const std::set<std::string> stored = StoredRevisions();
    for (const auto& [name, record] : records) {
      EXPECT_EQ(stored.count(record.revision()), 1u)
          << name << "'s revision is not stored";
    }
  }

  // The agent dies at `point` while applying v2 over a serving v1; tetherd
  // starts a new one, which serves v1 from disk, then v2 as tetherd
  // resends it, and the deploy that watched all this ends READY.
  void AgentDiesDeployingV2(const std::string& point) {
    Start(point, /*held=*/true);
    const std::string v1 = Upload("v1");
    ASSERT_TRUE(Deployed(v1));
    const pid_t first = AgentPid(*tetherd_, kReplica);
    const std::string v2 = Upload("v2");
    Arm();
    ASSERT_TRUE(Deployed(v2));
    EXPECT_TRUE(Fired());
    EXPECT_NE(AgentPid(*tetherd_, kReplica), first) << "the agent never died";
    EXPECT_TRUE(Answers(Quoted("v2")));
    const std::string workdir = ReplicaDir(*tetherd_, kReplica);
    EXPECT_EQ(ReadFile(sync::RevisionDir(workdir, v2) + "/app.py")
                  .value_or("missing"),
              Module("v2"));
    EXPECT_EQ(Status().phase(), ServiceStatus::PHASE_READY);
    ExpectStateWhole(v2);
  }

  std::unique_ptr<TetherdProcess> tetherd_;
  std::string marker_;
  std::string code_dir_;
};

TEST_F(FaultIntegrationTest, TetherdDiesAfterStoringADeploy) {
  Start("deploy.record.stored", /*held=*/true);
  ASSERT_TRUE(Deployed(Upload("v1")));
  const std::string v2 = Upload("v2");
  Arm();
  EXPECT_TRUE(
      Clear(tetherd_->Deploy(Spec(), v2), grpc::StatusCode::UNAVAILABLE));
  RestartAfterFault();
  // The record was stored before the kill: the restart carries it out.
  ExpectStateWhole(v2);
  EXPECT_TRUE(Answers(Quoted("v2")));
  // A caller that did not hear back deploys again, harmlessly.
  EXPECT_TRUE(Deployed(v2));
  EXPECT_EQ(Records().at(kService).phase(), ServiceStatus::PHASE_READY);
}

TEST_F(FaultIntegrationTest, TetherdDiesPublishingBlobs) {
  Start("code.blob.published", /*held=*/false);
  const std::vector<std::pair<std::string, std::string>> files = {
      {"app.py", Module("v1")}, {"a.py", "A = 1\n"}, {"b.py", "B = 2\n"}};
  const absl::StatusOr<sync::UploadResult> failed = TryUpload(files);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable)
      << failed.status();
  EXPECT_FALSE(failed.status().message().empty());
  RestartAfterFault();
  // One blob was published, the rest were still temp files: no tree.
  EXPECT_TRUE(StoredRevisions().empty());
  const absl::StatusOr<sync::UploadResult> upload = TryUpload(files);
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_EQ(upload->result.files_received(), 2u)
      << "the published blob is not reused";
  ASSERT_TRUE(Deployed(upload->result.revision()));
  EXPECT_TRUE(Answers(Quoted("v1")));
  ExpectStateWhole(upload->result.revision());
}

TEST_F(FaultIntegrationTest, TetherdDiesAfterStoringATree) {
  Start("code.tree.stored", /*held=*/false);
  const std::vector<std::pair<std::string, std::string>> files = {
      {"app.py", Module("v1")}};
  const absl::StatusOr<sync::UploadResult> failed = TryUpload(files);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable)
      << failed.status();
  EXPECT_FALSE(failed.status().message().empty());
  RestartAfterFault();
  EXPECT_EQ(StoredRevisions().size(), 1u);
  // The caller syncs again: nothing to send, the same revision.
  const absl::StatusOr<sync::UploadResult> upload = TryUpload(files);
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_EQ(upload->result.files_received(), 0u);
  EXPECT_EQ(StoredRevisions().count(upload->result.revision()), 1u);
  ASSERT_TRUE(Deployed(upload->result.revision()));
  EXPECT_TRUE(Answers(Quoted("v1")));
}

TEST_F(FaultIntegrationTest, AgentDiesAfterSyncBeforeReload) {
  AgentDiesDeployingV2("agent.revision.synced");
}

TEST_F(FaultIntegrationTest, AgentDiesMidReload) {
  AgentDiesDeployingV2("agent.workers.loaded");
}

TEST_F(FaultIntegrationTest, WorkerDiesMidCall) {
  Start("", /*held=*/false);
  // The worker's own code is the point: it kills itself once, mid-call.
  WriteTree(
      code_dir_,
      {{"app.py", absl::StrCat("import os, signal\n"
                               "def greet():\n"
                               "    try:\n"
                               "        os.close(os.open('",
                               marker_,
                               "', os.O_CREAT | os.O_EXCL))\n"
                               "    except FileExistsError:\n"
                               "        return 'v1'\n"
                               "    os.kill(os.getpid(), signal.SIGKILL)\n")}});
  const std::string v1 = UploadDir(*tetherd_, code_dir_);
  ASSERT_TRUE(Deployed(v1));
  EXPECT_TRUE(Clear(Call(absl::Seconds(30)), grpc::StatusCode::ABORTED));
  EXPECT_TRUE(Fired());
  // The agent restarts the worker; the agent and the service stay up.
  EXPECT_TRUE(Answers(Quoted("v1")));
  EXPECT_EQ(Status().phase(), ServiceStatus::PHASE_READY);
  ExpectStateWhole(v1);
}

TEST_F(FaultIntegrationTest, WorkerDiesMidStream) {
  Start("", /*held=*/false);
  // The generator yields once, then its worker dies.
  WriteTree(code_dir_, {{"app.py",
                         "import os, signal\n"
                         "def greet(die=False):\n"
                         "    yield 'first'\n"
                         "    if die:\n"
                         "        os.kill(os.getpid(), signal.SIGKILL)\n"
                         "    yield 'v1'\n"}});
  const std::string v1 = UploadDir(*tetherd_, code_dir_);
  ASSERT_TRUE(Deployed(v1));
  std::vector<std::string> items;
  const auto stream = [&](const std::string& payload) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    tether::v1::CallRequest request;
    request.set_service(kService);
    request.set_payload(payload);
    auto reader = tetherd_->stub().CallStream(&context, request);
    items.clear();
    tether::v1::InvokeEvent event;
    while (reader->Read(&event)) {
      for (const std::string& item : event.items().item()) {
        items.push_back(item);
      }
    }
    return reader->Finish();
  };
  EXPECT_TRUE(Clear(stream(R"({"args":[true]})"), grpc::StatusCode::ABORTED));
  EXPECT_EQ(items, std::vector<std::string>{Quoted("first")});
  // The agent starts a new worker.
  EXPECT_TRUE(WaitFor([&] { return stream("").ok(); }));
  EXPECT_EQ(items, (std::vector<std::string>{Quoted("first"), Quoted("v1")}));
}

TEST_F(FaultIntegrationTest, AgentDiesMidCall) {
  Start("", /*held=*/false);
  // The worker kills its agent, then waits to be taken along.
  WriteTree(code_dir_, {{"app.py",
                         "import os, signal, time\n"
                         "def greet(agent=0):\n"
                         "    if agent:\n"
                         "        os.kill(agent, signal.SIGKILL)\n"
                         "        time.sleep(60)\n"
                         "    return 'v1'\n"}});
  const std::string v1 = UploadDir(*tetherd_, code_dir_);
  ASSERT_TRUE(Deployed(v1));
  const pid_t agent = AgentPid(*tetherd_, kReplica);
  ASSERT_GT(agent, 0);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(
      Clear(Call(absl::Seconds(30), absl::StrCat(R"({"args":[)", agent, "]}")),
            grpc::StatusCode::UNAVAILABLE));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  // tetherd starts a new agent, which serves the revision from disk.
  EXPECT_TRUE(Answers(Quoted("v1")));
  EXPECT_NE(AgentPid(*tetherd_, kReplica), agent);
  ExpectStateWhole(v1);
}

TEST_F(FaultIntegrationTest, TetherdDiesParkingAnIdleService) {
  Start("scale.parked.stored", /*held=*/false);
  const std::string v1 = Upload("v1");
  // The TTL parks the service (a Scale to 0) and tetherd dies right after
  // storing that: after the deploy, or during it on a slow machine (the
  // TTL counts from the deploy's start).
  const grpc::Status deploy = tetherd_->Deploy(Spec("2s"), v1);
  EXPECT_TRUE(deploy.ok() || Clear(deploy, grpc::StatusCode::UNAVAILABLE))
      << deploy.error_message();
  RestartAfterFault();
  const ServiceStatus record = Records().at(kService);
  EXPECT_TRUE(record.has_scale() && record.scale() == 0);
  EXPECT_EQ(record.phase(), ServiceStatus::PHASE_IDLE);
  ExpectStateWhole(v1);
  // The restart keeps it parked, and a call wakes it.
  EXPECT_TRUE(WaitFor([&] { return AgentPid(*tetherd_, kReplica) < 0; }));
  EXPECT_TRUE(Answers(Quoted("v1")));
}

TEST_F(FaultIntegrationTest, TetherdDiesWakingAParkedService) {
  Start("scale.woken.stored", /*held=*/false);
  const std::string v1 = Upload("v1");
  ASSERT_TRUE(Deployed(v1));
  {
    grpc::ClientContext context;
    tether::v1::ScaleServiceRequest request;
    request.set_name(kService);
    request.set_replicas(0);
    ServiceStatus status;
    ASSERT_TRUE(tetherd_->stub().ScaleService(&context, request, &status).ok());
  }
  ASSERT_TRUE(WaitFor([&] { return AgentPid(*tetherd_, kReplica) < 0; }));
  // The call wakes the service; tetherd dies having stored that.
  EXPECT_TRUE(Clear(Call(absl::Seconds(30)), grpc::StatusCode::UNAVAILABLE));
  RestartAfterFault();
  EXPECT_FALSE(Records().at(kService).has_scale()) << "the wake-up was lost";
  ExpectStateWhole(v1);
  EXPECT_TRUE(Answers(Quoted("v1")));
}

}  // namespace
}  // namespace tether::testing
