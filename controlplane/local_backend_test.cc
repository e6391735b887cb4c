#include "controlplane/local_backend.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/proto_time.h"
#include "common/test_util.h"
#include "controlplane/recording_backend_listener.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

// Stands in for tether-agent: records its arguments, pid and environment, then
// idles until killed (GREETING=stubborn: ignores SIGTERM). Its name contains
// "tether-agent" as the real one does.
constexpr char kFakeAgent[] = R"sh(#!/bin/sh
[ "$GREETING" = stubborn ] && trap '' TERM
for arg in "$@"; do case "$arg" in --workdir=*) dir="${arg#--workdir=}";; esac; done
echo "$@" > "$dir/fake-agent.args"
echo "$$ $GREETING $TETHER_SERVICE_TOKEN" > "$dir/fake-agent.info"
while true; do sleep 1; done
)sh";

class LocalBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::string(getenv("TEST_TMPDIR")) + "/lb.XXXXXX";
    dir_ = mkdtemp(tmpl.data());
    const std::string agent = dir_ + "/tether-agent";
    ASSERT_TRUE(WriteFileAtomically(agent, kFakeAgent).ok());
    chmod(agent.c_str(), 0755);
    StartBackend(/*agent_health_listen_address=*/"");
  }

  // Replaces the backend (stopping its agents) with one whose agents get
  // `agent_health_listen_address`.
  void StartBackend(const std::string& agent_health_listen_address) {
    backend_.reset();
    LocalBackend::Options options;
    options.agent_binary = dir_ + "/tether-agent";
    options.agent_health_listen_address = agent_health_listen_address;
    options.state_dir = dir_ + "/state";
    options.restart_backoff.initial = absl::Minutes(1);
    options.restart_backoff.max = absl::Minutes(3);
    options.stop_grace = absl::Seconds(2);
    options.clock = &clock_;
    auto backend = LocalBackend::Create(options);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
    backend_->Start("127.0.0.1:1", &listener_);
  }

  static tether::v1::ServiceSpec Spec(int replicas,
                                      const std::string& greeting) {
    tether::v1::ServiceSpec spec;
    spec.set_name("svc");
    spec.mutable_compute()->set_replicas(replicas);
    (*spec.mutable_compute()->mutable_env())["GREETING"] = greeting;
    return spec;
  }

  // "<pid> <GREETING> <token>" as the fake agent of `replica` wrote it.
  std::vector<std::string> Info(const std::string& replica) {
    const std::string path =
        absl::StrCat(dir_, "/state/replicas/", replica, "/fake-agent.info");
    std::vector<std::string> info;
    // Written by the agent process: a real event, not a time to wait out.
    testing::WaitFor(
        [&] {
          auto text = ReadFile(path);
          if (!text.ok() || !absl::EndsWith(*text, "\n")) return false;
          info = absl::StrSplit(absl::StripTrailingAsciiWhitespace(*text), ' ');
          return true;
        },
        absl::Seconds(20));
    return info;
  }

  // Kills the fake agent of `replica` as a crash would; returns its pid.
  std::string Crash(const std::string& replica) {
    const auto info = Info(replica);
    EXPECT_FALSE(info.empty());
    if (info.empty()) return "";
    EXPECT_TRUE(WriteFileAtomically(absl::StrCat(dir_, "/state/replicas/",
                                                 replica, "/fake-agent.info"),
                                    "")
                    .ok());
    int pid = 0;
    EXPECT_TRUE(absl::SimpleAtoi(info[0], &pid));
    kill(pid, SIGKILL);
    return info[0];
  }

  std::string dir_;
  SimulatedClock clock_;
  RecordingBackendListener listener_;
  std::unique_ptr<LocalBackend> backend_;
};

TEST_F(LocalBackendTest, StartsReplicasWithTheirEnvironment) {
  ASSERT_TRUE(backend_->Apply(Spec(2, "hi"), "tok").ok());
  EXPECT_EQ(backend_->Replicas("svc"),
            (std::vector<std::string>{"svc-0", "svc-1"}));
  ASSERT_TRUE(listener_.Await("started svc-1"));
  const auto info = Info("svc-0");
  ASSERT_EQ(info.size(), 3u);
  EXPECT_EQ(info[1], "hi");
  EXPECT_EQ(info[2], "tok");
}

