// InvokeService over gRPC with a real WorkerPool and real workers: streams,
// flow control, cancellation, deadlines and live logs.

#include "agent/invoke_service.h"

#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/activity.h"
#include "agent/agent_metrics.h"
#include "agent/worker/worker_pool.h"
#include "agent/worker/worker_test_util.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/grpc_server.h"
#include "common/runfiles.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tether/v1/agent.grpc.pb.h"

namespace tether::agent {
namespace {

using ::testing::HasSubstr;
using ::tether::agent::testing::MakeFifo;
using ::tether::agent::testing::MakeRevisionDir;
using ::tether::agent::testing::OpenFifoWhenReaderArrives;
using ::tether::agent::testing::WaitFor;
using ::tether::v1::InvokeEvent;
using ::tether::v1::InvokeRequest;

constexpr char kModule[] = R"py(
import logging
import os
import time

OUT = os.environ["TETHER_TEST_OUT"]


def note(name, text):
    # Atomically: the test may read it at any moment.
    path = os.path.join(OUT, name)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def tokens(n):
    for i in range(n):
        yield "token%d" % i


def endless(size):
    produced = 0
    try:
        while True:
            produced += 1
            note("produced", str(produced))
            yield "x" * size
    finally:
        note("closed", str(produced))


def add(a, b):
    return a + b


def big(n):
    return "x" * n


def nap():
    time.sleep(60)


def chat(fifo):
    print("working")
    logging.getLogger("app").warning("halfway")
    with open(fifo) as f:
        f.read()
    return "done"


def flood(n):
    line = "y" * 1000
    for _ in range(n):
        print(line)
    note("flooded", "yes")
    return n


class App:
    """The service: each test calls the method it needs."""

    tokens = staticmethod(tokens)
    endless = staticmethod(endless)
    add = staticmethod(add)
    big = staticmethod(big)
    nap = staticmethod(nap)
    chat = staticmethod(chat)
    flood = staticmethod(flood)
)py";

class InvokeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = MakeRevisionDir("out", {});
    Start(tether::v1::RUNTIME_PYTHON,
          MakeRevisionDir("rev", {{"app.py", kModule}}), "app");
  }

  void Start(tether::v1::Runtime runtime, const std::string& dir,
             const std::string& module) {
    server_.reset();
    service_.reset();
    WorkerPool::Options pool_options;
    absl::StatusOr<std::unique_ptr<WorkerPool>> pool =
        WorkerPool::Create(pool_options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    WorkerConfig config;
    config.runtime = runtime;
    config.revision_dir = dir;
    config.load.set_module(module);
    config.load.set_name("App");
    config.env = {{"TETHER_TEST_OUT", out_}};
    ASSERT_TRUE(pool_->Load(config).ok());
    service_ =
        std::make_unique<InvokeService>(pool_.get(), &metrics_, &activity_,
                                        "secret", max_payload_bytes_, "svc-0",
                                        /*log_book=*/nullptr);
    service_->SetAllowedCodecs({tether::v1::CODEC_JSON, tether::v1::CODEC_RAW});
    GrpcServer::Options options;
    options.listen_address = "127.0.0.1:0";
    options.services = {service_.get()};
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    stub_ = tether::v1::Agent::NewStub(grpc::CreateCustomChannel(
        server_->address(), grpc::InsecureChannelCredentials(), args));
  }

  void TearDown() override {
    server_.reset();
    pool_.reset();
  }

  static InvokeRequest Request(const std::string& payload, bool logs = false) {
    InvokeRequest request;
    request.set_method("add");
    request.set_payload(payload);
    request.set_request_id("req-1");
    request.set_logs(logs);
    return request;
  }

  void Authorize(grpc::ClientContext& context) {
    context.AddMetadata("authorization", "Bearer secret");
  }

  std::string Note(const std::string& name) {
    absl::StatusOr<std::string> text = ReadFile(absl::StrCat(out_, "/", name));
    return text.ok() ? *text : "";
  }

  // The worker is free again: a unary call on it completes.
  void ExpectServing() {
    grpc::ClientContext context;
    Authorize(context);
    tether::v1::InvokeResponse response;
    const grpc::Status status =
        stub_->Invoke(&context, Request(R"({"args": [1, 2]})"), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.result().payload(), "3");
  }

  int64_t max_payload_bytes_ = 64 << 20;
  SimulatedClock clock_;
  AgentMetrics metrics_{&clock_};
  ActivityCounters activity_{&clock_, absl::Seconds(5)};
  std::string out_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<InvokeService> service_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<tether::v1::Agent::Stub> stub_;
};

