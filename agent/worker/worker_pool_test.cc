// WorkerPool against the real Python runner and native worker.

#include "agent/worker/worker_pool.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/worker/worker_test_util.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::tether::agent::testing::Call;
using ::tether::agent::testing::CallWaiter;
using ::tether::agent::testing::MakeFifo;
using ::tether::agent::testing::MakeRevisionDir;
using ::tether::agent::testing::OpenFifoWhenReaderArrives;
using ::tether::agent::testing::WaitFor;

// `version` is what greet() answers, so tests can tell revisions apart.
std::string Module(const std::string& version) {
  return absl::StrCat(R"py(
import os

VERSION = ")py",
                      version, R"py("


def greet(name):
    return VERSION + ":" + name


def block(fifo):
    with open(fifo) as f:
        return VERSION + ":" + f.read()


def pid():
    return os.getpid()


def ppid():
    return os.getppid()
)py");
}

class WorkerPoolTestBase : public ::testing::Test {
 protected:
  explicit WorkerPoolTestBase(bool zygote) : zygote_(zygote) {}

  void SetUp() override {
    rev1_ = MakeRevisionDir("rev1", {{"svc.py", Module("v1")}});
    rev2_ = MakeRevisionDir("rev2", {{"svc.py", Module("v2")}});
    MakePool(absl::Seconds(10));
  }

  void MakePool(absl::Duration restart_backoff_max) {
    pool_.reset();
    WorkerPool::Options options;
    options.zygote = zygote_;
    options.stop_grace = absl::Seconds(10);
    options.restart_backoff.max = restart_backoff_max;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<WorkerPool>> pool =
        WorkerPool::Create(std::move(options));
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
  }

  WorkerConfig Config(const std::string& dir, const std::string& name,
                      int workers = 1) {
    WorkerConfig config;
    config.runtime = tether::v1::RUNTIME_PYTHON;
    config.revision_dir = dir;
    config.load.set_module("svc");
    config.load.set_name(name);
    config.workers = workers;
    return config;
  }

  CallWaiter::Outcome CallAndWait(const tether::v1::InvokeRequest& request) {
    CallWaiter waiter;
    pool_->Invoke(request, waiter.Callback());
    return waiter.Wait();
  }

  // greet("x") through the pool: "v1:x", or the error.
  std::string Greet() {
    const CallWaiter::Outcome outcome =
        CallAndWait(Call("", R"({"args": ["x"]})"));
    if (!outcome.ok()) return outcome.status().ToString();
    if (outcome->has_error()) return outcome->error().DebugString();
    return outcome->payload();
  }

  std::string BlockArgs(const std::string& fifo) {
    return absl::StrCat(R"({"args": [")", fifo, R"("]})");
  }

  // Kills the serving worker, waits out its restart backoff on the clock and
  // for the new worker; returns the backoff.
  absl::Duration KillAndAwaitRestart() {
    const std::vector<pid_t> pids = pool_->ServingPids();
    EXPECT_EQ(pids.size(), 1u);
    if (pids.size() != 1) return absl::ZeroDuration();
    EXPECT_EQ(kill(pids[0], SIGKILL), 0);
    clock_.AwaitTimedWaiters(1);
    const absl::Duration delay = clock_.DeadlinesForTest()[0] - clock_.Now();
    clock_.Advance(delay);
    EXPECT_TRUE(WaitFor([&] {
      const std::vector<pid_t> now = pool_->ServingPids();
      return now.size() == 1 && now[0] != pids[0];
    }));
    return delay;
  }

  const bool zygote_;
  SimulatedClock clock_{absl::FromUnixSeconds(1'000'000)};
  std::string rev1_;
  std::string rev2_;
  std::unique_ptr<WorkerPool> pool_;
};

// Every test runs with workers started from scratch and forked from a
// zygote: the pool must behave the same.
class WorkerPoolTest : public WorkerPoolTestBase,
                       public ::testing::WithParamInterface<bool> {
 protected:
  WorkerPoolTest() : WorkerPoolTestBase(GetParam()) {}
};

INSTANTIATE_TEST_SUITE_P(StartedOrForked, WorkerPoolTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Zygote" : "Exec";
                         });

