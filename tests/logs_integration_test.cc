// `ControlPlane.Logs` end to end: tetherd in-process on the local backend,
// real agents whose workers print and log; the lines come back through
// each agent's LogBook and tetherd's LogsRelay.

#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/test_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/in_process_tetherd.h"
#include "tests/service_test_util.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {
namespace {

using ::tether::v1::LogLine;
using ::tether::v1::LogsRequest;
using ::tether::v1::LogsResponse;

constexpr char kApp[] =
    "import logging\n"
    "import threading\n"
    "log = logging.getLogger('app')\n"
    "def say(text, n=1, done=''):\n"
    "    if n == 1:\n"
    "        print(text)\n"
    "        log.warning('said %s', text)\n"
    "    else:\n"
    "        threading.Thread(target=flood, args=(text, n, done)).start()\n"
    "    return n\n"
    "def flood(text, n, done):\n"
    "    # After the call: outside a call every line goes out live.\n"
    "    for i in range(n):\n"
    "        print(f'{text} {i} ' + 'x' * 200)\n"
    "    open(done, 'w').close()\n";

class LogsIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tetherd = InProcessTetherd::Start(NewTempDir("state"));
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = *std::move(tetherd);
    const std::string code = NewTempDir("code");
    WriteTree(code, {{"app.py", kApp}});
    const grpc::Status deployed = tetherd_->Deploy(
        PythonSpec("talk", "say", /*replicas=*/2), UploadDir(*tetherd_, code));
    ASSERT_TRUE(deployed.ok()) << deployed.error_message();
  }

  std::string Say(const std::string& text, int n = 1) {
    return CallService(*tetherd_, "talk",
                       absl::StrCat(R"({"args": [")", text, R"(", )", n, "]}"));
  }

  // Every line (no follow), and the drops in `dropped`.
  std::vector<LogLine> ReadAll(const LogsRequest& request,
                               grpc::Status* status = nullptr) {
    grpc::ClientContext context;
    auto reader = tetherd_->stub().Logs(&context, request);
    std::vector<LogLine> lines;
    LogsResponse response;
    while (reader->Read(&response)) {
      if (response.has_line()) lines.push_back(response.line());
    }
    const grpc::Status finished = reader->Finish();
    if (status != nullptr) *status = finished;
    EXPECT_TRUE(status != nullptr || finished.ok()) << finished.error_message();
    return lines;
  }

  static LogsRequest Request(bool follow = false) {
    LogsRequest request;
    request.set_service("talk");
    request.set_follow(follow);
    return request;
  }

  static const LogLine* Find(const std::vector<LogLine>& lines,
                             const std::string& text) {
    for (const LogLine& line : lines) {
      if (absl::StrContains(line.text(), text)) return &line;
    }
    return nullptr;
  }

  std::unique_ptr<InProcessTetherd> tetherd_;
};

