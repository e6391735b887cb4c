// ZygoteProcess against the real Python runner in --zygote mode.

#include "agent/worker/zygote_process.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/worker/frame_io.h"
#include "agent/worker/worker_test_util.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tether/v1/worker.pb.h"

namespace tether::agent {
namespace {

using ::testing::HasSubstr;
using ::tether::agent::testing::MakeRevisionDir;
using ::tether::agent::testing::WaitFor;
using ::tether::v1::WorkerRequest;
using ::tether::v1::WorkerResponse;

constexpr char kService[] = R"py(
import os
import heavy
from shared import VALUE


def get():
    return "%s %s %s" % (VALUE, heavy.PID, os.getppid())
)py";

// True once `pidfd`'s process has exited (waits up to 30 s).
bool Exited(int pidfd) {
  struct pollfd pfd = {pidfd, POLLIN, 0};
  return poll(&pfd, 1, 30'000) == 1;
}

class ZygoteProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    site_ = MakeRevisionDir(
        "site", {{"heavy.py",
                  "import os\n"
                  "with open(os.environ['COUNTER'], 'a') as f:\n"
                  "    f.write('imported\\n')\n"
                  "PID = os.getpid()\n"},
                 {"broken.py", "raise RuntimeError('no GPU here')\n"}});
    counter_ = site_ + "/imports";
    rev1_ = MakeRevisionDir(
        "revs/r1", {{"svc.py", kService}, {"shared.py", "VALUE = 'r1'\n"}});
    rev2_ = MakeRevisionDir(
        "revs/r2", {{"svc.py", kService}, {"shared.py", "VALUE = 'r2'\n"}});
  }

  ZygoteProcess::Options Options(std::vector<std::string> preload) {
    ZygoteProcess::Options options;
    options.root = rev1_;
    options.preload = std::move(preload);
    options.env = {{"PYTHONPATH", site_}, {"COUNTER", counter_}};
    options.stop_grace = absl::Seconds(10);
    return options;
  }

  // Loads svc.get from `root` on a forked worker and calls it once.
  std::string LoadAndCall(const ZygoteProcess::Forked& worker,
                          const std::string& root) {
    FrameReader reader(worker.sock);
    WorkerRequest request;
    request.set_id(1);
    request.mutable_load()->set_root(root);
    request.mutable_load()->set_module("svc");
    request.mutable_load()->set_name("get");
    request.mutable_load()->add_preload("heavy");
    WorkerResponse response;
    absl::string_view frame;
    if (!WriteFrame(worker.sock, request.SerializeAsString()).ok() ||
        !reader.Read(&frame).ok() ||
        !response.ParseFromArray(frame.data(), frame.size())) {
      return "protocol error";
    }
    if (!response.has_loaded()) return response.DebugString();
    request.Clear();
    request.set_id(2);
    request.mutable_invoke();
    if (!WriteFrame(worker.sock, request.SerializeAsString()).ok() ||
        !reader.Read(&frame).ok() ||
        !response.ParseFromArray(frame.data(), frame.size())) {
      return "protocol error";
    }
    return response.result().payload();
  }

  std::string site_;
  std::string counter_;
  std::string rev1_;
  std::string rev2_;
};

TEST_F(ZygoteProcessTest, WorkersShareThePreloadButLoadTheirOwnRevision) {
  absl::StatusOr<std::shared_ptr<ZygoteProcess>> zygote =
      ZygoteProcess::Start(Options({"heavy", "shared"}));
  ASSERT_TRUE(zygote.ok()) << zygote.status();
  const pid_t zygote_pid = (*zygote)->pid();
  absl::StatusOr<ZygoteProcess::Forked> a = (*zygote)->Fork();
  absl::StatusOr<ZygoteProcess::Forked> b = (*zygote)->Fork();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  // `heavy` was imported by the zygote (its pid), the workers are its
  // children, and rev2's worker sees rev2's `shared` although the zygote
  // imported rev1's.
  EXPECT_EQ(LoadAndCall(*a, rev2_),
            absl::StrCat("\"r2 ", zygote_pid, " ", zygote_pid, "\""));
  EXPECT_EQ(LoadAndCall(*b, rev1_),
            absl::StrCat("\"r1 ", zygote_pid, " ", zygote_pid, "\""));
  EXPECT_EQ(*ReadFile(counter_), "imported\n");

  // A closed socket ends a worker cleanly; a signal goes to its group.
  close(a->sock);
  absl::StatusOr<int> status = (*zygote)->WaitExit(a->pid, absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_TRUE(Exited(a->pidfd));
  EXPECT_TRUE((*zygote)->Signal(b->pid, SIGKILL));
  status = (*zygote)->WaitExit(b->pid, absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL);
  // Each exit is collected once.
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      (*zygote)->WaitExit(b->pid, absl::Milliseconds(1)).status()));
  for (int fd : {a->pidfd, b->sock, b->pidfd}) close(fd);

  zygote->reset();
  EXPECT_NE(kill(zygote_pid, 0), 0) << "stopped and reaped";
}

TEST_F(ZygoteProcessTest, APreloadThatRaisesIsFailedPreconditionWithTraceback) {
  absl::StatusOr<std::shared_ptr<ZygoteProcess>> zygote =
      ZygoteProcess::Start(Options({"heavy", "broken"}));
  EXPECT_TRUE(absl::IsFailedPrecondition(zygote.status())) << zygote.status();
  EXPECT_THAT(zygote.status().message(),
              HasSubstr("RuntimeError: preloading 'broken': no GPU here"));
  EXPECT_THAT(zygote.status().message(), HasSubstr("Traceback"));
}

TEST_F(ZygoteProcessTest, AMissingPreloadIsFailedPrecondition) {
  absl::StatusOr<std::shared_ptr<ZygoteProcess>> zygote =
      ZygoteProcess::Start(Options({"no_such_module"}));
  EXPECT_TRUE(absl::IsFailedPrecondition(zygote.status())) << zygote.status();
  EXPECT_THAT(zygote.status().message(),
              HasSubstr("No module named 'no_such_module'"));
}

TEST_F(ZygoteProcessTest, WorkersDieWithTheZygote) {
  absl::StatusOr<std::shared_ptr<ZygoteProcess>> zygote =
      ZygoteProcess::Start(Options({"heavy"}));
  ASSERT_TRUE(zygote.ok()) << zygote.status();
  absl::StatusOr<ZygoteProcess::Forked> worker = (*zygote)->Fork();
  ASSERT_TRUE(worker.ok()) << worker.status();
  ASSERT_EQ(kill((*zygote)->pid(), SIGKILL), 0);
  EXPECT_TRUE(Exited(worker->pidfd)) << "PDEATHSIG";
  ASSERT_TRUE(WaitFor([&] { return !(*zygote)->alive(); }));
  absl::StatusOr<ZygoteProcess::Forked> another = (*zygote)->Fork();
  EXPECT_TRUE(absl::IsUnavailable(another.status())) << another.status();
  EXPECT_THAT(another.status().message(), HasSubstr("exited (signal 9)"));
  EXPECT_TRUE(absl::IsUnavailable(
      (*zygote)->WaitExit(worker->pid, absl::Seconds(1)).status()));
  EXPECT_FALSE((*zygote)->Signal(worker->pid, SIGKILL));
  close(worker->sock);
  close(worker->pidfd);
}

}  // namespace
}  // namespace tether::agent
