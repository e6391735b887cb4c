#include "agent/logs_reactor.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/invoke_service.h"
#include "agent/log_book.h"
#include "common/grpc_server.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tether/v1/agent.grpc.pb.h"

namespace tether::agent {
namespace {

using ::tether::v1::LogLine;
using ::tether::v1::LogsRequest;
using ::tether::v1::LogsResponse;

LogLine Line(const std::string& text, int64_t seconds) {
  LogLine line;
  line.set_stream(LogLine::STREAM_STDOUT);
  line.set_text(text);
  line.set_replica("svc-0");
  line.mutable_time()->set_seconds(seconds);
  return line;
}

class LogsReactorTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(LogBook::Options{}); }

  void Start(LogBook::Options options) {
    server_.reset();
    service_.reset();
    book_ = std::make_unique<LogBook>(options);
    // Logs touches neither the pool nor the metrics.
    service_ = std::make_unique<InvokeService>(
        nullptr, nullptr, nullptr, "secret", 64 << 20, "svc-0", book_.get());
    GrpcServer::Options server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.services = {service_.get()};
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Create(server_options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = tether::v1::Agent::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  // Reads a stream without follow to its end.
  grpc::Status ReadAll(const LogsRequest& request,
                       std::vector<LogsResponse>* out,
                       const std::string& token = "secret") {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    auto reader = stub_->Logs(&context, request);
    LogsResponse response;
    while (reader->Read(&response)) out->push_back(response);
    return reader->Finish();
  }

  std::unique_ptr<LogBook> book_;
  std::unique_ptr<InvokeService> service_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<tether::v1::Agent::Stub> stub_;
};

TEST_F(LogsReactorTest, StreamsKeptLinesAndEnds) {
  book_->Append(Line("one", 100));
  book_->Append(Line("two", 200));
  std::vector<LogsResponse> got;
  ASSERT_TRUE(ReadAll(LogsRequest(), &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].line().text(), "one");
  EXPECT_EQ(got[0].line().replica(), "svc-0");
  EXPECT_EQ(got[1].line().text(), "two");
}

TEST_F(LogsReactorTest, SinceSkipsOlderLines) {
  book_->Append(Line("old", 100));
  book_->Append(Line("new", 200));
  LogsRequest request;
  request.mutable_since()->set_seconds(150);
  std::vector<LogsResponse> got;
  ASSERT_TRUE(ReadAll(request, &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].line().text(), "new");
}

TEST_F(LogsReactorTest, EmptyBookEndsAtOnce) {
  std::vector<LogsResponse> got;
  EXPECT_TRUE(ReadAll(LogsRequest(), &got).ok());
  EXPECT_TRUE(got.empty());
}

TEST_F(LogsReactorTest, WrongTokenIsUnauthenticated) {
  std::vector<LogsResponse> got;
  EXPECT_EQ(ReadAll(LogsRequest(), &got, "nope").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(LogsReactorTest, FollowDeliversNewLinesUntilCancelled) {
  book_->Append(Line("before", 100));
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer secret");
  LogsRequest request;
  request.set_follow(true);
  auto reader = stub_->Logs(&context, request);
  LogsResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.line().text(), "before");
  // The reader waits now; lines appended from here on wake it.
  book_->Append(Line("after", 200));
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.line().text(), "after");
  book_->Append(Line("again", 300));
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.line().text(), "again");
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // A wake-up registered by the ended stream must not touch it.
  book_->Append(Line("late", 400));
}

TEST_F(LogsReactorTest, LinesTheBookDroppedAreCounted) {
  Start(LogBook::Options{/*max_lines=*/10, /*max_bytes=*/1 << 20});
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer secret");
  LogsRequest request;
  request.set_follow(true);
  auto reader = stub_->Logs(&context, request);
  book_->Append(Line("first", 1));
  LogsResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.line().text(), "first");
  // A flood far beyond what gRPC's flow-control window takes in while the
  // client does not read (4 MB of lines) overtakes the reactor's cursor.
  const std::string text(1000, 'x');
  constexpr int kFlood = 4000;
  for (int i = 0; i < kFlood; ++i) {
    book_->Append(Line(absl::StrCat(i, " ", text), 2));
  }
  uint64_t dropped = 0;
  std::vector<int> lines;
  while (lines.empty() || lines.back() != kFlood - 1) {
    ASSERT_TRUE(reader->Read(&response));
    if (response.has_dropped()) {
      dropped += response.dropped().lines();
    } else {
      lines.push_back(std::stoi(response.line().text()));
    }
  }
  // Every line is either read, in order, or counted as dropped.
  EXPECT_EQ(dropped + lines.size(), static_cast<uint64_t>(kFlood));
  EXPECT_GT(dropped, 0u);
  EXPECT_TRUE(std::is_sorted(lines.begin(), lines.end()));
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  reader->Finish();
}

}  // namespace
}  // namespace tether::agent
