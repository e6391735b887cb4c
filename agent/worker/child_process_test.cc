#include "agent/worker/child_process.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::agent {
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

int Wait(pid_t pid) {
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return status;
}

TEST(ChildProcessTest, ChildGetsTheSocketOnFd3AndTheEnvironment) {
  ChildSpec spec;
  spec.executable = "/bin/sh";
  // Field 5 of /proc/PID/stat is the process group.
  spec.argv = {"sh", "-c",
               "echo \"$GREETING $(cut -d' ' -f5 /proc/$$/stat)\" >&3"};
  spec.env = {{"GREETING", "hi"}};
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_GE(child->pidfd, 0);
  const std::string out = ReadAll(child->sock);
  EXPECT_EQ(out, absl::StrCat("hi ", child->pid, "\n")) << "own group";
  EXPECT_EQ(DescribeExit(Wait(child->pid)), "code 0");
  close(child->sock);
  close(child->pidfd);
}

TEST(ChildProcessTest, SocketTypeIsTheRequestedOne) {
  ChildSpec spec;
  spec.executable = "/bin/sh";
  spec.argv = {"sh", "-c", "exit 3"};
  spec.socket_type = SOCK_SEQPACKET;
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  int type = 0;
  socklen_t len = sizeof(type);
  ASSERT_EQ(getsockopt(child->sock, SOL_SOCKET, SO_TYPE, &type, &len), 0);
  EXPECT_EQ(type, SOCK_SEQPACKET);
  EXPECT_EQ(DescribeExit(Wait(child->pid)), "code 3");
  close(child->sock);
  close(child->pidfd);
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
  ChildSpec spec;
  spec.executable = "/bin/sh";
  spec.argv = {"sh", "-c", "read line <&3"};  // Blocks until the signal.
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  SignalGroup(child->pid, SIGTERM);
  EXPECT_EQ(DescribeExit(Wait(child->pid)), "signal 15");
  close(child->sock);
  close(child->pidfd);

  child = SpawnChild(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_TRUE(SignalPidfd(child->pidfd, SIGKILL));
  EXPECT_EQ(DescribeExit(Wait(child->pid)), "signal 9");
  EXPECT_FALSE(SignalPidfd(child->pidfd, SIGKILL)) << "already gone";
  EXPECT_FALSE(SignalPidfd(-1, SIGKILL));
  close(child->sock);
  close(child->pidfd);
}

}  // namespace
}  // namespace tether::agent