TEST_P(WorkerPoolTest, NothingLoadedIsUnavailable) {
  const CallWaiter::Outcome outcome = CallAndWait(Call("", ""));
  EXPECT_TRUE(absl::IsUnavailable(outcome.status())) << outcome.status();
  EXPECT_THAT(outcome.status().message(), HasSubstr("no workers loaded yet"));
  EXPECT_EQ(pool_->ServingRevisionDir(), "");
}

TEST_P(WorkerPoolTest, LoadsAndServes) {
  ASSERT_TRUE(pool_->Load(Config(rev1_, "greet", 2)).ok());
  EXPECT_EQ(pool_->ServingRevisionDir(), rev1_);
  EXPECT_EQ(pool_->ServingPids().size(), 2u);
  EXPECT_EQ(Greet(), R"("v1:x")");
}

TEST_P(WorkerPoolTest, BadConfigsAreRefused) {
  EXPECT_TRUE(
      absl::IsInvalidArgument(pool_->Load(Config("relative", "greet"))));
  EXPECT_TRUE(
      absl::IsNotFound(pool_->Load(Config(rev1_ + "/missing", "greet"))));
  EXPECT_TRUE(absl::IsInvalidArgument(pool_->Load(Config(rev1_, ""))));
  EXPECT_TRUE(absl::IsInvalidArgument(pool_->Load(Config(rev1_, "greet", -1))));
}

TEST_P(WorkerPoolTest, BusyWorkerIsSkippedForAnIdleOne) {
  ASSERT_TRUE(pool_->Load(Config(rev1_, "block", 2)).ok());
  const std::string fifo1 = absl::StrCat(rev1_, "/fifo1");
  const std::string fifo2 = absl::StrCat(rev1_, "/fifo2");
  MakeFifo(fifo1);
  MakeFifo(fifo2);
  CallWaiter first;
  CallWaiter second;
  pool_->Invoke(Call("", BlockArgs(fifo1)), first.Callback());
  pool_->Invoke(Call("", BlockArgs(fifo2)), second.Callback());
  // Both calls are running at once: each worker got one.
  const int fd1 = OpenFifoWhenReaderArrives(fifo1);
  const int fd2 = OpenFifoWhenReaderArrives(fifo2);
  ASSERT_GE(fd1, 0);
  ASSERT_GE(fd2, 0);
  ASSERT_EQ(write(fd1, "a", 1), 1);
  ASSERT_EQ(write(fd2, "b", 1), 1);
  close(fd1);
  close(fd2);
  EXPECT_EQ(first.Wait()->payload(), R"("v1:a")");
  EXPECT_EQ(second.Wait()->payload(), R"("v1:b")");
}

TEST_P(WorkerPoolTest, KilledWorkerAbortsItsCallAndIsRestarted) {
  ASSERT_TRUE(pool_->Load(Config(rev1_, "block")).ok());
  const std::vector<pid_t> pids = pool_->ServingPids();
  ASSERT_EQ(pids.size(), 1u);
  const std::string fifo = absl::StrCat(rev1_, "/fifo");
  MakeFifo(fifo);
  CallWaiter waiter;
  pool_->Invoke(Call("", BlockArgs(fifo)), waiter.Callback());
  const int fd = OpenFifoWhenReaderArrives(fifo);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(kill(pids[0], SIGKILL), 0);
  const CallWaiter::Outcome outcome = waiter.Wait();
  close(fd);
  EXPECT_TRUE(absl::IsAborted(outcome.status())) << outcome.status();
  EXPECT_THAT(outcome.status().message(),
              HasSubstr(absl::StrCat("worker process ", pids[0],
                                     " exited (signal 9) during the call")));

  clock_.AwaitTimedWaiters(1);
  EXPECT_EQ(clock_.DeadlinesForTest(),
            std::vector<absl::Time>{clock_.Now() + absl::Milliseconds(100)});
  EXPECT_EQ(pool_->restarts(), 0) << "not before the backoff";
  clock_.Advance(absl::Milliseconds(100));
  ASSERT_TRUE(WaitFor([&] {
    const std::vector<pid_t> now = pool_->ServingPids();
    return now.size() == 1 && now[0] != pids[0];
  }));
  EXPECT_EQ(pool_->restarts(), 1);
  // The next call succeeds on the new worker.
  MakeFifo(fifo);
  CallWaiter next;
  pool_->Invoke(Call("", BlockArgs(fifo)), next.Callback());
  const int fd2 = OpenFifoWhenReaderArrives(fifo);
  ASSERT_GE(fd2, 0);
  ASSERT_EQ(write(fd2, "ok", 2), 2);
  close(fd2);
  EXPECT_EQ(next.Wait()->payload(), R"("v1:ok")");
}

