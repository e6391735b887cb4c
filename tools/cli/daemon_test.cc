#include "tools/cli/daemon.h"

#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "gtest/gtest.h"

namespace tether::cli {
namespace {

std::string TempDir() {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/daemon_test.XXXXXX";
  return mkdtemp(tmpl.data());
}

// Waits (bounded) for a spawned child to exit. The child is a real process,
// so there is no clock to fake; the bound only keeps a broken test finite.
std::optional<std::string> AwaitExit(pid_t pid) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    if (std::optional<std::string> exit = ChildExit(pid)) return exit;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return std::nullopt;
}

TEST(ReadPidFileTest, ParsesAndRejects) {
  const std::string dir = TempDir();
  ASSERT_TRUE(WriteFileAtomically(dir + "/ok.pid", "1234\n").ok());
  EXPECT_EQ(*ReadPidFile(dir + "/ok.pid"), 1234);
  ASSERT_TRUE(WriteFileAtomically(dir + "/bad.pid", "tetherd").ok());
  EXPECT_EQ(ReadPidFile(dir + "/bad.pid").status().message(),
            dir + "/bad.pid does not hold a process id");
  ASSERT_TRUE(WriteFileAtomically(dir + "/zero.pid", "0").ok());
  EXPECT_EQ(ReadPidFile(dir + "/zero.pid").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadPidFile(dir + "/missing.pid").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(CommandLineIsTest, ComparesTheBaseNameOfArgv0) {
  using namespace std::string_literals;
  EXPECT_TRUE(CommandLineIs("/opt/tether/controlplane/tetherd\0--listen=x\0"s,
                            "tetherd"));
  EXPECT_TRUE(CommandLineIs("tetherd\0"s, "tetherd"));
  EXPECT_FALSE(CommandLineIs("/usr/bin/python3\0tetherd\0"s, "tetherd"));
  EXPECT_FALSE(CommandLineIs("/bin/tetherd-old\0"s, "tetherd"));
  EXPECT_FALSE(CommandLineIs("", "tetherd"));
}

TEST(IsProgramRunningTest, ChecksLivenessAndName) {
  absl::StatusOr<std::string> cmdline = ReadFile("/proc/self/cmdline");
  ASSERT_TRUE(cmdline.ok());
  std::string argv0 = cmdline->substr(0, cmdline->find('\0'));
  argv0 = argv0.substr(argv0.rfind('/') + 1);
  EXPECT_TRUE(IsProgramRunning(getpid(), argv0));
  EXPECT_FALSE(IsProgramRunning(getpid(), "tetherd"));
  EXPECT_FALSE(IsProgramRunning(0, argv0));
  EXPECT_FALSE(IsProgramRunning(-1, argv0));
}

TEST(SpawnDetachedTest, RunsInANewSessionAndLogs) {
  const std::string dir = TempDir();
  const std::string log = dir + "/out.log";
  ASSERT_TRUE(WriteFileAtomically(log, "earlier line\n").ok());
  // Prints its pid and its session id (field 6 of /proc/self/stat), reads
  // stdin (/dev/null: EOF at once), writes to stderr, exits 3.
  absl::StatusOr<pid_t> pid = SpawnDetached(
      {"/bin/sh", "-c",
       "echo $$; cut -d' ' -f6 /proc/$$/stat; cat; echo oops >&2; exit 3"},
      log);
  ASSERT_TRUE(pid.ok()) << pid.status();
  EXPECT_EQ(AwaitExit(*pid), "code 3");
  absl::StatusOr<std::string> contents = ReadFile(log);
  ASSERT_TRUE(contents.ok());
  std::vector<std::string> lines = absl::StrSplit(*contents, '\n');
  ASSERT_GE(lines.size(), 4u) << *contents;
  EXPECT_EQ(lines[0], "earlier line");  // Appended, not truncated.
  EXPECT_EQ(lines[1], absl::StrCat(*pid));
  EXPECT_EQ(lines[2], absl::StrCat(*pid));  // Session leader.
  EXPECT_EQ(lines[3], "oops");
}

TEST(SpawnDetachedTest, ReportsSignals) {
  absl::StatusOr<pid_t> pid =
      SpawnDetached({"/bin/sh", "-c", "kill -9 $$"}, TempDir() + "/log");
  ASSERT_TRUE(pid.ok()) << pid.status();
  EXPECT_EQ(AwaitExit(*pid), "signal 9");
}

TEST(SpawnDetachedTest, MissingProgram) {
  absl::StatusOr<pid_t> pid =
      SpawnDetached({"/nonexistent/tetherd"}, TempDir() + "/log");
  // glibc reports exec failures from posix_spawn itself.
  EXPECT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().message().substr(0, 27),
            "spawn /nonexistent/tetherd:");
}

TEST(SpawnDetachedTest, UnwritableLog) {
  absl::StatusOr<pid_t> pid =
      SpawnDetached({"/bin/true"}, "/nonexistent/dir/log");
  EXPECT_EQ(pid.status().code(), absl::StatusCode::kNotFound);
}

TEST(TailOfFileTest, LastLines) {
  const std::string dir = TempDir();
  ASSERT_TRUE(WriteFileAtomically(dir + "/log", "a\nb\nc\nd\n").ok());
  EXPECT_EQ(TailOfFile(dir + "/log", 2), "c\nd");
  EXPECT_EQ(TailOfFile(dir + "/log", 10), "a\nb\nc\nd");
  EXPECT_EQ(TailOfFile(dir + "/missing", 2), "");
  // Only the end of a large file is read.
  ASSERT_TRUE(
      WriteFileAtomically(dir + "/big", std::string(1 << 20, 'x') + "\nlast\n")
          .ok());
  EXPECT_EQ(TailOfFile(dir + "/big", 1), "last");
}

}  // namespace
}  // namespace tether::cli