TEST_F(InvokeServiceTest, ResultsAndItemsAreBoundedLikeRequests) {
  max_payload_bytes_ = 1000;
  Start(tether::v1::RUNTIME_PYTHON,
        MakeRevisionDir("rev", {{"app.py", kModule}}), "app");
  grpc::ClientContext context;
  Authorize(context);
  InvokeRequest request = Request(R"({"args": [2000]})");
  request.set_method("big");
  tether::v1::InvokeResponse response;
  grpc::Status status = stub_->Invoke(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "result of 2002 bytes exceeds the limit of 1000 bytes "
            "(--max_payload_bytes)");

  grpc::ClientContext stream_context;
  Authorize(stream_context);
  request.set_method("endless");
  auto reader = stub_->InvokeStream(&stream_context, request);
  InvokeEvent event;
  while (reader->Read(&event)) {
  }
  status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "an item of 2002 bytes exceeds the limit of 1000 bytes "
            "(--max_payload_bytes)");
  ExpectServing();
}

TEST_F(InvokeServiceTest, AGeneratorStreamsItsItemsInOrderThenTheResult) {
  grpc::ClientContext context;
  Authorize(context);
  InvokeRequest request = Request(R"({"args": [50]})");
  request.set_method("tokens");
  auto reader = stub_->InvokeStream(&context, request);
  InvokeEvent event;
  std::vector<std::string> items;
  while (reader->Read(&event) && event.has_items()) {
    items.insert(items.end(), event.items().item().begin(),
                 event.items().item().end());
  }
  ASSERT_EQ(items.size(), 50u);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(items[i], absl::StrCat("\"token", i, "\""));
  ASSERT_TRUE(event.has_result());
  EXPECT_EQ(event.result().payload(), "");
  EXPECT_EQ(event.result().replica(), "svc-0");
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(activity_.Snapshot().finished, 1);
}

TEST_F(InvokeServiceTest,
       ANonGeneratorStreamsOneResultAndUnaryRefusesAGenerator) {
  {
    grpc::ClientContext context;
    Authorize(context);
    auto reader = stub_->InvokeStream(&context, Request(R"({"args": [2, 3]})"));
    InvokeEvent event;
    ASSERT_TRUE(reader->Read(&event));
    EXPECT_EQ(event.result().payload(), "5");
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_TRUE(reader->Finish().ok());
  }
  grpc::ClientContext context;
  Authorize(context);
  InvokeRequest request = Request(R"({"args": [3]})");
  request.set_method("tokens");
  tether::v1::InvokeResponse response;
  const grpc::Status status = stub_->Invoke(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("InvokeStream"));
}

