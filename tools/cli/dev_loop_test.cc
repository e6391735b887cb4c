#include "tools/cli/dev_loop.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "servicespec/service_file.h"
#include "tools/cli/client.h"
#include "tools/cli/deployer.h"
#include "tools/cli/fake_control_plane.h"
#include "tools/cli/fake_file_watcher.h"

namespace tether::cli {
namespace {

using Kind = WatchEvent::Kind;

// 2024-01-02 03:04:05 UTC.
const absl::Time kStart = absl::FromUnixSeconds(1704164645);

std::string TempDir() {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/dev_loop_test.XXXXXX";
  char resolved[PATH_MAX];
  EXPECT_NE(realpath(mkdtemp(tmpl.data()), resolved), nullptr);
  return resolved;
}

// A revision id made of one repeated hex digit; ShortRevision shows 12.
std::string Rev(char digit) { return std::string(64, digit); }
std::string Short(char digit) { return std::string(12, digit); }

constexpr char kService[] =
    "name: hello\n"
    "code: src\n"
    "callable: {module: hello, name: greet}\n";

class DevLoopTest : public ::testing::Test {
 protected:
  DevLoopTest() {
    EXPECT_TRUE(MakeDirs(dir_ + "/src").ok());
    EXPECT_TRUE(MakeDirs(dir_ + "/other").ok());
    Write("src/hello.py", "def greet(): return 1\n");
    Write("other/hello.py", "def greet(): return 2\n");
    Write("service.yaml", kService);
    fake_.SetSyncRevision(Rev('a'));
  }

  void Write(const std::string& rel, const std::string& contents) {
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/" + rel, contents).ok());
  }

  WatchEvent Changed(const std::string& rel) {
    return WatchEvent{Kind::kChanged, dir_ + "/" + rel};
  }

  // A step: `after` passes, the code changes to revision `rev`, and the
  // watcher reports `rels`.
  void Save(absl::Duration after, const std::vector<std::string>& rels,
            char rev) {
    std::vector<WatchEvent> events;
    events.reserve(rels.size());
    for (const std::string& rel : rels) events.push_back(Changed(rel));
    script_.Then(after, std::move(events),
                 [this, rev] { fake_.SetSyncRevision(Rev(rev)); });
  }

  void StopAfter(absl::Duration after) {
    script_.Then(after, {}, [this] { loop_->RequestStop(); });
  }

  DevLoopOptions Options() {
    DevLoopOptions options;
    options.spec_path = dir_ + "/service.yaml";
    options.debounce = absl::Milliseconds(100);
    options.max_delay = absl::Seconds(2);
    options.new_watcher = script_.Factory();
    options.now = [this] { return script_.Now(); };
    options.time_zone = absl::UTCTimeZone();
    options.out = &out_;
    return options;
  }

  // Creates the loop, runs it to the end of the script, and returns what
  // Run returned.
  absl::Status Run(DevLoopOptions options) {
    absl::StatusOr<servicespec::ServiceFile> file =
        servicespec::LoadServiceFile(options.spec_path);
    EXPECT_TRUE(file.ok()) << file.status();
    if (!file.ok()) return file.status();
    absl::StatusOr<std::unique_ptr<DevLoop>> loop =
        DevLoop::Create(std::move(options), *std::move(file), &deployer_);
    EXPECT_TRUE(loop.ok()) << loop.status();
    if (!loop.ok()) return loop.status();
    loop_ = *std::move(loop);
    absl::Status status = loop_->Run();
    EXPECT_EQ(script_.pending(), 0u) << "the loop stopped early";
    return status;
  }
  absl::Status Run() { return Run(Options()); }

  // The lines after the initial deploy, without the closing one.
  std::string Redeploys() {
    const std::string out = out_.str();
    const std::string watching = "; Ctrl-C to stop\n";
    size_t begin = out.find(watching);
    EXPECT_NE(begin, std::string::npos) << out;
    begin += watching.size();
    const size_t end = out.rfind("stopped; ");
    EXPECT_NE(end, std::string::npos) << out;
    return out.substr(begin, end - begin);
  }

