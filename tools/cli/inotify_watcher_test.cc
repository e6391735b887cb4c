#include "tools/cli/inotify_watcher.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "gtest/gtest.h"

namespace tether::cli {
namespace {

using Kind = WatchEvent::Kind;

// Generous: only a broken watcher waits this long.
constexpr absl::Duration kPatience = absl::Seconds(20);

std::string TempDir() {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/inotify_test.XXXXXX";
  char resolved[PATH_MAX];
  EXPECT_NE(realpath(mkdtemp(tmpl.data()), resolved), nullptr);
  return resolved;
}

// An in-place write, as most editors and `echo >` do (no rename).
void Write(const std::string& path, const std::string& contents) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(write(fd, contents.data(), contents.size()),
            static_cast<ssize_t>(contents.size()));
  ASSERT_EQ(close(fd), 0);
}

void MakeDir(const std::string& path) {
  ASSERT_EQ(mkdir(path.c_str(), 0755), 0) << path;
}

WatchEvent Changed(std::string path) {
  return WatchEvent{Kind::kChanged, std::move(path), /*created=*/false};
}

WatchEvent Created(std::string path) {
  return WatchEvent{Kind::kChanged, std::move(path), /*created=*/true};
}

std::string Describe(const std::vector<WatchEvent>& events) {
  std::string text;
  for (const WatchEvent& event : events) {
    absl::StrAppend(&text, event.kind == Kind::kOverflow ? "overflow " : "",
                    event.created ? "created " : "", event.path, "\n");
  }
  return text;
}

class InotifyWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeDir(root_);
    MakeDir(root_ + "/pkg");
    Write(root_ + "/app.py", "x = 1\n");
  }

  void Watch(std::vector<std::string> files = {}) {
    absl::StatusOr<std::unique_ptr<InotifyWatcher>> watcher =
        InotifyWatcher::Create(WatchSpec{root_, std::move(files)});
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    watcher_ = *std::move(watcher);
  }

  // Collects events until one equals `last`; every event up to it is
  // returned, so tests can check nothing else was reported first (inotify
  // keeps order within an instance).
  std::vector<WatchEvent> Until(const WatchEvent& last) {
    std::vector<WatchEvent> seen;
    const absl::Time give_up = absl::Now() + kPatience;
    while (absl::Now() < give_up) {
      absl::StatusOr<std::vector<WatchEvent>> events =
          watcher_->Wait(absl::Milliseconds(200));
      EXPECT_TRUE(events.ok()) << events.status();
      if (!events.ok()) break;
      for (const WatchEvent& event : *events) {
        seen.push_back(event);
        if (event == last) return seen;
      }
    }
    ADD_FAILURE() << "no event for " << last.path << "; saw:\n"
                  << Describe(seen);
    return seen;
  }

  const std::string dir_ = TempDir();
  const std::string root_ = dir_ + "/code";
  std::unique_ptr<InotifyWatcher> watcher_;
};

TEST_F(InotifyWatcherTest, ReportsWritesCreatesAndDeletes) {
  Watch();
  EXPECT_EQ(watcher_->WatchedDirsForTest(),
            (std::vector<std::string>{"", "pkg"}));
  Write(root_ + "/app.py", "x = 2\n");
  EXPECT_EQ(Until(Changed(root_ + "/app.py")),
            std::vector<WatchEvent>{Changed(root_ + "/app.py")});
  Write(root_ + "/pkg/mod.py", "");
  // Create, then close-after-write of the same path: reported once.
  EXPECT_EQ(Until(Created(root_ + "/pkg/mod.py")),
            std::vector<WatchEvent>{Created(root_ + "/pkg/mod.py")});
  ASSERT_EQ(unlink((root_ + "/app.py").c_str()), 0);
  Until(Changed(root_ + "/app.py"));
  ASSERT_EQ(chmod((root_ + "/pkg/mod.py").c_str(), 0755), 0);
  Until(Changed(root_ + "/pkg/mod.py"));
}