TEST_F(LocalBackendTest, PassesHealthListenToAgentsOnlyWhenAsked) {
  const std::string args_path =
      absl::StrCat(dir_, "/state/replicas/svc-0/fake-agent.args");
  ASSERT_TRUE(backend_->Apply(Spec(1, "hi"), "tok").ok());
  ASSERT_FALSE(Info("svc-0").empty());
  EXPECT_FALSE(
      absl::StrContains(ReadFile(args_path).value_or(""), "--health_listen"));

  StartBackend("127.0.0.1:0");  // Its agent is gone; so are its records.
  ASSERT_TRUE(RemoveAll(args_path).ok());
  ASSERT_TRUE(
      RemoveAll(absl::StrCat(dir_, "/state/replicas/svc-0/fake-agent.info"))
          .ok());
  ASSERT_TRUE(backend_->Apply(Spec(1, "hi"), "tok").ok());
  ASSERT_FALSE(Info("svc-0").empty());
  EXPECT_TRUE(absl::StrContains(ReadFile(args_path).value_or(""),
                                "--health_listen=127.0.0.1:0"));
}

TEST_F(LocalBackendTest, ReplicaLogsReadTheEndOfTheAgentsOutput) {
  ASSERT_TRUE(backend_->Apply(Spec(2, "hi"), "tok").ok());
  ASSERT_FALSE(Info("svc-0").empty());
  // What the agent logged (stamped as common/log.h does, without the year,
  // so recently) and what a worker wrote to stderr unstamped.
  const absl::Time t0 =
      absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() - absl::Hours(1)));
  auto stamped = [](absl::Time time, const std::string& text) {
    return absl::StrCat(
        absl::FormatTime("I%m%d %H:%M:%E6S", time, absl::LocalTimeZone()),
        " 42 agent.cc:1] ", text, "\n");
  };
  ASSERT_TRUE(WriteFileAtomically(
                  absl::StrCat(dir_, "/state/replicas/svc-0/agent.log"),
                  absl::StrCat("Traceback (most recent call last):\n",
                               stamped(t0, "loading app"),
                               "ImportError: no module named nope\n",
                               stamped(t0 + absl::Seconds(1), "exiting")))
                  .ok());
  absl::StatusOr<std::vector<tether::v1::LogLine>> lines =
      backend_->ReplicaLogs("svc", "svc-0", absl::InfinitePast(), 10);
  ASSERT_TRUE(lines.ok()) << lines.status();
  ASSERT_EQ(lines->size(), 4u);
  EXPECT_EQ((*lines)[0].text(), "Traceback (most recent call last):");
  EXPECT_EQ(FromProtoTimestamp((*lines)[0].time()), t0);
  EXPECT_EQ((*lines)[2].text(), "ImportError: no module named nope");
  EXPECT_EQ(FromProtoTimestamp((*lines)[2].time()), t0);
  EXPECT_EQ(FromProtoTimestamp((*lines)[3].time()), t0 + absl::Seconds(1));
  EXPECT_EQ((*lines)[3].replica(), "svc-0");
  EXPECT_EQ((*lines)[3].level(), "agent");
  EXPECT_EQ((*lines)[3].stream(), tether::v1::LogLine::STREAM_UNSPECIFIED);

  lines = backend_->ReplicaLogs("svc", "svc-0", t0 + absl::Microseconds(1), 10);
  ASSERT_EQ(lines->size(), 1u);
  EXPECT_EQ((*lines)[0].text().substr(lines->front().text().find(']')),
            "] exiting");
  lines = backend_->ReplicaLogs("svc", "svc-0", absl::InfinitePast(), 2);
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].text(), "ImportError: no module named nope");
  // svc-1's agent wrote nothing.
  lines = backend_->ReplicaLogs("svc", "svc-1", absl::InfinitePast(), 10);
  ASSERT_TRUE(lines.ok()) << lines.status();
  EXPECT_TRUE(lines->empty());
  EXPECT_TRUE(absl::IsNotFound(
      backend_->ReplicaLogs("svc", "svc-2", absl::InfinitePast(), 10)
          .status()));
  EXPECT_TRUE(absl::IsNotFound(
      backend_->ReplicaLogs("other", "svc-0", absl::InfinitePast(), 10)
          .status()));
}

