// WorkerProcess against the real Python runner (/usr/bin/python3) and the
// real native worker with examples/native_echo.

#include "agent/worker/worker_process.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/worker/call_handle.h"
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
using ::testing::MatchesRegex;
using ::testing::Pair;
using ::tether::agent::testing::Call;
using ::tether::agent::testing::CallWaiter;
using ::tether::agent::testing::MakeFifo;
using ::tether::agent::testing::MakeRevisionDir;
using ::tether::agent::testing::OpenFifoWhenReaderArrives;
using ::tether::v1::CallResult;
using ::tether::v1::LogLine;

constexpr char kModule[] = R"py(
import os
import sys


def add(a, b=0):
    return a + b


def shout(text):
    print("got", text)
    print("warning!", file=sys.stderr)
    sys.stdout.write("no newline")
    return text.upper()


def fail(kind):
    raise ValueError("bad kind: " + kind)


def reverse(data):
    return data[::-1]


def block(fifo):
    with open(fifo) as f:
        return f.read()


def env(name):
    return os.environ.get(name)


def open_fds():
    return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))


def process_group():
    return [os.getpid(), os.getpgid(0)]


class Counter:
    def __init__(self, start=0, step=1):
        self.value = start
        self.step = step

    def increment(self):
        self.value += self.step
        return self.value
)py";

class WorkerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeRevisionDir("rev", {{"mod.py", kModule}});
  }

  WorkerProcess::Options PythonOptions(const std::string& name,
                                       const std::string& init_json = "") {
    WorkerProcess::Options options;
    options.runtime = tether::v1::RUNTIME_PYTHON;
    options.load.set_root(dir_);
    options.load.set_module("mod");
    options.load.set_name(name);
    options.load.set_init_json(init_json);
    options.stop_grace = absl::Seconds(10);
    options.on_exit = [this](const absl::Status& status) {
      absl::MutexLock lock(&mu_);
      exits_.push_back(status);
    };
    return options;
  }

  std::unique_ptr<WorkerProcess> Start(WorkerProcess::Options options) {
    absl::StatusOr<std::unique_ptr<WorkerProcess>> worker =
        WorkerProcess::Create(std::move(options));
    EXPECT_TRUE(worker.ok()) << worker.status();
    return worker.ok() ? *std::move(worker) : nullptr;
  }

  CallWaiter::Outcome CallAndWait(WorkerProcess& worker,
                                  const tether::v1::InvokeRequest& request) {
    CallWaiter waiter;
    worker.Invoke(request, waiter.Callback());
    return waiter.Wait();
  }

  // The payload of a successful call ("" and a test failure otherwise).
  std::string Payload(const CallWaiter::Outcome& outcome) {
    if (!outcome.ok()) {
      ADD_FAILURE() << outcome.status();
      return "";
    }
    EXPECT_EQ(outcome->outcome_case(), CallResult::kPayload)
        << outcome->DebugString();
    return outcome->payload();
  }

  std::vector<absl::Status> exits() {
    absl::MutexLock lock(&mu_);
    return exits_;
  }

  std::string dir_;
  absl::Mutex mu_;
  std::vector<absl::Status> exits_ ABSL_GUARDED_BY(mu_);
};

TEST_F(WorkerProcessTest, CallsAFunctionWithArgsAndKwargs) {
  auto worker = Start(PythonOptions("add"));
  ASSERT_NE(worker, nullptr);
  EXPECT_TRUE(worker->serving());
  EXPECT_EQ(Payload(CallAndWait(
                *worker, Call("", R"({"args": [2], "kwargs": {"b": 3}})"))),
            "5");
  EXPECT_EQ(
      Payload(CallAndWait(*worker, Call("add", R"({"args": ["a", "b"]})"))),
      R"("ab")");
  EXPECT_EQ(worker->outstanding(), 0);
}

TEST_F(WorkerProcessTest, ReportsItsPythonVersionOnLoad) {
  auto worker = Start(PythonOptions("add"));
  ASSERT_NE(worker, nullptr);
  EXPECT_THAT(worker->python_version(), MatchesRegex(R"(3\.[0-9]+\.[0-9]+)"));
}

