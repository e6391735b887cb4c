#include "agent/user_app.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "sync/revision_builder.h"

namespace tether::agent {
namespace {

const std::string kRev1(64, 'a');
const std::string kRev2(64, 'b');

class UserAppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    workdir_ = absl::StrCat(
        ::testing::TempDir(), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(MakeDirs(absl::StrCat(workdir_, "/revs")).ok());
    Build(kRev1, "one");
    Build(kRev2, "two");
  }

  // A built revision as RevisionBuilder leaves it: its dir and its tree.
  void Build(const std::string& revision, const std::string& text) {
    const std::string dir = sync::RevisionDir(workdir_, revision);
    ASSERT_TRUE(MakeDirs(dir).ok());
    ASSERT_TRUE(WriteFileAtomically(dir + "/code.txt", text).ok());
    ASSERT_TRUE(WriteFileAtomically(absl::StrCat(dir, ".tree.pb"), "").ok());
  }

  UserApp::Options Options() {
    UserApp::Options options;
    options.workdir = workdir_;
    return options;
  }

  std::string Read(const std::string& name) {
    return ReadFile(absl::StrCat(workdir_, "/", name)).value_or("<missing>");
  }

  std::string workdir_;
};

TEST_F(UserAppTest, PointsCurrentAtEachRevision) {
  auto app = UserApp::Create(Options());
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_TRUE((*app)->Publish(kRev1).ok());
  EXPECT_EQ(Read("current/code.txt"), "one");
  ASSERT_TRUE((*app)->Publish(kRev2).ok());
  EXPECT_EQ(Read("current/code.txt"), "two");
  EXPECT_EQ((*app)->code_dir(), workdir_ + "/current");
}

TEST_F(UserAppTest, ReloadCommandRunsOnChangesNotOnTheFirstRevision) {
  UserApp::Options options = Options();
  const std::string log = workdir_ + "/reloads";
  options.reload_command = {
      "sh", "-c",
      absl::StrCat("echo \"$TETHER_REVISION $(cat code.txt) "
                   "$(cat \"$TETHER_CODE_DIR/code.txt\")\" >> ",
                   log)};
  auto app = UserApp::Create(options);
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_TRUE((*app)->Publish(kRev1).ok());
  EXPECT_EQ(Read("reloads"), "<missing>");
  ASSERT_TRUE((*app)->Publish(kRev2).ok());
  // Run in the new revision, which TETHER_CODE_DIR shows too.
  EXPECT_EQ(Read("reloads"), absl::StrCat(kRev2, " two two\n"));
}

TEST_F(UserAppTest, FailedReloadSaysHowAndWhatItPrinted) {
  UserApp::Options options = Options();
  options.reload_command = {"sh", "-c", "echo cannot reload >&2; exit 3"};
  auto app = UserApp::Create(options);
  ASSERT_TRUE(app.ok());
  ASSERT_TRUE((*app)->Publish(kRev1).ok());
  const absl::Status status = (*app)->Publish(kRev2);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("failed with code 3"), std::string::npos)
      << status;
  EXPECT_NE(status.message().find("cannot reload"), std::string::npos)
      << status;
}

TEST_F(UserAppTest, ReloadCommandThatHangsIsKilled) {
  UserApp::Options options = Options();
  options.reload_command = {"sleep", "60"};
  options.reload_timeout = absl::Milliseconds(200);
  auto app = UserApp::Create(options);
  ASSERT_TRUE(app.ok());
  ASSERT_TRUE((*app)->Publish(kRev1).ok());
  const absl::Status status = (*app)->Publish(kRev2);
  EXPECT_NE(status.message().find("did not finish in 200ms"), std::string::npos)
      << status;
}

TEST_F(UserAppTest, UnknownProgramsAreRefusedAtCreate) {
  UserApp::Options options = Options();
  options.reload_command = {"no-such-program-tether"};
  auto app = UserApp::Create(options);
  EXPECT_EQ(app.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(app.status().message().find("reload command"), std::string::npos);
  options.reload_command = {};
  options.app_command = {""};
  EXPECT_EQ(UserApp::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(UserAppTest, StartsTheAppOnItsFirstRevisionAndStopsIt) {
  UserApp::Options options = Options();
  options.app_port = 4321;
  options.app_command = {"sh", "-c",
                         absl::StrCat("echo \"$PORT $(cat code.txt)\" > ",
                                      workdir_, "/started; exec sleep 60")};
  absl::Notification exited;
  options.on_app_exit = [&](const ProcessExit&) { exited.Notify(); };
  auto app = UserApp::Create(options);
  ASSERT_TRUE(app.ok());
  EXPECT_EQ((*app)->app_revision(), "");
  ASSERT_TRUE((*app)->Publish(kRev1).ok());
  EXPECT_EQ((*app)->app_revision(), kRev1);
  for (int i = 0; i < 500 && Read("started") == "<missing>"; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(Read("started"), "4321 one\n");
  // A later revision is the reload command's business, not a restart.
  ASSERT_TRUE((*app)->Publish(kRev2).ok());
  EXPECT_EQ((*app)->app_revision(), kRev1);
  app->reset();
  // Stopped by the agent: not an exit to report.
  EXPECT_FALSE(exited.HasBeenNotified());
}

TEST_F(UserAppTest, TellsWhenTheAppExitsByItself) {
  UserApp::Options options = Options();
  options.app_port = 4321;
  options.app_command = {"sh", "-c", "exit 7"};
  ProcessExit seen;
  absl::Notification exited;
  options.on_app_exit = [&](const ProcessExit& exit) {
    seen = exit;
    exited.Notify();
  };
  auto app = UserApp::Create(options);
  ASSERT_TRUE(app.ok());
  ASSERT_TRUE((*app)->Publish(kRev1).ok());
  ASSERT_TRUE(exited.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(seen.ToString(), "code 7");
}

}  // namespace
}  // namespace tether::agent