TEST_P(WorkerPoolTest, RestartBackoffDoublesAndIsCapped) {
  MakePool(absl::Milliseconds(300));
  ASSERT_TRUE(pool_->Load(Config(rev1_, "greet")).ok());
  std::vector<absl::Duration> delays;
  for (int i = 0; i < 4; ++i) delays.push_back(KillAndAwaitRestart());
  EXPECT_THAT(delays,
              ElementsAre(absl::Milliseconds(100), absl::Milliseconds(200),
                          absl::Milliseconds(300), absl::Milliseconds(300)));
  EXPECT_EQ(Greet(), R"("v1:x")");
  EXPECT_EQ(pool_->restarts(), 4);
}

TEST_P(WorkerPoolTest, BackoffStartsOverAfterAHealthyRun) {
  ASSERT_TRUE(pool_->Load(Config(rev1_, "greet")).ok());
  std::vector<absl::Duration> delays;
  for (int i = 0; i < 3; ++i) {
    if (i == 2) clock_.Advance(absl::Minutes(5));  // A long, healthy run.
    delays.push_back(KillAndAwaitRestart());
  }
  EXPECT_THAT(delays,
              ElementsAre(absl::Milliseconds(100), absl::Milliseconds(200),
                          absl::Milliseconds(100)));
}

TEST_P(WorkerPoolTest, ReloadSwitchesToTheNewRevision) {
  ASSERT_TRUE(pool_->Load(Config(rev1_, "greet", 2)).ok());
  const std::vector<pid_t> old_pids = pool_->ServingPids();
  EXPECT_EQ(Greet(), R"("v1:x")");
  ASSERT_TRUE(pool_->Load(Config(rev2_, "greet", 2)).ok());
  EXPECT_EQ(pool_->ServingRevisionDir(), rev2_);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Greet(), R"("v2:x")");
  // The old generation drains and goes away.
  for (pid_t pid : old_pids) {
    EXPECT_TRUE(WaitFor([&] { return kill(pid, 0) != 0; })) << pid;
  }
}

TEST_P(WorkerPoolTest, FailedReloadKeepsTheOldRevisionServing) {
  ASSERT_TRUE(pool_->Load(Config(rev1_, "greet")).ok());
  const std::string broken =
      MakeRevisionDir("broken", {{"svc.py",
                                  "def greet(name):\n    return 1 / 0\n\nraise "
                                  "RuntimeError('config missing')\n"}});
  const absl::Status status = pool_->Load(Config(broken, "greet"));
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("RuntimeError: config missing"));
  EXPECT_THAT(status.message(), HasSubstr("Traceback"));
  EXPECT_EQ(pool_->ServingRevisionDir(), rev1_);
  EXPECT_EQ(Greet(), R"("v1:x")");

  const absl::Status missing = pool_->Load(Config(rev2_, "greeet"));
  EXPECT_TRUE(absl::IsFailedPrecondition(missing)) << missing;
  EXPECT_THAT(missing.message(), HasSubstr("'greeet'"));
  EXPECT_EQ(Greet(), R"("v1:x")");
}

TEST_P(WorkerPoolTest, ReloadLetsOldCallsFinishOnTheOldRevision) {
  ASSERT_TRUE(pool_->Load(Config(rev1_, "block")).ok());
  const std::string fifo = absl::StrCat(rev1_, "/fifo");
  MakeFifo(fifo);
  CallWaiter old_call;
  pool_->Invoke(Call("", BlockArgs(fifo)), old_call.Callback());
  const int fd = OpenFifoWhenReaderArrives(fifo);
  ASSERT_GE(fd, 0);

  WorkerConfig next = Config(rev2_, "greet");
  ASSERT_TRUE(pool_->Load(next).ok());
  EXPECT_EQ(Greet(), R"("v2:x")");
  EXPECT_FALSE(old_call.done());
  ASSERT_EQ(write(fd, "late", 4), 4);
  close(fd);
  const CallWaiter::Outcome outcome = old_call.Wait();
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->payload(), R"("v1:late")");
}