TEST_F(WorkerProcessTest, ClassIsInstantiatedOnceAndKeepsState) {
  auto worker = Start(
      PythonOptions("Counter", R"({"args": [10], "kwargs": {"step": 5}})"));
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(Payload(CallAndWait(*worker, Call("increment", ""))), "15");
  EXPECT_EQ(Payload(CallAndWait(*worker, Call("increment", "{}"))), "20");
  const CallWaiter::Outcome missing = CallAndWait(*worker, Call("nope", ""));
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->error().type(), "AttributeError");
  EXPECT_THAT(missing->error().message(), HasSubstr("increment"));
}

TEST_F(WorkerProcessTest, RemoteExceptionCarriesTypeMessageAndTraceback) {
  auto worker = Start(PythonOptions("fail"));
  ASSERT_NE(worker, nullptr);
  const CallWaiter::Outcome outcome =
      CallAndWait(*worker, Call("", R"({"args": ["spicy"]})"));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_TRUE(outcome->has_error());
  EXPECT_EQ(outcome->error().type(), "ValueError");
  EXPECT_EQ(outcome->error().message(), "bad kind: spicy");
  EXPECT_THAT(outcome->error().traceback(),
              HasSubstr("Traceback (most recent call last)"));
  EXPECT_THAT(outcome->error().traceback(), HasSubstr("mod.py"));
  EXPECT_THAT(outcome->error().traceback(),
              HasSubstr("raise ValueError(\"bad kind: \" + kind)"));
}

TEST_F(WorkerProcessTest, ImportErrorFailsTheLoadWithTheTraceback) {
  MakeRevisionDir("broken",
                  {{"broken.py", "import os\nimport no_such_dependency\n"}});
  WorkerProcess::Options options = PythonOptions("f");
  options.load.set_root(absl::StrCat(getenv("TEST_TMPDIR"), "/broken"));
  options.load.set_module("broken");
  absl::StatusOr<std::unique_ptr<WorkerProcess>> worker =
      WorkerProcess::Create(std::move(options));
  ASSERT_FALSE(worker.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(worker.status())) << worker.status();
  EXPECT_THAT(worker.status().message(), HasSubstr("ModuleNotFoundError"));
  EXPECT_THAT(worker.status().message(),
              HasSubstr("No module named 'no_such_dependency'"));
  EXPECT_THAT(worker.status().message(), HasSubstr("Traceback"));
  EXPECT_THAT(worker.status().message(), HasSubstr("broken.py"));
}

TEST_F(WorkerProcessTest, MissingCallableNamesTheModuleAndTheName) {
  absl::StatusOr<std::unique_ptr<WorkerProcess>> worker =
      WorkerProcess::Create(PythonOptions("ad"));
  ASSERT_FALSE(worker.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(worker.status())) << worker.status();
  EXPECT_THAT(worker.status().message(), HasSubstr("AttributeError"));
  EXPECT_THAT(worker.status().message(), HasSubstr("'mod'"));
  EXPECT_THAT(worker.status().message(), HasSubstr("'ad'"));
}

TEST_F(WorkerProcessTest, PickleRoundTrip) {
  auto worker = Start(PythonOptions("add"));
  ASSERT_NE(worker, nullptr);
  // pickle.dumps(((2, 3), {}), protocol=2)
  const std::string args("\x80\x02K\x02K\x03\x86}\x86.", 11);
  EXPECT_EQ(
      Payload(CallAndWait(*worker, Call("", args, tether::v1::CODEC_PICKLE))),
      std::string("\x80\x04K\x05.", 5));  // pickle.dumps(5)
  const CallWaiter::Outcome junk =
      CallAndWait(*worker, Call("", "not a pickle", tether::v1::CODEC_PICKLE));
  EXPECT_TRUE(absl::IsInvalidArgument(junk.status())) << junk.status();
}

TEST_F(WorkerProcessTest, RawBytesPassThrough) {
  auto worker = Start(PythonOptions("reverse"));
  ASSERT_NE(worker, nullptr);
  const std::string data("ab\0\xff", 4);
  EXPECT_EQ(
      Payload(CallAndWait(*worker, Call("", data, tether::v1::CODEC_RAW))),
      std::string("\xff\0ba", 4));
  EXPECT_EQ(Payload(CallAndWait(*worker, Call("", "", tether::v1::CODEC_RAW))),
            "");
}