  std::vector<std::string> DeployedRevisions() {
    std::vector<std::string> revisions;
    for (const auto& request : fake_.deploys()) {
      revisions.push_back(request.revision().substr(0, 1));
    }
    return revisions;
  }

  const std::string dir_ = TempDir();
  FakeControlPlane fake_;
  std::unique_ptr<Connection> conn_ = fake_.Connect();
  FakeWatchScript script_{kStart};
  // The fake control plane takes full manifests only.
  Deployer deployer_{*conn_, [this] { return script_.Now(); },
                     sync::UploadOptions{.use_cache = false}};
  std::ostringstream out_;
  std::unique_ptr<DevLoop> loop_;
};

TEST_F(DevLoopTest, DeploysWatchesAndStops) {
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  EXPECT_EQ(out_.str(),
            "synced " + dir_ + "/src: revision " + Short('a') +
                ", 1 file, sent 1 new (22 B) in 0.00s\n"
                "service hello ready at revision " +
                Short('a') +
                " (1 replica) in 0.00s\n"
                "watching " +
                dir_ + "/src and " + dir_ +
                "/service.yaml; Ctrl-C to stop\n"
                "stopped; service hello keeps running ('tether down hello' "
                "removes it)\n");
  ASSERT_EQ(script_.specs().size(), 1u);
  EXPECT_EQ(script_.specs()[0].root, dir_ + "/src");
  EXPECT_EQ(script_.specs()[0].files,
            std::vector<std::string>{dir_ + "/service.yaml"});
  EXPECT_EQ(DeployedRevisions(), std::vector<std::string>{"a"});
}

TEST_F(DevLoopTest, ABurstOfEventsMakesOneRedeploy) {
  Save(absl::Seconds(1), {"src/hello.py"}, 'b');
  Save(absl::Milliseconds(30), {"src/hello.py"}, 'b');
  Save(absl::Milliseconds(90), {"src/util.py", "src/hello.py"}, 'c');
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  // Quiet for 100 ms only after the third event: one deploy, of all three.
  EXPECT_EQ(Redeploys(), "[03:04:06] hello.py, util.py changed → revision " +
                             Short('c') + " ready in 0.00s\n");
  EXPECT_EQ(DeployedRevisions(), (std::vector<std::string>{"a", "c"}));
}

TEST_F(DevLoopTest, SavesFurtherApartThanTheDebounceDeployEach) {
  Save(absl::Seconds(1), {"src/hello.py"}, 'b');
  Save(absl::Milliseconds(150), {"src/hello.py"}, 'c');
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  EXPECT_EQ(DeployedRevisions(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(DevLoopTest, ASteadyStreamOfChangesIsDeployedAtMaxDelay) {
  DevLoopOptions options = Options();
  options.max_delay = absl::Milliseconds(300);
  // A change every 50 ms for 450 ms: the debounce alone would wait for the
  // end; the cap deploys at 300 ms (revision 6) and again 200 ms later
  // (debounce after the last change, revision 9).
  Save(absl::Seconds(1), {"src/hello.py"}, '0');
  for (char rev = '1'; rev <= '9'; ++rev) {
    Save(absl::Milliseconds(50), {"src/hello.py"}, rev);
  }
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run(std::move(options)).ok());
  EXPECT_EQ(DeployedRevisions(), (std::vector<std::string>{"a", "6", "9"}));
}

TEST_F(DevLoopTest, FailedDeployIsReportedAndWatchingGoesOn) {
  script_.Then(absl::Seconds(1), {Changed("src/hello.py")}, [this] {
    fake_.SetSyncRevision(Rev('b'));
    fake_.SetDeploy({}, grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                     "replica hello-0 failed to load revision "
                                     "bbbbbbbbbbbb: Traceback (most recent "
                                     "call last):\n  File \"hello.py\", line "
                                     "1\nSyntaxError: invalid syntax\n"));
  });
  script_.Then(absl::Seconds(1), {Changed("src/hello.py")}, [this] {
    fake_.SetSyncRevision(Rev('c'));
    fake_.SetDeploy({}, grpc::Status::OK);
  });
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  EXPECT_EQ(Redeploys(),
            "[03:04:06] hello.py changed → revision " + Short('b') +
                " failed:\n"
                "  replica hello-0 failed to load revision bbbbbbbbbbbb: "
                "Traceback (most recent call last):\n"
                "    File \"hello.py\", line 1\n"
                "  SyntaxError: invalid syntax\n"
                "[03:04:07] hello.py changed → revision " +
                Short('c') + " ready in 0.00s\n");
}

TEST_F(DevLoopTest, InvalidServiceFileIsReportedUntilFixed) {
  const std::string spec = dir_ + "/service.yaml";
  script_.Then(absl::Seconds(1), {Changed("service.yaml")}, [this] {
    Write("service.yaml",
          "name: hello\ncode: src\ncompute: {replicas: two}\n"
          "callable: {module: hello, name: greet}\n");
  });
  // A code change while the file is still wrong does not deploy either.
  Save(absl::Seconds(1), {"src/hello.py"}, 'b');
  script_.Then(absl::Seconds(1), {Changed("service.yaml")}, [this] {
    Write("service.yaml",
          "name: hello\ncode: src\ncompute: {replicas: 3}\n"
          "callable: {module: hello, name: greet}\n");
  });
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  const std::string error = "not deployed: " + spec +
                            ": compute.replicas: expected an integer, got "
                            "\"two\"\n";
  EXPECT_EQ(Redeploys(), "[03:04:06] " + spec + " changed → " + error +
                             "[03:04:07] hello.py changed → " + error +
                             "[03:04:08] " + spec + " changed → revision " +
                             Short('b') + " ready in 0.00s\n");
  ASSERT_EQ(fake_.deploys().size(), 2u);
  EXPECT_EQ(fake_.deploys()[1].spec().compute().replicas(), 3);
}

TEST_F(DevLoopTest, ASpecChangeAloneRedeploysTheSameRevision) {
  script_.Then(absl::Seconds(1), {Changed("service.yaml")}, [this] {
    Write("service.yaml", absl::StrCat(kService, "compute: {workers: 2}\n"));
  });
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  EXPECT_EQ(DeployedRevisions(), (std::vector<std::string>{"a", "a"}));
  EXPECT_EQ(fake_.deploys()[1].spec().compute().workers(), 2);
}

TEST_F(DevLoopTest, NoChangeSinceTheLastGoodDeployIsNotRedeployed) {
  // An editor's temporary file, already gone: same revision, same spec.
  Save(absl::Seconds(1), {"src/.#hello.py"}, 'a');
  // A failed deploy is retried even when nothing changed since.
  script_.Then(absl::Seconds(1), {Changed("src/hello.py")}, [this] {
    fake_.SetSyncRevision(Rev('b'));
    fake_.SetDeploy({}, grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                     "cannot reach tetherd"));
  });
  script_.Then(absl::Seconds(1), {Changed("src/hello.py")},
               [this] { fake_.SetDeploy({}, grpc::Status::OK); });
  Save(absl::Seconds(1), {"src/hello.py"}, 'b');
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  EXPECT_EQ(DeployedRevisions(), (std::vector<std::string>{"a", "b", "b"}));
  EXPECT_EQ(Redeploys(), "[03:04:07] hello.py changed → revision " +
                             Short('b') +
                             " failed: cannot reach tetherd\n"
                             "[03:04:08] hello.py changed → revision " +
                             Short('b') + " ready in 0.00s\n");
}

TEST_F(DevLoopTest, TemporaryFilesAreLeftOutOfTheLine) {
  // As vim saves: a probe file and a backup, both gone again, the file
  // itself moved away and written anew. A new file that stays is named.
  script_.Then(
      absl::Seconds(1),
      {WatchEvent{Kind::kChanged, dir_ + "/src/4913", /*created=*/true},
       WatchEvent{Kind::kChanged, dir_ + "/src/hello.py", /*created=*/false},
       WatchEvent{Kind::kChanged, dir_ + "/src/hello.py~", /*created=*/true},
       WatchEvent{Kind::kChanged, dir_ + "/src/new.py", /*created=*/true}},
      [this] {
        Write("src/new.py", "");
        fake_.SetSyncRevision(Rev('b'));
      });
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  EXPECT_EQ(Redeploys(), "[03:04:06] hello.py, new.py changed → revision " +
                             Short('b') + " ready in 0.00s\n");
}

TEST_F(DevLoopTest, QueueOverflowRedeploys) {
  script_.Then(absl::Seconds(1), {WatchEvent{Kind::kOverflow, dir_ + "/src"}},
               [this] { fake_.SetSyncRevision(Rev('b')); });
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  EXPECT_EQ(Redeploys(),
            "[03:04:06] files changed (event queue overflowed) → revision " +
                Short('b') + " ready in 0.00s\n");
}

TEST_F(DevLoopTest, ManyChangesAreSummarized) {
  Save(absl::Seconds(1),
       {"src/a.py", "src/b.py", "src/c.py", "src/d.py", "src"}, 'b');
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  EXPECT_EQ(Redeploys(),
            "[03:04:06] a.py, b.py and 3 more changed → revision " +
                Short('b') + " ready in 0.00s\n");
}

TEST_F(DevLoopTest, MovingTheCodeDirectoryWatchesTheNewOne) {
  script_.Then(absl::Seconds(1), {Changed("service.yaml")}, [this] {
    Write("service.yaml",
          "name: hello\ncode: other\n"
          "callable: {module: hello, name: greet}\n");
    fake_.SetSyncRevision(Rev('b'));
  });
  // The new watcher cannot be made: reported, and the old one goes on.
  script_.Then(absl::Seconds(1), {Changed("service.yaml")}, [this] {
    Write("service.yaml",
          "name: hello\ncode: src\n"
          "callable: {module: hello, name: greet}\n");
    script_.FailNextCreate(absl::ResourceExhaustedError("too many watches"));
  });
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  ASSERT_EQ(script_.specs().size(), 3u);
  EXPECT_EQ(script_.specs()[1].root, dir_ + "/other");
  EXPECT_EQ(script_.specs()[2].root, dir_ + "/src");
  EXPECT_EQ(fake_.synced_paths(), std::vector<std::string>{"hello.py"});
  EXPECT_EQ(Redeploys(), "[03:04:06] " + dir_ +
                             "/service.yaml changed → revision " + Short('b') +
                             " ready in 0.00s\n"
                             "[03:04:07] " +
                             dir_ +
                             "/service.yaml changed → not deployed: too many "
                             "watches\n");
}

TEST_F(DevLoopTest, CodeOverrideWinsOverTheFile) {
  DevLoopOptions options = Options();
  options.code_override = dir_ + "/other";
  Save(absl::Seconds(1), {"other/hello.py"}, 'b');
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run(std::move(options)).ok());
  ASSERT_EQ(script_.specs().size(), 1u);
  EXPECT_EQ(script_.specs()[0].root, dir_ + "/other");
  EXPECT_EQ(Redeploys(), "[03:04:06] hello.py changed → revision " +
                             Short('b') + " ready in 0.00s\n");
}

TEST_F(DevLoopTest, FailedFirstDeployKeepsWatching) {
  fake_.SetDeploy({}, grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                   "replica hello-0 failed to load"));
  script_.Then(absl::Seconds(1), {Changed("src/hello.py")},
               [this] { fake_.SetDeploy({}, grpc::Status::OK); });
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  EXPECT_NE(out_.str().find("error: replica hello-0 failed to load\n"
                            "watching "),
            std::string::npos)
      << out_.str();
  // Same revision as the failed one, deployed again.
  EXPECT_EQ(DeployedRevisions(), (std::vector<std::string>{"a", "a"}));
}