TEST_P(WorkerPoolTest, DestroyingThePoolAbortsCallsInFlight) {
  ASSERT_TRUE(pool_->Load(Config(rev1_, "block")).ok());
  const std::string fifo = absl::StrCat(rev1_, "/fifo");
  MakeFifo(fifo);
  CallWaiter waiter;
  pool_->Invoke(Call("", BlockArgs(fifo)), waiter.Callback());
  const int fd = OpenFifoWhenReaderArrives(fifo);
  ASSERT_GE(fd, 0);
  pool_.reset();
  close(fd);
  EXPECT_TRUE(absl::IsAborted(waiter.Wait().status()));
}

TEST_P(WorkerPoolTest, ConcurrentCallersAllGetTheirOwnAnswers) {
  ASSERT_TRUE(pool_->Load(Config(rev1_, "greet", 3)).ok());
  constexpr int kThreads = 8;
  constexpr int kCalls = 100;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const std::string name = absl::StrCat(t, "-", i);
        CallWaiter waiter;
        pool_->Invoke(Call("", absl::StrCat(R"({"args": [")", name, R"("]})")),
                      waiter.Callback());
        const CallWaiter::Outcome outcome = waiter.Wait();
        if (!outcome.ok() ||
            outcome->payload() != absl::StrCat(R"("v1:)", name, R"(")")) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_P(WorkerPoolTest, ServesANativeLibrary) {
  absl::StatusOr<std::string> library =
      FindDataFile("examples/native_echo/libecho.so");
  ASSERT_TRUE(library.ok()) << library.status();
  WorkerConfig config;
  config.runtime = tether::v1::RUNTIME_NATIVE;
  config.revision_dir = library->substr(0, library->rfind('/'));
  config.load.set_module("libecho.so");
  config.workers = 2;
  ASSERT_TRUE(pool_->Load(config).ok());
  const CallWaiter::Outcome outcome =
      CallAndWait(Call("echo", "ping", tether::v1::CODEC_RAW));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->payload(), "ping");
}

TEST_P(WorkerPoolTest, ZygoteIsUsedOnlyWhenAsked) {
  ASSERT_TRUE(pool_->Load(Config(rev1_, "ppid")).ok());
  const CallWaiter::Outcome outcome = CallAndWait(Call("", ""));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  if (zygote_) {
    ASSERT_GT(pool_->ServingZygotePid(), 0);
    EXPECT_EQ(outcome->payload(), absl::StrCat(pool_->ServingZygotePid()));
  } else {
    EXPECT_EQ(pool_->ServingZygotePid(), -1);
    EXPECT_EQ(outcome->payload(), absl::StrCat(getpid()));
  }
}

// A preload module outside the revision (as torch would be, in
// site-packages) that counts its imports, and a service whose `shared`
// module is user code listed in preload too.
constexpr char kHeavy[] = R"py(
import os
with open(os.environ["COUNTER"], "a") as f:
    f.write("imported\n")
)py";

std::string ZygoteModule() {
  return R"py(
import os
import heavy
from shared import VALUE


def greet(name):
    return VALUE + ":" + name


def ppid():
    return os.getppid()
)py";
}

class WorkerPoolZygoteTest : public WorkerPoolTestBase {
 protected:
  WorkerPoolZygoteTest() : WorkerPoolTestBase(/*zygote=*/true) {}

  void SetUp() override {
    WorkerPoolTestBase::SetUp();
    site_ = MakeRevisionDir(
        "site", {{"heavy.py", kHeavy},
                 {"broken.py", "raise ImportError('libcuda.so.1')\n"}});
    counter_ = site_ + "/imports";
    rev1_ = MakeRevisionDir(
        "zrev1", {{"svc.py", ZygoteModule()}, {"shared.py", "VALUE = 'v1'\n"}});
    rev2_ = MakeRevisionDir(
        "zrev2", {{"svc.py", ZygoteModule()}, {"shared.py", "VALUE = 'v2'\n"}});
  }