TEST_F(WorkerProcessTest, LargePayloadsQueueBehindAFullSocket) {
  auto worker = Start(PythonOptions("reverse"));
  ASSERT_NE(worker, nullptr);
  std::string data(8 << 20, 'a');
  data.back() = 'z';
  std::vector<std::unique_ptr<CallWaiter>> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.push_back(std::make_unique<CallWaiter>());
    worker->Invoke(Call("", data, tether::v1::CODEC_RAW),
                   waiters.back()->Callback());
  }
  for (auto& waiter : waiters) {
    const std::string out = Payload(waiter->Wait());
    ASSERT_EQ(out.size(), data.size());
    EXPECT_EQ(out.front(), 'z');
  }
}

TEST_F(WorkerProcessTest, CapturesPrintedLines) {
  auto worker = Start(PythonOptions("shout"));
  ASSERT_NE(worker, nullptr);
  const CallWaiter::Outcome outcome =
      CallAndWait(*worker, Call("", R"({"args": ["hi"]})"));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->payload(), R"("HI")");
  std::vector<std::pair<int, std::string>> logs;
  for (const LogLine& line : outcome->logs()) {
    logs.emplace_back(line.stream(), line.text());
  }
  EXPECT_THAT(logs, ElementsAre(Pair(LogLine::STREAM_STDOUT, "got hi"),
                                Pair(LogLine::STREAM_STDERR, "warning!"),
                                Pair(LogLine::STREAM_STDOUT, "no newline")));
}

TEST_F(WorkerProcessTest, BadPayloadIsInvalidArgument) {
  auto worker = Start(PythonOptions("add"));
  ASSERT_NE(worker, nullptr);
  for (const char* payload : {"{", "[1, 2]", R"({"a": 1})"}) {
    const CallWaiter::Outcome outcome = CallAndWait(*worker, Call("", payload));
    EXPECT_TRUE(absl::IsInvalidArgument(outcome.status()))
        << payload << " -> " << outcome.status();
  }
  // The worker is fine afterwards.
  EXPECT_EQ(Payload(CallAndWait(*worker, Call("", R"({"args": [1]})"))), "1");
}

TEST_F(WorkerProcessTest, ManyPipelinedCallsAllComplete) {
  auto worker = Start(PythonOptions("add"));
  ASSERT_NE(worker, nullptr);
  constexpr int kCalls = 200;
  std::vector<std::unique_ptr<CallWaiter>> waiters;
  for (int i = 0; i < kCalls; ++i) {
    waiters.push_back(std::make_unique<CallWaiter>());
    worker->Invoke(Call("", absl::StrCat(R"({"args": [)", i, ", 1000]}")),
                   waiters.back()->Callback());
  }
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(Payload(waiters[i]->Wait()), absl::StrCat(i + 1000));
  }
}

TEST_F(WorkerProcessTest, EnvironmentHasTheExtras) {
  WorkerProcess::Options options = PythonOptions("env");
  options.env = {{"TETHER_TEST_VAR", "forty-two"}, {"HOME", "/overridden"}};
  auto worker = Start(std::move(options));
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(Payload(CallAndWait(*worker,
                                Call("", R"({"args": ["TETHER_TEST_VAR"]})"))),
            R"("forty-two")");
  EXPECT_EQ(Payload(CallAndWait(*worker, Call("", R"({"args": ["HOME"]})"))),
            R"("/overridden")");
}

TEST_F(WorkerProcessTest, WorkerSeesOnlyStdioAndItsSocket) {
  auto worker = Start(PythonOptions("open_fds"));
  ASSERT_NE(worker, nullptr);
  // 0-2, the socket on 3, and the fd os.listdir itself opens.
  EXPECT_EQ(Payload(CallAndWait(*worker, Call("", ""))), "[0,1,2,3,4]");
}

TEST_F(WorkerProcessTest, WorkerLeadsItsOwnProcessGroup) {
  auto worker = Start(PythonOptions("process_group"));
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(Payload(CallAndWait(*worker, Call("", ""))),
            absl::StrCat("[", worker->pid(), ",", worker->pid(), "]"));
}