TEST_F(DevLoopTest, UploadErrorsAreReported) {
  // The upload refuses what it cannot represent, such as a fifo.
  script_.Then(absl::Seconds(1), {Changed("src/pipe")}, [this] {
    ASSERT_EQ(mkfifo((dir_ + "/src/pipe").c_str(), 0644), 0);
  });
  StopAfter(absl::Seconds(1));
  ASSERT_TRUE(Run().ok());
  const std::string redeploys = Redeploys();
  EXPECT_EQ(redeploys.rfind("[03:04:06] pipe changed → upload failed: "
                            "uploading " +
                                dir_ + "/src: ",
                            0),
            0u)
      << redeploys;
  EXPECT_EQ(fake_.deploys().size(), 1u);
}

TEST_F(DevLoopTest, WatcherErrorsEndTheLoop) {
  script_.ThenFail(absl::Seconds(1), absl::InternalError("read failed"));
  absl::Status status = Run();
  EXPECT_EQ(status,
            absl::InternalError("watching " + dir_ + "/src: read failed"));
}

TEST_F(DevLoopTest, RequestStopFromAnotherThreadEndsAWait) {
  // No steps: the watcher waits until woken.
  absl::StatusOr<servicespec::ServiceFile> file =
      servicespec::LoadServiceFile(dir_ + "/service.yaml");
  ASSERT_TRUE(file.ok());
  absl::StatusOr<std::unique_ptr<DevLoop>> loop =
      DevLoop::Create(Options(), *std::move(file), &deployer_);
  ASSERT_TRUE(loop.ok());
  std::thread stopper([&] {
    ASSERT_TRUE(fake_.AwaitDeploys(1, absl::Seconds(20)));
    (*loop)->RequestStop();
  });
  EXPECT_TRUE((*loop)->Run().ok());
  stopper.join();
}

