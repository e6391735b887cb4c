#include "common/child_process.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether {
namespace {

using ::testing::HasSubstr;

// Everything the child writes to its fd 3, until it closes it.
std::string ReadAll(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  return out;
}

std::string Wait(pid_t pid) { return WaitChild(pid).ToString(); }

// `sh -c script`.
ChildSpec Shell(const std::string& script) {
  ChildSpec spec;
  spec.executable = "/bin/sh";
  spec.argv = {"sh", "-c", script};
  return spec;
}

// Closes the fds SpawnChild handed over.
void Release(const SpawnedChild& child) {
  for (int fd : {child.sock, child.pidfd}) {
    if (fd >= 0) close(fd);
  }
}

TEST(ChildProcessTest, ChildGetsTheSocketOnFd3AndTheEnvironment) {
  // Field 5 of /proc/PID/stat is the process group.
  ChildSpec spec =
      Shell("echo \"$GREETING $(cut -d' ' -f5 /proc/$$/stat)\" >&3");
  spec.env = {{"GREETING", "hi"}};
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_GE(child->pidfd, 0);
  const std::string out = ReadAll(child->sock);
  EXPECT_EQ(out, absl::StrCat("hi ", child->pid, "\n")) << "own group";
  EXPECT_EQ(Wait(child->pid), "code 0");
  Release(*child);
}

TEST(ChildProcessTest, SocketTypeIsTheRequestedOne) {
  ChildSpec spec = Shell("exit 3");
  spec.socket_type = SOCK_SEQPACKET;
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  int type = 0;
  socklen_t len = sizeof(type);
  ASSERT_EQ(getsockopt(child->sock, SOL_SOCKET, SO_TYPE, &type, &len), 0);
  EXPECT_EQ(type, SOCK_SEQPACKET);
  EXPECT_EQ(Wait(child->pid), "code 3");
  Release(*child);
}

TEST(ChildProcessTest, ExecFailureIsReportedAndReaped) {
  ChildSpec spec;
  spec.executable = "/no/such/binary";
  spec.argv = {"binary"};
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  EXPECT_TRUE(absl::IsNotFound(child.status())) << child.status();
  EXPECT_THAT(child.status().message(), HasSubstr("/no/such/binary"));
}

TEST(ChildProcessTest, SignalsReachTheGroupOrThePidfd) {
  ChildSpec spec = Shell("read line <&3");  // Blocks until the signal.
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  SignalGroup(child->pid, SIGTERM);
  EXPECT_EQ(Wait(child->pid), "signal 15");
  Release(*child);

  child = SpawnChild(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_TRUE(SignalPidfd(child->pidfd, SIGKILL));
  EXPECT_EQ(Wait(child->pid), "signal 9");
  EXPECT_FALSE(SignalPidfd(child->pidfd, SIGKILL)) << "already gone";
  EXPECT_FALSE(SignalPidfd(-1, SIGKILL));
  Release(*child);
}

TEST(ChildProcessTest, WithoutASocketOutputCanGoToAFile) {
  const std::string log =
      absl::StrCat(getenv("TEST_TMPDIR"), "/child_process_output.log");
  // fd 3 must be closed in the child: no socket was asked for.
  ChildSpec spec = Shell("echo out; echo err >&2; echo x >&3 || exit 4");
  spec.socket_type = 0;
  spec.output_path = log;
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(child->sock, -1);
  EXPECT_EQ(Wait(child->pid), "code 4");
  Release(*child);
  absl::StatusOr<std::string> text = ReadFile(log);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, HasSubstr("out\nerr\n"));
}

TEST(ChildProcessTest, ProcessExitDescribesAWaitStatus) {
  EXPECT_EQ(ProcessExit::FromWaitStatus(0),
            (ProcessExit{ProcessExit::Kind::kExited, 0}));
  EXPECT_EQ(ProcessExit::FromWaitStatus(3 << 8).ToString(), "code 3");
  EXPECT_EQ(ProcessExit::FromWaitStatus(SIGKILL),
            (ProcessExit{ProcessExit::Kind::kSignaled, SIGKILL}));
  EXPECT_EQ(ProcessExit::FromWaitStatus(SIGTERM).ToString(), "signal 15");
}

TEST(ChildProcessTest, AwaitExitWithoutPidfdKillsAtTheDeadline) {
  ChildSpec spec = Shell("read line <&3");  // Blocks until killed.
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  SimulatedClock clock;
  absl::Notification returned;
  std::thread waiter([&] {
    AwaitExitWithoutPidfd(child->pid, &clock, clock.Now() + absl::Seconds(5));
    returned.Notify();
  });
  clock.AwaitTimedWaiters(1);
  EXPECT_FALSE(returned.HasBeenNotified());
  clock.Advance(absl::Seconds(5));
  waiter.join();
  EXPECT_EQ(Wait(child->pid), "signal 9");
  Release(*child);
}

TEST(ChildProcessTest, AwaitExitWithoutPidfdReturnsWhenTheChildExits) {
  ChildSpec spec = Shell("exit 2");
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  SimulatedClock clock;
  AwaitExitWithoutPidfd(child->pid, &clock, clock.Now() + absl::Hours(1));
  EXPECT_EQ(Wait(child->pid), "code 2");
  Release(*child);
}

}  // namespace
}  // namespace tether