TEST_F(WorkerProcessTest, KilledMidCallAbortsTheCallAndReportsTheExit) {
  auto worker = Start(PythonOptions("block"));
  ASSERT_NE(worker, nullptr);
  const std::string fifo = absl::StrCat(dir_, "/fifo");
  MakeFifo(fifo);
  CallWaiter waiter;
  worker->Invoke(Call("", absl::StrCat(R"({"args": [")", fifo, R"("]})")),
                 waiter.Callback());
  const int fd = OpenFifoWhenReaderArrives(fifo);  // The call is running.
  ASSERT_GE(fd, 0);
  ASSERT_EQ(kill(worker->pid(), SIGKILL), 0);
  const CallWaiter::Outcome outcome = waiter.Wait();
  close(fd);
  EXPECT_TRUE(absl::IsAborted(outcome.status())) << outcome.status();
  EXPECT_THAT(outcome.status().message(),
              HasSubstr(absl::StrCat("worker process ", worker->pid(),
                                     " exited (signal 9) during the call")));
  EXPECT_FALSE(worker->serving());
  // on_exit runs right after the calls are failed.
  ASSERT_TRUE(testing::WaitFor([&] { return exits().size() == 1; }));
  EXPECT_TRUE(absl::IsAborted(exits()[0])) << exits()[0];
  // Later calls are refused, not lost.
  const CallWaiter::Outcome after = CallAndWait(*worker, Call("", ""));
  EXPECT_TRUE(absl::IsUnavailable(after.status())) << after.status();
}

TEST_F(WorkerProcessTest, DrainLetsTheCallInFlightFinish) {
  auto worker = Start(PythonOptions("block"));
  ASSERT_NE(worker, nullptr);
  const std::string fifo = absl::StrCat(dir_, "/fifo");
  MakeFifo(fifo);
  CallWaiter waiter;
  worker->Invoke(Call("", absl::StrCat(R"({"args": [")", fifo, R"("]})")),
                 waiter.Callback());
  const int fd = OpenFifoWhenReaderArrives(fifo);
  ASSERT_GE(fd, 0);
  worker->Drain();
  EXPECT_FALSE(worker->serving());
  const CallWaiter::Outcome refused = CallAndWait(*worker, Call("", ""));
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  EXPECT_FALSE(waiter.done());
  ASSERT_EQ(write(fd, "done", 4), 4);
  close(fd);
  EXPECT_EQ(Payload(waiter.Wait()), R"("done")");
  worker->Stop();  // Returns once reaped; the drain had already stopped it.
  ASSERT_EQ(exits().size(), 1u);
  EXPECT_TRUE(exits()[0].ok()) << exits()[0];
}

TEST_F(WorkerProcessTest, StopAbortsTheCallInFlight) {
  auto worker = Start(PythonOptions("block"));
  ASSERT_NE(worker, nullptr);
  const std::string fifo = absl::StrCat(dir_, "/fifo");
  MakeFifo(fifo);
  CallWaiter waiter;
  worker->Invoke(Call("", absl::StrCat(R"({"args": [")", fifo, R"("]})")),
                 waiter.Callback());
  const int fd = OpenFifoWhenReaderArrives(fifo);
  ASSERT_GE(fd, 0);
  const pid_t pid = worker->pid();
  worker->Stop();
  close(fd);
  const CallWaiter::Outcome outcome = waiter.Wait();
  EXPECT_TRUE(absl::IsAborted(outcome.status())) << outcome.status();
  EXPECT_THAT(outcome.status().message(),
              HasSubstr("was stopped during the call"));
  EXPECT_NE(kill(pid, 0), 0);  // Reaped: no zombie left.
}

// Creates a worker whose load never finishes on `clock`, lets the load
// timeout pass and then the second between the unanswered EOF and SIGTERM;
// returns what Create returned.
absl::Status CreateAndTimeOutTheLoad(WorkerProcess::Options options,
                                     SimulatedClock& clock) {
  options.clock = &clock;
  options.load_timeout = absl::Minutes(5);
  absl::Status status;
  std::thread creator(
      [&] { status = WorkerProcess::Create(std::move(options)).status(); });
  clock.AwaitTimedWaiters(1);
  EXPECT_EQ(clock.DeadlinesForTest().front(), clock.Now() + absl::Minutes(5));
  clock.Advance(absl::Minutes(5));
  // The runner is stuck in the import: EOF does not stop it, SIGTERM does.
  clock.AwaitTimedWaiters(1);
  clock.Advance(absl::Seconds(1));
  creator.join();
  return status;
}