TEST_F(LocalBackendTest, RestartsACrashedReplicaAfterTheBackoff) {
  ASSERT_TRUE(backend_->Apply(Spec(1, "hi"), "tok").ok());
  const std::string before = Crash("svc-0");
  ASSERT_TRUE(
      listener_.Await("exited svc-0 restart crashed: svc-0 exited (signal 9)"));
  // Not before the backoff is over.
  clock_.AwaitTimedWaiters(1);
  EXPECT_EQ(clock_.DeadlinesForTest(),
            std::vector<absl::Time>{clock_.Now() + absl::Minutes(1)});
  EXPECT_EQ(listener_.Count("started svc-0"), 1);
  clock_.Advance(absl::Minutes(1));
  const auto after = Info("svc-0");
  ASSERT_FALSE(after.empty());
  EXPECT_NE(after[0], before);
  EXPECT_TRUE(listener_.AwaitCount("started svc-0", 2));
}

TEST_F(LocalBackendTest, BackoffGrowsPerCrashUpToTheCap) {
  ASSERT_TRUE(backend_->Apply(Spec(1, "hi"), "tok").ok());
  int crashes = 0;
  for (absl::Duration delay :
       {absl::Minutes(1), absl::Minutes(2), absl::Minutes(3)}) {
    Crash("svc-0");
    ASSERT_TRUE(
        listener_.AwaitCount("exited svc-0 restart crashed", ++crashes));
    clock_.AwaitTimedWaiters(1);
    EXPECT_EQ(clock_.DeadlinesForTest(),
              std::vector<absl::Time>{clock_.Now() + delay});
    clock_.Advance(delay);
  }
}

TEST_F(LocalBackendTest, AnAgentThatIgnoresSigtermIsKilledAfterTheGrace) {
  ASSERT_TRUE(backend_->Apply(Spec(1, "stubborn"), "tok").ok());
  ASSERT_FALSE(Info("svc-0").empty());
  absl::Status deleted = absl::UnknownError("not yet");
  std::thread deleter([&] { deleted = backend_->Delete(Spec(1, "stubborn")); });
  // Delete's own bound and the supervisor's SIGKILL deadline.
  clock_.AwaitTimedWaiters(2);
  EXPECT_EQ(clock_.DeadlinesForTest().front(), clock_.Now() + absl::Seconds(2));
  clock_.Advance(absl::Seconds(2));
  deleter.join();
  EXPECT_TRUE(deleted.ok()) << deleted;
  EXPECT_TRUE(listener_.Await("exited svc-0 gone stopped"));
}

TEST_F(LocalBackendTest, OnlyAnEnvironmentChangeRestarts) {
  ASSERT_TRUE(backend_->Apply(Spec(1, "hi"), "tok").ok());
  const auto first = Info("svc-0");
  ASSERT_TRUE(backend_->Apply(Spec(1, "hi"), "tok").ok());
  ASSERT_TRUE(backend_->Apply(Spec(1, "hello"), "tok").ok());
  ASSERT_TRUE(listener_.Await("exited svc-0 restart stopped: svc-0 stopped"));
  ASSERT_TRUE(listener_.Await("started svc-0"));
  std::vector<std::string> second;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    second = Info("svc-0");
  } while (!second.empty() && second[1] != "hello" && absl::Now() < deadline);
  ASSERT_EQ(second.size(), 3u);
  EXPECT_EQ(second[1], "hello");
  EXPECT_NE(second[0], first[0]);
  EXPECT_EQ(listener_.Count("exited"), 1);
}

TEST_F(LocalBackendTest, ScaleDownAndDeleteStopReplicasForGood) {
  ASSERT_TRUE(backend_->Apply(Spec(2, "hi"), "tok").ok());
  ASSERT_FALSE(Info("svc-1").empty());
  ASSERT_TRUE(backend_->Apply(Spec(1, "hi"), "tok").ok());
  ASSERT_TRUE(listener_.Await("exited svc-1 gone"));
  ASSERT_TRUE(backend_->Delete(Spec(1, "stubborn")).ok());
  EXPECT_TRUE(listener_.Await("exited svc-0 gone"));
  EXPECT_TRUE(backend_->Replicas("svc").empty());
  struct stat st;
  EXPECT_NE(stat((dir_ + "/state/replicas/svc-0").c_str(), &st), 0);
}

}  // namespace
}  // namespace tether::controlplane