TEST_F(LogsIntegrationTest, LinesOfCallsComeBackWithRequestIdAndReplica) {
  ASSERT_EQ(Say("hello there"), "1");
  std::vector<LogLine> lines = ReadAll(Request());
  const LogLine* printed = Find(lines, "hello there");
  ASSERT_NE(printed, nullptr);
  EXPECT_EQ(printed->stream(), LogLine::STREAM_STDOUT);
  EXPECT_FALSE(printed->request_id().empty());
  EXPECT_TRUE(printed->replica() == "talk-0" || printed->replica() == "talk-1")
      << printed->replica();
  const LogLine* logged = Find(lines, "said hello there");
  ASSERT_NE(logged, nullptr);
  EXPECT_EQ(logged->stream(), LogLine::STREAM_LOGGING);
  EXPECT_EQ(logged->level(), "WARNING");
  EXPECT_EQ(logged->request_id(), printed->request_id());
  // Merged in time order.
  for (size_t i = 1; i < lines.size(); ++i) {
    const auto& a = lines[i - 1].time();
    const auto& b = lines[i].time();
    EXPECT_TRUE(a.seconds() < b.seconds() ||
                (a.seconds() == b.seconds() && a.nanos() <= b.nanos()));
  }

  // One replica only; an unknown one or service is NOT_FOUND.
  LogsRequest one = Request();
  one.set_replica(printed->replica());
  for (const LogLine& line : ReadAll(one)) {
    EXPECT_EQ(line.replica(), printed->replica());
  }
  grpc::Status status;
  one.set_replica("talk-9");
  ReadAll(one, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  LogsRequest unknown = Request();
  unknown.set_service("nope");
  ReadAll(unknown, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(LogsIntegrationTest, SinceSkipsEarlierLines) {
  ASSERT_EQ(Say("before"), "1");
  // The line was printed before the call returned.
  const absl::Time since = absl::Now();
  ASSERT_EQ(Say("after"), "1");
  LogsRequest request = Request();
  request.mutable_since()->set_seconds(absl::ToUnixSeconds(since));
  request.mutable_since()->set_nanos(static_cast<int32_t>(
      (since - absl::FromUnixSeconds(absl::ToUnixSeconds(since))) /
      absl::Nanoseconds(1)));
  std::vector<LogLine> lines = ReadAll(request);
  EXPECT_EQ(Find(lines, "before"), nullptr);
  EXPECT_NE(Find(lines, "after"), nullptr);
}

TEST_F(LogsIntegrationTest, FollowDeliversNewLinesAndFloodsAreCounted) {
  ASSERT_EQ(Say("first"), "1");
  grpc::ClientContext context;
  auto reader = tetherd_->stub().Logs(&context, Request(/*follow=*/true));
  LogsResponse response;
  // The stream is open once the kept line came.
  do {
    ASSERT_TRUE(reader->Read(&response));
  } while (!absl::StrContains(response.line().text(), "first"));

  ASSERT_EQ(Say("followed"), "1");
  do {
    ASSERT_TRUE(reader->Read(&response));
  } while (!absl::StrContains(response.line().text(), "followed"));
  EXPECT_FALSE(response.line().request_id().empty());

  // A flood while this reader does not read: far more (22 MB) than the agent's
  // book (4 MiB) and the streams' windows hold. Nothing grows; the agent
  // counts what its reader missed.
  constexpr int kFlood = 100000;
  const std::string done = NewTempDir("flood") + "/done";
  ASSERT_EQ(CallService(*tetherd_, "talk",
                        absl::StrCat(R"({"args": ["flood", )", kFlood, R"(, ")",
                                     done, R"("]})")),
            absl::StrCat(kFlood));
  // Not reading until the last line was printed.
  ASSERT_TRUE(WaitFor([&] { return access(done.c_str(), F_OK) == 0; },
                      absl::Seconds(60)));
  uint64_t dropped = 0;
  int received = 0;
  const std::string last = absl::StrCat("flood ", kFlood - 1, " ");
  for (;;) {
    ASSERT_TRUE(reader->Read(&response));
    if (response.has_dropped()) {
      dropped += response.dropped().lines();
      continue;
    }
    if (absl::StartsWith(response.line().text(), "flood ")) ++received;
    if (absl::StartsWith(response.line().text(), last)) break;
  }
  EXPECT_GT(dropped, 0u);
  EXPECT_LT(received, kFlood);
  EXPECT_GE(received + dropped, static_cast<uint64_t>(kFlood));
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(LogsIntegrationTest, FollowPicksUpAReplicaThatStartsLater) {
  grpc::ClientContext context;
  // A test that fails does not hang.
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  auto reader = tetherd_->stub().Logs(&context, Request(/*follow=*/true));
  ASSERT_EQ(Say("before scaling"), "1");
  LogsResponse response;
  // The stream is open once the line came.
  do {
    ASSERT_TRUE(reader->Read(&response));
  } while (!absl::StrContains(response.line().text(), "before scaling"));

  // A third replica while the follow runs.
  grpc::ClientContext scale_context;
  tether::v1::ScaleServiceRequest scale;
  scale.set_name("talk");
  scale.set_replicas(3);
  tether::v1::ServiceStatus status;
  ASSERT_TRUE(
      tetherd_->stub().ScaleService(&scale_context, scale, &status).ok());
  ASSERT_TRUE(WaitFor([&] {
    grpc::ClientContext get_context;
    tether::v1::GetServiceRequest get;
    get.set_name("talk");
    tether::v1::ServiceStatus got;
    if (!tetherd_->stub().GetService(&get_context, get, &got).ok()) {
      return false;
    }
    int ready = 0;
    for (const auto& replica : got.replicas()) {
      if (replica.phase() == tether::v1::ReplicaStatus::PHASE_READY) ++ready;
    }
    return ready == 3;
  }));
  // Every replica prints, the new one too.
  ASSERT_EQ(CallService(*tetherd_, "talk", R"({"args": ["everyone"]})",
                        tether::v1::CallRequest::TARGET_ALL),
            "1");
  do {
    ASSERT_TRUE(reader->Read(&response)) << reader->Finish().error_message();
  } while (!(absl::StripTrailingAsciiWhitespace(response.line().text()) ==
                 "everyone" &&
             response.line().replica() == "talk-2"));
  EXPECT_EQ(response.line().stream(), LogLine::STREAM_STDOUT);
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace tether::testing