TEST_F(InvokeServiceTest, ASlowReaderPausesTheGeneratorAndCancelStopsIt) {
  grpc::ClientContext context;
  Authorize(context);
  InvokeRequest request = Request(R"({"args": [1048576]})");
  request.set_method("endless");
  auto reader = stub_->InvokeStream(&context, request);
  InvokeEvent event;
  // Items of 1 MiB: the worker runs at most the window ahead of the writes
  // gRPC completed, and those are bounded by HTTP/2 flow control.
  constexpr int kSlack = 24;
  int read = 0;
  while (read < 5) {
    ASSERT_TRUE(reader->Read(&event));
    ASSERT_TRUE(event.has_items());
    read += event.items().item_size();
    int produced = 0;
    ASSERT_TRUE(absl::SimpleAtoi(Note("produced"), &produced));
    EXPECT_LE(produced,
              read + static_cast<int>(InvokeService::kStreamWindow) + kSlack);
  }
  context.TryCancel();
  while (reader->Read(&event)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The worker runs one call at a time: once the next is answered, the
  // generator was closed (its finally block ran).
  ExpectServing();
  int closed = 0;
  ASSERT_TRUE(absl::SimpleAtoi(Note("closed"), &closed));
  EXPECT_LE(closed,
            read + static_cast<int>(InvokeService::kStreamWindow) + kSlack);
  EXPECT_EQ(pool_->restarts(), 0);
  EXPECT_EQ(activity_.Snapshot().finished, 2);
}

TEST_F(InvokeServiceTest, ADeadlineInterruptsASleepAndTheWorkerServesOn) {
  const std::vector<pid_t> pids = pool_->ServingPids();
  grpc::ClientContext context;
  Authorize(context);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(500));
  InvokeRequest request = Request("");
  request.set_method("nap");
  tether::v1::InvokeResponse response;
  const grpc::Status status = stub_->Invoke(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ExpectServing();
  EXPECT_EQ(pool_->ServingPids(), pids);
  EXPECT_EQ(pool_->restarts(), 0);
  EXPECT_TRUE(WaitFor([&] { return activity_.Snapshot().finished == 2; }));
  EXPECT_EQ(activity_.Snapshot().started, 2);
}

TEST_F(InvokeServiceTest, LogLinesArriveLiveTaggedAndInOrder) {
  const std::string fifo = absl::StrCat(out_, "/fifo");
  MakeFifo(fifo);
  grpc::ClientContext context;
  Authorize(context);
  InvokeRequest request =
      Request(absl::StrCat(R"({"args": [")", fifo, R"("]})"),
              /*logs=*/true);
  request.set_method("chat");
  auto reader = stub_->InvokeStream(&context, request);
  InvokeEvent event;
  // Both lines come while the call still waits on the FIFO.
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.log().text(), "working");
  EXPECT_EQ(event.log().stream(), tether::v1::LogLine::STREAM_STDOUT);
  EXPECT_EQ(event.log().request_id(), "req-1");
  EXPECT_EQ(event.log().replica(), "svc-0");
  EXPECT_GT(event.log().time().seconds(), 0);
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.log().text(), "app: halfway");
  EXPECT_EQ(event.log().stream(), tether::v1::LogLine::STREAM_LOGGING);
  EXPECT_EQ(event.log().level(), "WARNING");
  const int fd = OpenFifoWhenReaderArrives(fifo);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.result().payload(), R"("done")");
  EXPECT_TRUE(event.result().logs().empty());
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(InvokeServiceTest, UnaryCallsWithLogsGetTheirLinesWithTheResult) {
  grpc::ClientContext context;
  Authorize(context);
  InvokeRequest request = Request(R"({"args": [3]})", /*logs=*/true);
  request.set_method("flood");
  tether::v1::InvokeResponse response;
  ASSERT_TRUE(stub_->Invoke(&context, request, &response).ok());
  EXPECT_EQ(response.result().payload(), "3");
  ASSERT_EQ(response.result().logs_size(), 3);
  EXPECT_EQ(response.result().logs(0).request_id(), "req-1");
}

TEST_F(InvokeServiceTest, AFloodOfLinesIsBoundedAndTheDropsCounted) {
  constexpr int kLines = 20000;
  grpc::ClientContext context;
  Authorize(context);
  InvokeRequest request = Request(absl::StrCat(R"({"args": [)", kLines, "]}"),
                                  /*logs=*/true);
  request.set_method("flood");
  auto reader = stub_->InvokeStream(&context, request);
  // Nothing is read until the worker has printed everything.
  ASSERT_TRUE(WaitFor([&] { return Note("flooded") == "yes"; }));
  InvokeEvent event;
  uint64_t lines = 0;
  uint64_t dropped = 0;
  int drop_events = 0;
  while (reader->Read(&event) && !event.has_result()) {
    if (event.has_log()) ++lines;
    if (event.has_logs_dropped()) {
      ++drop_events;
      dropped += event.logs_dropped().lines();
    }
  }
  ASSERT_TRUE(event.has_result());
  EXPECT_EQ(event.result().payload(), absl::StrCat(kLines));
  EXPECT_GT(dropped, 0u);
  EXPECT_GE(drop_events, 1);
  EXPECT_EQ(lines + dropped, static_cast<uint64_t>(kLines));
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(InvokeServiceTest, ANativeCallPastItsDeadlineGetsItsWorkerReplaced) {
  absl::StatusOr<std::string> library =
      FindDataFile("agent/native/libblocking_test.so");
  ASSERT_TRUE(library.ok()) << library.status();
  Start(tether::v1::RUNTIME_NATIVE, library->substr(0, library->rfind('/')),
        "libblocking_test.so");
  const std::vector<pid_t> pids = pool_->ServingPids();
  grpc::ClientContext context;
  Authorize(context);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(300));
  InvokeRequest request = Request("");
  request.set_codec(tether::v1::CODEC_RAW);
  tether::v1::InvokeResponse response;
  const grpc::Status status = stub_->Invoke(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_TRUE(WaitFor([&] {
    return pool_->restarts() == 1 && pool_->ServingPids().size() == 1 &&
           pool_->ServingPids() != pids;
  }));
  EXPECT_TRUE(WaitFor([&] { return activity_.Snapshot().finished == 1; }));
}

}  // namespace
}  // namespace tether::agent