TEST_F(InotifyWatcherTest, IgnoredPathsAreNeitherWatchedNorReported) {
  Write(root_ + "/.gitignore", "*.swp\nbuild/\n");
  for (const char* dir : {"/.git", "/__pycache__", "/build", "/pkg/build"}) {
    MakeDir(root_ + dir);
  }
  Watch();
  EXPECT_EQ(watcher_->WatchedDirsForTest(),
            (std::vector<std::string>{"", "pkg"}));

  Write(root_ + "/.app.py.swp", "editor state");
  Write(root_ + "/app.pyc", "bytecode");
  Write(root_ + "/pkg/.mod.py.swp", "editor state");
  MakeDir(root_ + "/pkg/__pycache__");
  Write(root_ + "/.git/index", "git");
  Write(root_ + "/build/out.o", "");
  // Then a change that counts: nothing above may come before it.
  Write(root_ + "/pkg/mod.py", "");
  EXPECT_EQ(Until(Created(root_ + "/pkg/mod.py")),
            std::vector<WatchEvent>{Created(root_ + "/pkg/mod.py")});
}

TEST_F(InotifyWatcherTest, IgnoreRuleChangesTakeEffect) {
  Watch();
  Write(root_ + "/.tetherignore", "*.tmp\nscratch/\n");
  Until(Created(root_ + "/.tetherignore"));
  MakeDir(root_ + "/scratch");
  Write(root_ + "/notes.tmp", "");
  Write(root_ + "/app.py", "x = 3\n");
  EXPECT_EQ(Until(Changed(root_ + "/app.py")),
            std::vector<WatchEvent>{Changed(root_ + "/app.py")});
  EXPECT_EQ(watcher_->WatchedDirsForTest(),
            (std::vector<std::string>{"", "pkg"}));
}

TEST_F(InotifyWatcherTest, NewDirectoriesAreWatched) {
  Watch();
  MakeDir(root_ + "/lib");
  // Reported once the watch set includes it.
  Until(Created(root_ + "/lib"));
  MakeDir(root_ + "/lib/deep");
  Until(Created(root_ + "/lib/deep"));
  EXPECT_EQ(watcher_->WatchedDirsForTest(),
            (std::vector<std::string>{"", "lib", "lib/deep", "pkg"}));
  Write(root_ + "/lib/deep/m.py", "");
  Until(Created(root_ + "/lib/deep/m.py"));
}

TEST_F(InotifyWatcherTest, RenamedDirectoriesAreWatchedUnderTheirNewName) {
  Watch();
  ASSERT_EQ(rename((root_ + "/pkg").c_str(), (root_ + "/lib").c_str()), 0);
  Until(Created(root_ + "/lib"));
  EXPECT_EQ(watcher_->WatchedDirsForTest(),
            (std::vector<std::string>{"", "lib"}));
  Write(root_ + "/lib/m.py", "");
  Until(Created(root_ + "/lib/m.py"));
}

TEST_F(InotifyWatcherTest, DeletedAndRecreatedDirectoryIsWatchedAgain) {
  Watch();
  ASSERT_TRUE(RemoveAll(root_ + "/pkg").ok());
  Until(Changed(root_ + "/pkg"));
  EXPECT_EQ(watcher_->WatchedDirsForTest(), std::vector<std::string>{""});
  MakeDir(root_ + "/pkg");
  Until(Created(root_ + "/pkg"));
  Write(root_ + "/pkg/again.py", "");
  Until(Created(root_ + "/pkg/again.py"));
}

TEST_F(InotifyWatcherTest, DeletedAndRecreatedRootIsWatchedAgain) {
  Watch();
  ASSERT_TRUE(RemoveAll(root_).ok());
  Until(Changed(root_));
  EXPECT_TRUE(watcher_->WatchedDirsForTest().empty());
  MakeDir(root_);
  Until(Created(root_));
  EXPECT_EQ(watcher_->WatchedDirsForTest(), std::vector<std::string>{""});
  Write(root_ + "/app.py", "");
  Until(Created(root_ + "/app.py"));
}