TEST_F(WorkerProcessTest, LoadTimeoutKillsTheWorker) {
  const std::string dir = MakeRevisionDir("slow", {});
  const std::string fifo = absl::StrCat(dir, "/fifo");
  MakeFifo(fifo);
  ASSERT_TRUE(WriteFileAtomically(absl::StrCat(dir, "/slow.py"),
                                  absl::StrCat("open('", fifo, "').read()\n"))
                  .ok());
  WorkerProcess::Options options = PythonOptions("f");
  options.load.set_root(dir);
  options.load.set_module("slow");
  SimulatedClock clock;
  const absl::Status status = CreateAndTimeOutTheLoad(options, clock);
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
}

TEST_F(WorkerProcessTest, MissingInterpreterIsNotFound) {
  WorkerProcess::Options options = PythonOptions("add");
  options.python = "/nonexistent/python3";
  absl::StatusOr<std::unique_ptr<WorkerProcess>> worker =
      WorkerProcess::Spawn(std::move(options));
  EXPECT_TRUE(absl::IsNotFound(worker.status())) << worker.status();
  EXPECT_THAT(worker.status().message(), HasSubstr("/nonexistent/python3"));
}

// The same worker forked from a zygote: same behaviour, other parent.
class ZygoteWorkerTest : public WorkerProcessTest {
 protected:
  void SetUp() override {
    WorkerProcessTest::SetUp();
    ZygoteProcess::Options options;
    options.root = dir_;
    options.preload = {"json"};
    options.stop_grace = absl::Seconds(10);
    absl::StatusOr<std::shared_ptr<ZygoteProcess>> zygote =
        ZygoteProcess::Start(std::move(options));
    ASSERT_TRUE(zygote.ok()) << zygote.status();
    zygote_ = *std::move(zygote);
  }

  WorkerProcess::Options Forked(const std::string& name) {
    WorkerProcess::Options options = PythonOptions(name);
    options.zygote = zygote_;
    return options;
  }

  std::string BlockArgs(const std::string& fifo) {
    return absl::StrCat(R"({"args": [")", fifo, R"("]})");
  }

  std::shared_ptr<ZygoteProcess> zygote_;
};

TEST_F(ZygoteWorkerTest, ServesCallsInItsOwnGroupWithNoLeakedFds) {
  auto worker = Start(Forked("process_group"));
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(Payload(CallAndWait(*worker, Call("", ""))),
            absl::StrCat("[", worker->pid(), ",", worker->pid(), "]"));
  auto fds = Start(Forked("open_fds"));
  ASSERT_NE(fds, nullptr);
  // 0-2, its socket and the fd os.listdir opens: none of the zygote's.
  const std::string open = Payload(CallAndWait(*fds, Call("", "")));
  EXPECT_EQ(std::count(open.begin(), open.end(), ','), 4) << open;
  worker->Stop();
  fds->Stop();
  ASSERT_EQ(exits().size(), 2u);
  EXPECT_TRUE(exits()[0].ok()) << exits()[0];
}

TEST_F(ZygoteWorkerTest, KilledMidCallAbortsWithTheStatusTheZygoteReports) {
  auto worker = Start(Forked("block"));
  ASSERT_NE(worker, nullptr);
  const std::string fifo = absl::StrCat(dir_, "/zfifo");
  MakeFifo(fifo);
  CallWaiter waiter;
  worker->Invoke(Call("", BlockArgs(fifo)), waiter.Callback());
  const int fd = OpenFifoWhenReaderArrives(fifo);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(kill(worker->pid(), SIGKILL), 0);
  const CallWaiter::Outcome outcome = waiter.Wait();
  close(fd);
  EXPECT_TRUE(absl::IsAborted(outcome.status())) << outcome.status();
  EXPECT_THAT(outcome.status().message(),
              HasSubstr(absl::StrCat("worker process ", worker->pid(),
                                     " exited (signal 9) during the call")));
  ASSERT_TRUE(testing::WaitFor([&] { return exits().size() == 1; }));
  EXPECT_TRUE(absl::IsAborted(exits()[0])) << exits()[0];
}