  WorkerConfig Preloading(const std::string& dir,
                          std::vector<std::string> preload, int workers = 2) {
    WorkerConfig config = Config(dir, "greet", workers);
    for (const std::string& module : preload) config.load.add_preload(module);
    config.env = {{"PYTHONPATH", site_}, {"COUNTER", counter_}};
    return config;
  }

  int Imports() {
    absl::StatusOr<std::string> text = ReadFile(counter_);
    return text.ok() ? std::count(text->begin(), text->end(), '\n') : 0;
  }

  std::string site_;
  std::string counter_;
};

TEST_F(WorkerPoolZygoteTest, ReloadsImportThePreloadOnceButNotOldUserCode) {
  ASSERT_TRUE(pool_->Load(Preloading(rev1_, {"heavy", "shared"})).ok());
  const pid_t zygote = pool_->ServingZygotePid();
  ASSERT_GT(zygote, 0);
  EXPECT_EQ(Greet(), R"("v1:x")");
  for (const std::string& dir : {rev2_, rev1_, rev2_}) {
    ASSERT_TRUE(pool_->Load(Preloading(dir, {"heavy", "shared"})).ok());
    // `shared` comes from the revision loaded, not from the zygote's.
    const std::string version = dir == rev1_ ? "v1" : "v2";
    for (int i = 0; i < 3; ++i) EXPECT_EQ(Greet(), "\"" + version + ":x\"");
  }
  EXPECT_EQ(pool_->ServingZygotePid(), zygote);
  EXPECT_EQ(Imports(), 1);
}

TEST_F(WorkerPoolZygoteTest, ANewPreloadListStartsANewZygote) {
  ASSERT_TRUE(pool_->Load(Preloading(rev1_, {"heavy"})).ok());
  const pid_t first = pool_->ServingZygotePid();
  ASSERT_TRUE(pool_->Load(Preloading(rev2_, {"heavy", "json"})).ok());
  const pid_t second = pool_->ServingZygotePid();
  EXPECT_NE(second, first);
  EXPECT_EQ(Greet(), R"("v2:x")");
  EXPECT_EQ(Imports(), 2);
  // The old zygote goes once its workers have drained.
  EXPECT_TRUE(WaitFor([&] { return kill(first, 0) != 0; }));
}

TEST_F(WorkerPoolZygoteTest, AKilledZygoteIsReplacedAndItsWorkersRestarted) {
  ASSERT_TRUE(pool_->Load(Preloading(rev1_, {"heavy"})).ok());
  const pid_t first = pool_->ServingZygotePid();
  const std::vector<pid_t> workers = pool_->ServingPids();
  ASSERT_EQ(workers.size(), 2u);
  ASSERT_EQ(kill(first, SIGKILL), 0);
  // Its workers die with it (PDEATHSIG) and come back from a new zygote.
  ASSERT_TRUE(WaitFor([&] {
    clock_.Advance(absl::Milliseconds(100));  // Their restart backoff.
    const std::vector<pid_t> now = pool_->ServingPids();
    return now.size() == 2 && now[0] != workers[0] && now[1] != workers[1];
  }));
  EXPECT_NE(pool_->ServingZygotePid(), first);
  EXPECT_GT(pool_->ServingZygotePid(), 0);
  EXPECT_EQ(Greet(), R"("v1:x")");
  EXPECT_EQ(Imports(), 2);
}

TEST_F(WorkerPoolZygoteTest, AFailingPreloadKeepsTheOldWorkersServing) {
  ASSERT_TRUE(pool_->Load(Preloading(rev1_, {"heavy"})).ok());
  const absl::Status status = pool_->Load(Preloading(rev2_, {"broken"}));
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(status.message(),
              HasSubstr("ImportError: preloading 'broken': libcuda.so.1"));
  EXPECT_THAT(status.message(), HasSubstr("Traceback"));
  EXPECT_EQ(pool_->ServingRevisionDir(), rev1_);
  EXPECT_EQ(Greet(), R"("v1:x")");
}

}  // namespace
}  // namespace tether::agent