TEST_F(DevLoopTest, RequestStopCancelsADeployInFlight) {
  Save(absl::Seconds(1), {"src/hello.py"}, 'b');
  absl::StatusOr<servicespec::ServiceFile> file =
      servicespec::LoadServiceFile(dir_ + "/service.yaml");
  ASSERT_TRUE(file.ok());
  absl::StatusOr<std::unique_ptr<DevLoop>> loop =
      DevLoop::Create(Options(), *std::move(file), &deployer_);
  ASSERT_TRUE(loop.ok());
  // The redeploy is the second; tetherd holds it until cancelled.
  fake_.HoldDeploysFrom(2);
  std::thread stopper([&] {
    ASSERT_TRUE(fake_.AwaitDeploys(2, absl::Seconds(20)));
    (*loop)->RequestStop();
  });
  EXPECT_TRUE((*loop)->Run().ok());
  stopper.join();
  EXPECT_NE(out_.str().find("[03:04:06] hello.py changed → interrupted\n"),
            std::string::npos)
      << out_.str();
}

TEST_F(DevLoopTest, CreateNeedsItsOptions) {
  absl::StatusOr<servicespec::ServiceFile> file =
      servicespec::LoadServiceFile(dir_ + "/service.yaml");
  ASSERT_TRUE(file.ok());
  DevLoopOptions options = Options();
  options.out = nullptr;
  EXPECT_EQ(DevLoop::Create(options, *file, &deployer_).status().code(),
            absl::StatusCode::kInvalidArgument);
  script_.FailNextCreate(absl::ResourceExhaustedError("too many watches"));
  EXPECT_EQ(DevLoop::Create(Options(), *file, &deployer_).status(),
            absl::ResourceExhaustedError("too many watches"));
}

}  // namespace
}  // namespace tether::cli