TEST_F(ZygoteWorkerTest, StopSignalsThroughTheZygote) {
  auto worker = Start(Forked("block"));
  ASSERT_NE(worker, nullptr);
  const std::string fifo = absl::StrCat(dir_, "/zfifo");
  MakeFifo(fifo);
  CallWaiter waiter;
  worker->Invoke(Call("", BlockArgs(fifo)), waiter.Callback());
  const int fd = OpenFifoWhenReaderArrives(fifo);
  ASSERT_GE(fd, 0);
  worker->Stop();  // SIGTERM at once: a call is in flight.
  close(fd);
  const CallWaiter::Outcome outcome = waiter.Wait();
  EXPECT_TRUE(absl::IsAborted(outcome.status())) << outcome.status();
  EXPECT_THAT(outcome.status().message(),
              HasSubstr("was stopped during the call (signal 15)"));
}

TEST_F(ZygoteWorkerTest, LoadTimeoutKillsTheForkedWorker) {
  const std::string dir = MakeRevisionDir("zslow", {});
  const std::string fifo = absl::StrCat(dir, "/fifo");
  MakeFifo(fifo);
  ASSERT_TRUE(WriteFileAtomically(absl::StrCat(dir, "/slow.py"),
                                  absl::StrCat("open('", fifo, "').read()\n"))
                  .ok());
  WorkerProcess::Options options = Forked("f");
  options.load.set_root(dir);
  options.load.set_module("slow");
  SimulatedClock clock;
  const absl::Status status = CreateAndTimeOutTheLoad(options, clock);
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
}

TEST_F(ZygoteWorkerTest, AWorkerDiesWithItsZygote) {
  auto worker = Start(Forked("add"));
  ASSERT_NE(worker, nullptr);
  ASSERT_EQ(kill(zygote_->pid(), SIGKILL), 0);
  ASSERT_TRUE(testing::WaitFor([&] { return exits().size() == 1; }));
  EXPECT_TRUE(absl::IsAborted(exits()[0])) << exits()[0];
  EXPECT_THAT(exits()[0].message(), HasSubstr("status unknown"));
  EXPECT_FALSE(worker->serving());
}

TEST_F(ZygoteWorkerTest, NativeWorkersAreNeverForked) {
  WorkerProcess::Options options = Forked("add");
  options.runtime = tether::v1::RUNTIME_NATIVE;
  EXPECT_TRUE(absl::IsInvalidArgument(
      WorkerProcess::Spawn(std::move(options)).status()));
}

constexpr char kStreamModule[] = R"py(
import signal
import sys
import time

print("imported")


def count(n):
    for i in range(n):
        yield i


def nap():
    print("napping")
    time.sleep(60)


def stubborn():
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # As if stuck in C code.
    print("stuck")
    time.sleep(60)


def add(a, b):
    print("adding")
    return a + b
)py";

// Collects what a call streams; thread-safe.
class StreamRecorder {
 public:
  WorkerProcess::Call MakeCall(CallWaiter& waiter, uint32_t credit) {
    WorkerProcess::Call call;
    call.done = waiter.Callback();
    call.stream_credit = credit;
    call.handle = handle;
    call.on_item = [this](std::string item) {
      absl::MutexLock lock(&mu_);
      items_.push_back(std::move(item));
    };
    call.on_log = [this](LogLine line) {
      absl::MutexLock lock(&mu_);
      lines_.push_back(line.text());
    };
    return call;
  }
  std::vector<std::string> WaitForItems(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return items_.size() >= n;
    };
    EXPECT_TRUE(
        mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(60)));
    return items_;
  }
  void WaitForLine(const std::string& text) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::find(lines_.begin(), lines_.end(), text) != lines_.end();
    };
    EXPECT_TRUE(
        mu_.AwaitWithTimeout(absl::Condition(&seen), absl::Seconds(60)));
  }

  std::shared_ptr<CallHandle> handle = std::make_shared<CallHandle>();

 private:
  absl::Mutex mu_;
  std::vector<std::string> items_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