TEST_F(InotifyWatcherTest, WatchedFilesAreReportedWhereverTheyAre) {
  // The service file beside the code directory, saved by rename; and one
  // inside it that the ignore rules would drop.
  Write(dir_ + "/service.yaml", "name: a\n");
  Write(root_ + "/.tetherignore", "*.yaml\n");
  Write(root_ + "/inner.yaml", "name: b\n");
  Watch({dir_ + "/service.yaml", root_ + "/inner.yaml"});

  Write(dir_ + "/unrelated.txt", "");
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/service.yaml", "name: c\n").ok());
  // The temporary file of the atomic write is not reported either.
  EXPECT_EQ(Until(Created(dir_ + "/service.yaml")),
            std::vector<WatchEvent>{Created(dir_ + "/service.yaml")});
  Write(root_ + "/inner.yaml", "name: d\n");
  EXPECT_EQ(Until(Changed(root_ + "/inner.yaml")),
            std::vector<WatchEvent>{Changed(root_ + "/inner.yaml")});
}

TEST_F(InotifyWatcherTest, QueueOverflowIsReportedAndWatchingGoesOn) {
  absl::StatusOr<std::string> max =
      ReadFile("/proc/sys/fs/inotify/max_queued_events");
  int max_events = 0;
  ASSERT_TRUE(max.ok()) << max.status();
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(*max), &max_events));
  if (max_events > 200'000) GTEST_SKIP() << "queue too long: " << max_events;
  Watch();
  // Alternating files: the kernel merges an event equal to the last one.
  for (int i = 0; i <= max_events + 10; ++i) {
    Write(root_ + (i % 2 == 0 ? "/a.py" : "/b.py"), "");
  }
  const std::vector<WatchEvent> seen =
      Until(WatchEvent{Kind::kOverflow, root_});
  EXPECT_LE(seen.size(), 3u) << Describe(seen);
  Write(root_ + "/pkg/after.py", "");
  Until(Created(root_ + "/pkg/after.py"));
}

TEST_F(InotifyWatcherTest, SymlinkedDirectoriesAreNotFollowed) {
  MakeDir(dir_ + "/elsewhere");
  ASSERT_EQ(symlink("../elsewhere", (root_ + "/link").c_str()), 0);
  Watch();
  EXPECT_EQ(watcher_->WatchedDirsForTest(),
            (std::vector<std::string>{"", "pkg"}));
}

TEST_F(InotifyWatcherTest, TimeoutAndWake) {
  Watch();
  absl::StatusOr<std::vector<WatchEvent>> events =
      watcher_->Wait(absl::ZeroDuration());
  ASSERT_TRUE(events.ok());
  EXPECT_TRUE(events->empty());
  // Wake before or during the wait: either way it returns.
  std::thread waker([this] { watcher_->Wake(); });
  events = watcher_->Wait(absl::InfiniteDuration());
  waker.join();
  ASSERT_TRUE(events.ok());
  EXPECT_TRUE(events->empty());
}

TEST_F(InotifyWatcherTest, MissingRootIsWatchedFor) {
  ASSERT_TRUE(RemoveAll(root_).ok());
  Watch();
  EXPECT_TRUE(watcher_->WatchedDirsForTest().empty());
  MakeDir(root_);
  Until(Created(root_));
  EXPECT_EQ(watcher_->WatchedDirsForTest(), std::vector<std::string>{""});
}

TEST(InotifyWatcherCreateTest, RejectsRelativePaths) {
  EXPECT_EQ(InotifyWatcher::Create(WatchSpec{"code", {}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InotifyWatcher::Create(WatchSpec{"/tmp", {"service.yaml"}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether::cli