class StreamingWorkerTest : public WorkerProcessTest {
 protected:
  void SetUp() override {
    dir_ = MakeRevisionDir("stream", {{"mod.py", kStreamModule}});
  }
};

TEST_F(StreamingWorkerTest, StreamsItemsWithinItsCredit) {
  auto worker = Start(PythonOptions("count"));
  ASSERT_NE(worker, nullptr);
  StreamRecorder recorder;
  CallWaiter waiter;
  worker->Invoke(Call("", R"({"args": [5]})"), recorder.MakeCall(waiter, 2));
  EXPECT_THAT(recorder.WaitForItems(2), ElementsAre("0", "1"));
  recorder.handle->GrantCredit(10);
  EXPECT_EQ(Payload(waiter.Wait()), "");
  EXPECT_THAT(recorder.WaitForItems(5), ElementsAre("0", "1", "2", "3", "4"));
  // Unary, the generator is refused.
  CallWaiter unary;
  worker->Invoke(Call("", R"({"args": [5]})"), unary.Callback());
  const CallWaiter::Outcome refused = unary.Wait();
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("InvokeStream"));
}

TEST_F(StreamingWorkerTest, CancelInterruptsASleepAndTheWorkerServesOn) {
  auto worker = Start(PythonOptions("nap"));
  ASSERT_NE(worker, nullptr);
  StreamRecorder recorder;
  CallWaiter waiter;
  tether::v1::InvokeRequest request = Call("", "");
  request.set_logs(true);
  worker->Invoke(request, recorder.MakeCall(waiter, 0));
  recorder.WaitForLine("napping");
  recorder.handle->Cancel();
  const CallWaiter::Outcome outcome = waiter.Wait();
  EXPECT_TRUE(absl::IsCancelled(outcome.status())) << outcome.status();
  EXPECT_EQ(worker->outstanding(), 0);
  // Same process, still serving.
  EXPECT_TRUE(worker->serving());
  CallWaiter next;
  recorder.handle = std::make_shared<CallHandle>();
  worker->Invoke(request, recorder.MakeCall(next, 0));
  recorder.handle->Cancel();
  EXPECT_TRUE(absl::IsCancelled(next.Wait().status()));
  EXPECT_TRUE(exits().empty());
}

TEST_F(StreamingWorkerTest, ACallThatIgnoresTheCancelIsKilledAfterTheGrace) {
  SimulatedClock clock;
  WorkerProcess::Options options = PythonOptions("stubborn");
  options.clock = &clock;
  options.cancel_grace = absl::Seconds(2);
  auto worker = Start(options);
  ASSERT_NE(worker, nullptr);
  StreamRecorder recorder;
  CallWaiter waiter;
  tether::v1::InvokeRequest request = Call("", "");
  request.set_logs(true);
  worker->Invoke(request, recorder.MakeCall(waiter, 0));
  recorder.WaitForLine("stuck");
  recorder.handle->Cancel();
  clock.AwaitTimedWaiters(1);
  clock.Advance(absl::Seconds(2));
  const CallWaiter::Outcome outcome = waiter.Wait();
  EXPECT_TRUE(absl::IsAborted(outcome.status())) << outcome.status();
  worker->Stop();
  ASSERT_EQ(exits().size(), 1u);
  EXPECT_TRUE(absl::IsAborted(exits()[0])) << exits()[0];
  EXPECT_THAT(exits()[0].message(), HasSubstr("did not stop"));
}

TEST_F(StreamingWorkerTest, OnLogSeesLinesInAndOutsideCalls) {
  absl::Mutex mu;
  std::vector<std::pair<std::string, std::string>> seen;  // (request id, text)
  WorkerProcess::Options options = PythonOptions("add");
  options.on_log = [&](const LogLine& line) {
    absl::MutexLock lock(&mu);
    seen.emplace_back(line.request_id(), line.text());
  };
  auto worker = Start(options);
  ASSERT_NE(worker, nullptr);
  tether::v1::InvokeRequest request = Call("", R"({"args": [1, 2]})");
  request.set_request_id("r1");
  EXPECT_EQ(Payload(CallAndWait(*worker, request)), "3");
  request.set_request_id("r2");
  request.set_logs(true);
  EXPECT_EQ(Payload(CallAndWait(*worker, request)), "3");
  absl::MutexLock lock(&mu);
  EXPECT_THAT(seen, ElementsAre(Pair("", "imported"), Pair("r1", "adding"),
                                Pair("r2", "adding")));
}

class NativeWorkerTest : public WorkerProcessTest {
 protected:
  WorkerProcess::Options NativeOptions() {
    absl::StatusOr<std::string> library =
        FindDataFile("examples/native_echo/libecho.so");
    EXPECT_TRUE(library.ok()) << library.status();
    const std::string path = library.ok() ? *library : "";
    WorkerProcess::Options options = PythonOptions("");
    options.runtime = tether::v1::RUNTIME_NATIVE;
    options.load.set_root(path.substr(0, path.rfind('/')));
    options.load.set_module("libecho.so");
    return options;
  }
};

TEST_F(NativeWorkerTest, CancellingANativeCallKillsTheWorker) {
  absl::StatusOr<std::string> library =
      FindDataFile("agent/native/libblocking_test.so");
  ASSERT_TRUE(library.ok()) << library.status();
  WorkerProcess::Options options = NativeOptions();
  options.load.set_root(library->substr(0, library->rfind('/')));
  options.load.set_module("libblocking_test.so");
  auto worker = Start(options);
  ASSERT_NE(worker, nullptr);
  StreamRecorder recorder;
  CallWaiter waiter;
  worker->Invoke(Call("", "", tether::v1::CODEC_RAW),
                 recorder.MakeCall(waiter, 0));
  recorder.handle->Cancel();
  const CallWaiter::Outcome outcome = waiter.Wait();
  EXPECT_TRUE(absl::IsAborted(outcome.status())) << outcome.status();
  worker->Stop();
  ASSERT_EQ(exits().size(), 1u);
  EXPECT_THAT(exits()[0].message(), HasSubstr("native calls cannot"));
}

TEST_F(NativeWorkerTest, EchoesRawAndJsonPayloads) {
  auto worker = Start(NativeOptions());
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(worker->python_version(), "");
  const std::string data("\0binary\xff", 8);
  EXPECT_EQ(
      Payload(CallAndWait(*worker, Call("echo", data, tether::v1::CODEC_RAW))),
      data);
  EXPECT_EQ(Payload(CallAndWait(*worker, Call("", R"({"args": [1]})"))),
            R"({"args": [1]})");
  EXPECT_EQ(Payload(CallAndWait(*worker, Call("", "", tether::v1::CODEC_RAW))),
            "");
}

TEST_F(NativeWorkerTest, UnknownMethodIsANativeError) {
  auto worker = Start(NativeOptions());
  ASSERT_NE(worker, nullptr);
  const CallWaiter::Outcome outcome =
      CallAndWait(*worker, Call("shout", "x", tether::v1::CODEC_RAW));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->error().type(), "tether.NativeError");
  EXPECT_THAT(outcome->error().message(), HasSubstr("unknown method 'shout'"));
}

TEST_F(NativeWorkerTest, PickleIsRefused) {
  auto worker = Start(NativeOptions());
  ASSERT_NE(worker, nullptr);
  const CallWaiter::Outcome outcome =
      CallAndWait(*worker, Call("", "x", tether::v1::CODEC_PICKLE));
  EXPECT_TRUE(absl::IsInvalidArgument(outcome.status())) << outcome.status();
}

TEST_F(NativeWorkerTest, MissingLibraryFailsTheLoad) {
  WorkerProcess::Options options = NativeOptions();
  options.load.set_module("libnope.so");
  absl::StatusOr<std::unique_ptr<WorkerProcess>> worker =
      WorkerProcess::Create(std::move(options));
  EXPECT_TRUE(absl::IsFailedPrecondition(worker.status())) << worker.status();
  EXPECT_THAT(worker.status().message(), HasSubstr("tether.NativeLoadError"));
  EXPECT_THAT(worker.status().message(), HasSubstr("libnope.so"));
}

}  // namespace
}  // namespace tether::agent
