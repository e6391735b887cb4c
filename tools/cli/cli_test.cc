#include "tools/cli/cli.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/call_metadata.h"
#include "common/files.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/cli/exit_codes.h"
#include "tools/cli/fake_control_plane.h"
#include "tools/cli/fake_file_watcher.h"

namespace tether::cli {
namespace {

using tether::v1::ServiceStatus;

const absl::Time kNow = absl::FromUnixSeconds(1704164645);

std::string TempDir() {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/cli_test.XXXXXX";
  char resolved[PATH_MAX];
  EXPECT_NE(realpath(mkdtemp(tmpl.data()), resolved), nullptr);
  return resolved;
}

template <typename T>
T Parse(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message))
      << text;
  return message;
}

// Runs `tether ARGS` against the fake with a pinned clock.
class CliTest : public ::testing::Test {
 protected:
  CliTest() {
    ctx_.out = &out_;
    ctx_.err = &err_;
    ctx_.env.home = TempDir();
    ctx_.now = [] { return kNow; };
    ctx_.connect = [this](const ParsedArgs&, const Environment&)
        -> absl::StatusOr<std::unique_ptr<Connection>> {
      // Unreachable: the real connection to a socket nobody listens on.
      if (!reachable_) return Dial(unreachable_address(), "", {});
      return fake_.Connect();
    };
  }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return RunCli(args, ctx_);
  }

  std::string out() const { return out_.str(); }
  std::string err() const { return err_.str(); }
  // An abstract Unix socket nobody listens on: refused at once, no file.
  std::string unreachable_address() const {
    return absl::StrCat("unix-abstract:tether-cli-test-nobody-", getpid());
  }
  // What every command prints when tetherd is unreachable: where, gRPC's
  // reason, and the hint.
  void ExpectUnreachableError() const {
    const std::string prefix =
        "error: cannot reach tetherd at " + unreachable_address() + ": ";
    const std::string suffix = " (start it with 'tether up')\n";
    EXPECT_EQ(err().rfind(prefix, 0), 0u) << err();
    EXPECT_GT(err().size(), prefix.size() + suffix.size()) << err();
    EXPECT_EQ(err().substr(err().size() - suffix.size()), suffix) << err();
  }

  FakeControlPlane fake_;
  bool reachable_ = true;
  std::ostringstream out_, err_;
  Context ctx_;
};

// ---- Help and usage --------------------------------------------------------

TEST_F(CliTest, GlobalHelpListsCommandsAndExitCodes) {
  EXPECT_EQ(Run({"--help"}), kExitOk);
  EXPECT_EQ(out(), GlobalUsage(AllCommands()));
  for (const char* text :
       {"  up       Start a local tetherd in the background.\n", "  deploy   ",
        "  dev      Deploy, then redeploy on every save until Ctrl-C.\n",
        "  call     ", "  ls       ", "  status   ", "  scale    ",
        "  down     ", "  stop     ", "Exit codes:\n", "  4  tetherd or the",
        "$TETHER_ENDPOINT"}) {
    EXPECT_NE(out().find(text), std::string::npos) << text;
  }
  EXPECT_EQ(Run({"-h"}), kExitOk);
  EXPECT_EQ(Run({"help"}), kExitOk);
  EXPECT_EQ(out(), GlobalUsage(AllCommands()));
}

TEST_F(CliTest, NoArgumentsPrintsUsageAsAnError) {
  EXPECT_EQ(Run({}), kExitUsage);
  EXPECT_EQ(out(), "");
  EXPECT_EQ(err(), GlobalUsage(AllCommands()));
}

TEST_F(CliTest, CommandHelp) {
  for (const Command& command : AllCommands()) {
    EXPECT_EQ(Run({command.spec.name, "--help"}), kExitOk);
    EXPECT_EQ(out(), FormatUsage(command.spec));
    EXPECT_EQ(Run({"help", command.spec.name}), kExitOk);
    EXPECT_EQ(out(), FormatUsage(command.spec));
  }
  Run({"deploy", "--help"});
  EXPECT_EQ(out().rfind("Usage: tether deploy [flags]\n", 0), 0u) << out();
  EXPECT_NE(out().find("  -f, --file FILE"), std::string::npos) << out();
}

TEST_F(CliTest, UnknownCommandSuggests) {
  EXPECT_EQ(Run({"dpeloy"}), kExitUsage);
  EXPECT_EQ(err(),
            "error: unknown command \"dpeloy\" (did you mean 'deploy'?)\n"
            "Run 'tether --help' for the list of commands.\n");
  EXPECT_EQ(Run({"frobnicate"}), kExitUsage);
  EXPECT_EQ(err(),
            "error: unknown command \"frobnicate\"\n"
            "Run 'tether --help' for the list of commands.\n");
  EXPECT_EQ(Run({"help", "nope"}), kExitUsage);
}

TEST_F(CliTest, UsageErrorsNameTheFlag) {
  EXPECT_EQ(Run({"ls", "--outptu", "json"}), kExitUsage);
  EXPECT_EQ(err(),
            "error: unknown flag --outptu (did you mean --output?)\n"
            "Run 'tether ls --help' for usage.\n");
  EXPECT_EQ(Run({"ls", "-o", "yaml"}), kExitUsage);
  EXPECT_EQ(err(),
            "error: --output: unknown format \"yaml\" (use text or json)\n"
            "Run 'tether ls --help' for usage.\n");
  EXPECT_EQ(Run({"status"}), kExitUsage);
  EXPECT_EQ(err(),
            "error: missing argument SERVICE (usage: tether status SERVICE "
            "[flags])\n"
            "Run 'tether status --help' for usage.\n");
  EXPECT_EQ(Run({"down", "Bad_Name"}), kExitUsage);
  EXPECT_EQ(err().rfind("error: SERVICE: \"Bad_Name\" is not a valid service "
                        "name: it contains uppercase 'B'; ",
                        0),
            0u)
      << err();
  EXPECT_EQ(Run({"up", "--backend", "kubernetes"}), kExitUsage);
  EXPECT_NE(err().find("--backend kubernetes needs --agent-image"),
            std::string::npos)
      << err();
  EXPECT_EQ(Run({"up", "--backend", "cloud"}), kExitUsage);
  EXPECT_NE(err().find("--backend: \"cloud\" is not local or kubernetes"),
            std::string::npos)
      << err();
  EXPECT_EQ(Run({"up", "--listen", "nowhere"}), kExitUsage);
  EXPECT_EQ(err(),
            "error: --listen: \"nowhere\" is not HOST:PORT (the port is "
            "missing)\n"
            "Run 'tether up --help' for usage.\n");
}

TEST_F(CliTest, UnreachableTetherdExitsFour) {
  reachable_ = false;
  EXPECT_EQ(Run({"ls"}), kExitUnavailable);
  ExpectUnreachableError();
  EXPECT_EQ(Run({"status", "hello"}), kExitUnavailable);
  ExpectUnreachableError();
  EXPECT_EQ(Run({"call", "hello"}), kExitUnavailable);
  ExpectUnreachableError();
  EXPECT_EQ(Run({"scale", "hello", "0"}), kExitUnavailable);
  ExpectUnreachableError();
}

// ---- ls / status / down ----------------------------------------------------

TEST_F(CliTest, ListServices) {
  EXPECT_EQ(Run({"ls"}), kExitOk);
  EXPECT_EQ(out(), "");
  EXPECT_EQ(err(), "no services\n");

  fake_.AddService(Parse<ServiceStatus>(R"pb(
    name: "hello"
    phase: PHASE_READY
    revision: "abc123def4567890"
    replicas { phase: PHASE_READY }
    created { seconds: 1704164585 }
  )pb"));
  fake_.AddService(
      Parse<ServiceStatus>(R"pb(name: "apple" phase: PHASE_FAILED)pb"));
  EXPECT_EQ(Run({"ls"}), kExitOk);
  EXPECT_EQ(out(),
            "NAMESPACE   NAME    PHASE    REPLICAS   REVISION       ACTIVE   "
            "IN-FLIGHT   TTL   AGE\n"
            "-           apple   Failed   0/1                       never    "
            "0           -     -\n"
            "-           hello   Ready    1/1        abc123def456   never    "
            "0           -     60s\n");
  EXPECT_EQ(err(), "");

  EXPECT_EQ(Run({"ls", "-o", "json"}), kExitOk);
  EXPECT_EQ(out(),
            "{\n"
            "  \"services\": [\n"
            "    {\"name\": \"apple\", \"phase\": \"PHASE_FAILED\"},\n"
            "    {\n"
            "      \"name\": \"hello\",\n"
            "      \"revision\": \"abc123def4567890\",\n"
            "      \"phase\": \"PHASE_READY\",\n"
            "      \"replicas\": [{\"phase\": \"PHASE_READY\"}],\n"
            "      \"created\": \"2024-01-02T03:03:05Z\"\n"
            "    }\n"
            "  ]\n"
            "}\n");
}

TEST_F(CliTest, StatusAndNotFound) {
  fake_.AddService(Parse<ServiceStatus>(R"pb(
    name: "hello"
    phase: PHASE_READY
    spec { callable { module: "hello" name: "greet" } }
  )pb"));
  EXPECT_EQ(Run({"status", "hello"}), kExitOk);
  EXPECT_EQ(out(),
            "Name:       hello\n"
            "Namespace:  -\n"
            "Phase:      Ready\n"
            "Revision:   -\n"
            "Generation: 0\n"
            "Replicas:   0/1 ready\n"
            "Activity:   last never, 0 calls in flight\n"
            "Callable:   python hello.greet\n"
            "Compute:    workers 1\n"
            "Created:    -\n"
            "Updated:    -\n");
  EXPECT_EQ(Run({"status", "hello", "-ojson"}), kExitOk);
  EXPECT_EQ(out(),
            "{\n"
            "  \"name\": \"hello\",\n"
            "  \"spec\": {\"callable\": {\"module\": \"hello\", \"name\": "
            "\"greet\"}},\n"
            "  \"phase\": \"PHASE_READY\"\n"
            "}\n");
  EXPECT_EQ(Run({"status", "nope"}), kExitNotFound);
  EXPECT_EQ(err(), "error: service \"nope\" not found\n");
}

TEST_F(CliTest, Down) {
  fake_.AddService(Parse<ServiceStatus>(R"pb(name: "hello")pb"));
  EXPECT_EQ(Run({"down", "hello"}), kExitOk);
  EXPECT_EQ(out(), "service hello deleted\n");
  EXPECT_EQ(fake_.deleted(), std::vector<std::string>{"hello"});
  EXPECT_EQ(Run({"down", "hello"}), kExitNotFound);
  EXPECT_EQ(err(), "error: service \"hello\" not found\n");
}

// Two replicas' lines as tetherd merges them.
class LogsTest : public CliTest {
 protected:
  LogsTest() {
    fake_.AddService(
        Parse<ServiceStatus>(R"pb(name: "hello"
                                  replicas { name: "hello-0" }
                                  replicas { name: "hello-1" })pb"));
    fake_.SetLogs({
        Parse<tether::v1::LogsResponse>(
            R"pb(line {
                   replica: "hello-0"
                   text: "old"
                   stream: STREAM_STDOUT
                   time { seconds: 1704160000 }
                 })pb"),
        Parse<tether::v1::LogsResponse>(R"pb(dropped { lines: 120 })pb"),
        Parse<tether::v1::LogsResponse>(
            R"pb(line {
                   replica: "hello-1"
                   text: "step 1\n"
                   stream: STREAM_STDOUT
                   request_id: "r1"
                   time { seconds: 1704164600 }
                 })pb"),
        Parse<tether::v1::LogsResponse>(
            R"pb(line {
                   replica: "hello-0"
                   text: "careful"
                   stream: STREAM_LOGGING
                   level: "WARNING"
                   time { seconds: 1704164640 }
                 })pb"),
        Parse<tether::v1::LogsResponse>(
            R"pb(line {
                   replica: "hello-2"
                   text: "cannot reach tetherd"
                   level: "pod"
                   time { seconds: 1704164650 }
                 })pb"),
    });
  }
};

TEST_F(LogsTest, PrintsLinesWithReplicaAndLevelAndCountsDrops) {
  EXPECT_EQ(Run({"logs", "hello"}), kExitOk) << err();
  EXPECT_EQ(out(),
            "[hello-0] old\n"
            "[hello-1] step 1\n"
            "[hello-0] WARNING careful\n"
            "[hello-2] (pod) cannot reach tetherd\n");
  EXPECT_EQ(err(), "(… 120 lines dropped)\n");
  ASSERT_EQ(fake_.logs_requests().size(), 1u);
  EXPECT_FALSE(fake_.logs_requests()[0].follow());
  EXPECT_FALSE(fake_.logs_requests()[0].has_since());
}

TEST_F(LogsTest, SinceAndReplicaFilter) {
  EXPECT_EQ(Run({"logs", "hello", "--since", "10m", "--replica", "hello-0"}),
            kExitOk)
      << err();
  EXPECT_EQ(out(), "[hello-0] WARNING careful\n");
  ASSERT_EQ(fake_.logs_requests().size(), 1u);
  EXPECT_EQ(fake_.logs_requests()[0].since().seconds(),
            absl::ToUnixSeconds(kNow) - 600);
  EXPECT_EQ(fake_.logs_requests()[0].replica(), "hello-0");
}

TEST_F(LogsTest, Errors) {
  EXPECT_EQ(Run({"logs", "nope"}), kExitNotFound);
  EXPECT_NE(err().find("service \"nope\" not found"), std::string::npos)
      << err();
  EXPECT_EQ(Run({"logs", "hello", "--replica", "hello-7"}), kExitNotFound);
  EXPECT_NE(err().find("hello-7"), std::string::npos) << err();
  EXPECT_EQ(Run({"logs", "hello", "--since", "soon"}), kExitUsage);
  EXPECT_NE(err().find("--since"), std::string::npos) << err();
  EXPECT_EQ(Run({"logs"}), kExitUsage);
  EXPECT_EQ(Run({"logs", "Bad_Name"}), kExitUsage);
  EXPECT_NE(err().find("SERVICE"), std::string::npos) << err();
}

TEST_F(LogsTest, FollowEndsCleanlyOnCtrlC) {
  // Ctrl-C once the fake has sent its lines and waits for more.
  std::thread interrupt([this] {
    ASSERT_TRUE(fake_.AwaitLogs(1, absl::Seconds(30)));
    kill(getpid(), SIGINT);
  });
  EXPECT_EQ(Run({"logs", "hello", "-f"}), kExitOk) << err();
  interrupt.join();
  EXPECT_EQ(out(),
            "[hello-0] old\n"
            "[hello-1] step 1\n"
            "[hello-0] WARNING careful\n"
            "[hello-2] (pod) cannot reach tetherd\n");
  ASSERT_EQ(fake_.logs_requests().size(), 1u);
  EXPECT_TRUE(fake_.logs_requests()[0].follow());
}

TEST_F(CliTest, ScaleParksAndWakes) {
  fake_.AddService(Parse<ServiceStatus>(R"pb(
    name: "hello" phase: PHASE_READY
  )pb"));
  EXPECT_EQ(Run({"scale", "hello", "0"}), kExitOk);
  EXPECT_EQ(out(), "hello: scaled to 0 (idle; the next call wakes it)\n");
  EXPECT_EQ(err(), "");
  ASSERT_EQ(fake_.scales().size(), 1u);
  EXPECT_EQ(fake_.scales()[0].name(), "hello");
  EXPECT_EQ(fake_.scales()[0].replicas(), 0);
  EXPECT_EQ(Run({"status", "hello"}), kExitOk);
  EXPECT_NE(out().find("Phase:      Idle\n"), std::string::npos) << out();

  EXPECT_EQ(Run({"scale", "hello", "3"}), kExitOk);
  EXPECT_EQ(out(), "hello: scaling to 3 replicas (until the next deploy)\n");
  EXPECT_EQ(Run({"scale", "hello", "1", "-o", "json"}), kExitOk);
  EXPECT_EQ(out(),
            "{\"name\": \"hello\", \"phase\": \"PHASE_DEPLOYING\", "
            "\"scale\": 1}\n");
}

TEST_F(CliTest, ScaleErrors) {
  EXPECT_EQ(Run({"scale", "nope", "0"}), kExitNotFound);
  EXPECT_EQ(err(), "error: service \"nope\" not found\n");

  fake_.AddService(Parse<ServiceStatus>(R"pb(
    name: "ranks"
    spec { compute { distributed { workers: 4 } } }
  )pb"));
  EXPECT_EQ(Run({"scale", "ranks", "2"}), kExitOther);
  EXPECT_EQ(err(),
            "error: service ranks is distributed over 4 workers: it runs 0 "
            "or 4 replicas, not 2\n");
  EXPECT_EQ(Run({"scale", "ranks", "4"}), kExitOk);

  // A bad N is a usage error; tetherd is not asked.
  const size_t asked = fake_.scales().size();
  for (const char* n : {"-1", "two", "1.5", "", "99999999999"}) {
    EXPECT_EQ(Run({"scale", "ranks", n}), kExitUsage) << n;
    EXPECT_EQ(err(), absl::StrCat("error: N: expected a number of replicas (0 "
                                  "or more), got \"",
                                  n,
                                  "\"\n"
                                  "Run 'tether scale --help' for usage.\n"))
        << n;
  }
  EXPECT_EQ(Run({"scale", "ranks"}), kExitUsage);
  EXPECT_EQ(err(),
            "error: missing argument N (usage: tether scale SERVICE N "
            "[flags])\n"
            "Run 'tether scale --help' for usage.\n");
  EXPECT_EQ(Run({"scale", "Bad_Name", "1"}), kExitUsage);
  EXPECT_EQ(fake_.scales().size(), asked);
}

// ---- call ------------------------------------------------------------------

TEST_F(CliTest, CallPrintsTheResultAndLogs) {
  fake_.SetCall(Parse<tether::v1::CallResponse>(R"pb(
                  results {
                    replica: "hello-0"
                    payload: "{\"greeting\":\"hi\"}"
                    logs { text: "greeting bob" }
                  }
                )pb"),
                grpc::Status::OK);
  EXPECT_EQ(Run({"call", "hello", "--json", R"({"args": ["bob"]})", "--time"}),
            kExitOk);
  EXPECT_EQ(out(), "{\"greeting\": \"hi\"}\n");
  EXPECT_EQ(err(), "[hello-0] greeting bob\nlatency: 0.000 ms\n");
  ASSERT_EQ(fake_.calls().size(), 1u);
  const tether::v1::CallRequest request = fake_.calls()[0];
  EXPECT_EQ(request.service(), "hello");
  EXPECT_EQ(request.method(), "");
  EXPECT_EQ(request.codec(), tether::v1::CODEC_JSON);
  EXPECT_EQ(request.payload(), R"({"args": ["bob"]})");
  EXPECT_EQ(request.target(), tether::v1::CallRequest::TARGET_ANY);
}

TEST_F(CliTest, CallSaysWhenItWokeTheService) {
  fake_.SetCall(Parse<tether::v1::CallResponse>(R"pb(
                  results { replica: "hello-0" payload: "1" }
                )pb"),
                grpc::Status::OK);
  EXPECT_EQ(Run({"call", "hello"}), kExitOk);
  EXPECT_EQ(err(), "");
  fake_.SetCallTrailer(kWokeAfterMetadata, "412");
  EXPECT_EQ(Run({"call", "hello"}), kExitOk);
  EXPECT_EQ(out(), "1\n");
  EXPECT_EQ(err(), "(hello was scaled to zero; woke it in 412 ms)\n");
  // Said even when the call then fails.
  fake_.SetCall(tether::v1::CallResponse(),
                grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "too slow"));
  EXPECT_EQ(Run({"call", "hello"}), kExitUnavailable);
  EXPECT_EQ(err(),
            "(hello was scaled to zero; woke it in 412 ms)\n"
            "error: too slow\n");
}

TEST_F(CliTest, CallStreamPrintsEventsAsTheyCome) {
  fake_.SetCallStream(
      {Parse<tether::v1::InvokeEvent>(
           R"pb(log { replica: "hello-0" text: "working" level: "INFO" })pb"),
       Parse<tether::v1::InvokeEvent>(R"pb(items { item: "\"a\"" })pb"),
       Parse<tether::v1::InvokeEvent>(R"pb(logs_dropped { lines: 3 })pb"),
       Parse<tether::v1::InvokeEvent>(
           R"pb(items { item: "\"b\"" item: "\"c\"" })pb"),
       Parse<tether::v1::InvokeEvent>(R"pb(result { replica: "hello-0" })pb")},
      grpc::Status::OK);
  EXPECT_EQ(Run({"call", "hello", "--logs"}), kExitOk);
  EXPECT_EQ(out(), "\"a\"\n\"b\"\n\"c\"\n");
  EXPECT_EQ(err(),
            "[hello-0] INFO working\n"
            "(3 log lines dropped: printed faster than they could be sent)\n");
  ASSERT_EQ(fake_.calls().size(), 1u);
  EXPECT_TRUE(fake_.calls()[0].logs());
  EXPECT_EQ(Run({"call", "hello", "--stream", "--all"}), kExitUsage);
}

TEST_F(CliTest, CallStreamShowsARemoteException) {
  fake_.SetCallStream(
      {Parse<tether::v1::InvokeEvent>(R"pb(items { item: "1" })pb"),
       Parse<tether::v1::InvokeEvent>(R"pb(
         result {
           replica: "hello-0"
           error { type: "ValueError" message: "bad" traceback: "Trace\n" }
         }
       )pb")},
      grpc::Status::OK);
  EXPECT_EQ(Run({"call", "hello", "--stream"}), kExitRemoteError);
  EXPECT_EQ(out(), "1\n");
  EXPECT_NE(err().find("ValueError"), std::string::npos) << err();
}

TEST_F(CliTest, CallRemoteExceptionExitsOne) {
  fake_.SetCall(Parse<tether::v1::CallResponse>(R"pb(
                  results {
                    replica: "hello-1"
                    error {
                      type: "ValueError"
                      message: "boom"
                      traceback: "Traceback (most recent call last):\n  x\n"
                    }
                  }
                )pb"),
                grpc::Status::OK);
  EXPECT_EQ(Run({"call", "hello", "greet", "--replica", "hello-1"}),
            kExitRemoteError);
  EXPECT_EQ(out(), "");
  EXPECT_EQ(err(),
            "Traceback (most recent call last):\n  x\nValueError: boom\n");
  const tether::v1::CallRequest request = fake_.calls().back();
  EXPECT_EQ(request.method(), "greet");
  EXPECT_EQ(request.target(), tether::v1::CallRequest::TARGET_REPLICA);
  EXPECT_EQ(request.replica(), "hello-1");
}

TEST_F(CliTest, CallRawFileAndFanOut) {
  const std::string dir = TempDir();
  ASSERT_TRUE(
      WriteFileAtomically(dir + "/in.bin", std::string("\0\1", 2)).ok());
  fake_.SetCall(Parse<tether::v1::CallResponse>(R"pb(
                  results { replica: "e-0" payload: "A" }
                  results { replica: "e-1" payload: "B" }
                )pb"),
                grpc::Status::OK);
  EXPECT_EQ(Run({"call", "echo", "--raw-file", dir + "/in.bin", "--all"}),
            kExitOk);
  EXPECT_EQ(out(), "e-0: A\ne-1: B\n");
  const tether::v1::CallRequest request = fake_.calls().back();
  EXPECT_EQ(request.codec(), tether::v1::CODEC_RAW);
  EXPECT_EQ(request.payload(), std::string("\0\1", 2));
  EXPECT_EQ(request.target(), tether::v1::CallRequest::TARGET_ALL);
}

TEST_F(CliTest, CallServerErrorsMapToExitCodes) {
  fake_.SetCall(tether::v1::CallResponse(),
                grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                             "codec pickle is not allowed for service hello"));
  const std::string dir = TempDir();
  ASSERT_TRUE(WriteFileAtomically(dir + "/p", "x").ok());
  EXPECT_EQ(Run({"call", "hello", "--pickle-file", dir + "/p"}), kExitUsage);
  EXPECT_EQ(err(), "error: codec pickle is not allowed for service hello\n");
  EXPECT_EQ(fake_.calls().back().codec(), tether::v1::CODEC_PICKLE);

  fake_.SetCall(tether::v1::CallResponse(),
                grpc::Status(grpc::StatusCode::UNAVAILABLE,
                             "service hello has no ready replica"));
  EXPECT_EQ(Run({"call", "hello"}), kExitUnavailable);
  // tetherd's own UNAVAILABLE is passed on as it is.
  EXPECT_EQ(err(), "error: service hello has no ready replica\n");
  fake_.SetCall(tether::v1::CallResponse(),
                grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too big"));
  EXPECT_EQ(Run({"call", "hello"}), kExitOther);
  fake_.SetCall(tether::v1::CallResponse(),
                grpc::Status(grpc::StatusCode::NOT_FOUND, "no such service"));
  EXPECT_EQ(Run({"call", "hello"}), kExitNotFound);
}

TEST_F(CliTest, CallUsageErrors) {
  EXPECT_EQ(Run({"call", "hello", "--json", "[1]"}), kExitUsage);
  EXPECT_EQ(err(),
            "error: --json: expected an object such as {\"args\": [1, 2], "
            "\"kwargs\": {\"x\": 3}}, got a list\n"
            "Run 'tether call --help' for usage.\n");
  EXPECT_EQ(Run({"call", "hello", "--all", "--replica", "hello-0"}),
            kExitUsage);
  EXPECT_EQ(err(),
            "error: --all and --replica are mutually exclusive\n"
            "Run 'tether call --help' for usage.\n");
  EXPECT_EQ(Run({"call", "hello", "--raw-file", "/nonexistent/x"}), kExitUsage);
  EXPECT_EQ(err(),
            "error: --raw-file: open /nonexistent/x: No such file or "
            "directory\n"
            "Run 'tether call --help' for usage.\n");
  EXPECT_EQ(Run({"call", "hello", "--timeout", "soon"}), kExitUsage);
  EXPECT_EQ(err(),
            "error: --timeout: expected a positive number of seconds, got "
            "\"soon\"\n"
            "Run 'tether call --help' for usage.\n");
  EXPECT_TRUE(fake_.calls().empty());
}

// ---- deploy ----------------------------------------------------------------

class DeployTest : public CliTest {
 protected:
  DeployTest() {
    EXPECT_TRUE(MakeDirs(dir_ + "/src/pkg").ok());
    EXPECT_TRUE(WriteFileAtomically(dir_ + "/src/hello.py",
                                    "def greet(): "
                                    "return 1\n")
                    .ok());
    EXPECT_TRUE(WriteFileAtomically(dir_ + "/src/pkg/__init__.py", "").ok());
    EXPECT_TRUE(WriteFileAtomically(dir_ + "/service.yaml",
                                    "name: hello\n"
                                    "code: src\n"
                                    "compute: {replicas: 2}\n"
                                    "callable: {module: hello, name: greet}\n")
                    .ok());
    fake_.SetSyncRevision("abc123def4567890abc123def4567890");
  }
  const std::string dir_ = TempDir();
};

TEST_F(DeployTest, UploadsDeploysAndStreamsProgress) {
  fake_.SetDeploy(
      {Parse<tether::v1::DeployEvent>(R"pb(stage: STAGE_ACCEPTED
                                           message: "generation 1")pb"),
       Parse<tether::v1::DeployEvent>(
           R"pb(stage: STAGE_REPLICA_LOADING
                replica: "hello-0"
                message: "importing hello.greet")pb"),
       Parse<tether::v1::DeployEvent>(R"pb(stage: STAGE_READY)pb")},
      grpc::Status::OK);
  EXPECT_EQ(Run({"deploy", "-f", dir_ + "/service.yaml"}), kExitOk) << err();
  EXPECT_EQ(out(),
            "synced " + dir_ +
                "/src: revision abc123def456, 2 files, sent 2 new (22 B) in "
                "0.00s\n"
                "  [0.00s]          accepted  generation 1\n"
                "  [0.00s] hello-0  loading   importing hello.greet\n"
                "  [0.00s]          ready\n"
                "service hello ready at revision abc123def456 (2 replicas) in "
                "0.00s\n");
  EXPECT_EQ(err(), "");
  EXPECT_EQ(fake_.synced_paths(),
            (std::vector<std::string>{"hello.py", "pkg/__init__.py"}));
  ASSERT_EQ(fake_.deploys().size(), 1u);
  const tether::v1::DeployRequest request = fake_.deploys()[0];
  EXPECT_EQ(request.revision(), "abc123def4567890abc123def4567890");
  EXPECT_EQ(request.spec().name(), "hello");
  // The spec goes as written; tetherd fills in defaults.
  EXPECT_EQ(request.spec().compute().replicas(), 2);
  EXPECT_EQ(request.spec().compute().workers(), 0);
}

TEST_F(DeployTest, CodeFlagOverridesAndJsonOutput) {
  fake_.SetDeploy({Parse<tether::v1::DeployEvent>(R"pb(stage: STAGE_READY
                                                       message: "done")pb")},
                  grpc::Status::OK);
  EXPECT_EQ(Run({"deploy", "--file=" + dir_ + "/service.yaml", "--code",
                 dir_ + "/src/pkg", "-o", "json"}),
            kExitOk)
      << err();
  EXPECT_EQ(out(), "{\"stage\":\"STAGE_READY\",\"message\":\"done\"}\n");
  EXPECT_EQ(err(),
            "synced " + dir_ +
                "/src/pkg: revision abc123def456, 1 file, sent 1 new (0 B) "
                "in 0.00s\n"
                "service hello ready at revision abc123def456 (2 replicas) in "
                "0.00s\n");
  EXPECT_EQ(fake_.synced_paths(), std::vector<std::string>{"__init__.py"});
}

TEST_F(DeployTest, RemoteFailurePrintsTheMessage) {
  fake_.SetDeploy(
      {Parse<tether::v1::DeployEvent>(R"pb(stage: STAGE_ACCEPTED)pb")},
      grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                   "replica hello-0 failed to load: ModuleNotFoundError\n"
                   "Traceback (most recent call last):\n  ...\n"));
  EXPECT_EQ(Run({"deploy", "-f", dir_ + "/service.yaml"}), kExitOther);
  EXPECT_EQ(err(),
            "error: replica hello-0 failed to load: ModuleNotFoundError\n"
            "Traceback (most recent call last):\n  ...\n");
}

TEST_F(DeployTest, LocalErrorsExitTwoWithoutCallingTetherd) {
  EXPECT_EQ(Run({"deploy"}), kExitUsage);
  EXPECT_EQ(err(),
            "error: missing --file FILE (the service YAML)\n"
            "Run 'tether deploy --help' for usage.\n");
  EXPECT_EQ(Run({"deploy", "-f", dir_ + "/missing.yaml"}), kExitUsage);
  EXPECT_EQ(err(), "error: " + dir_ + "/missing.yaml: no such file\n");
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/bad.yaml",
                                  "name: hello\ncompute: {replicas: two}\n")
                  .ok());
  EXPECT_EQ(Run({"deploy", "-f", dir_ + "/bad.yaml"}), kExitUsage);
  EXPECT_EQ(err(), "error: " + dir_ +
                       "/bad.yaml: compute.replicas: expected an integer, got "
                       "\"two\"\n");
  EXPECT_EQ(
      Run({"deploy", "-f", dir_ + "/service.yaml", "--code", dir_ + "/nope"}),
      kExitUsage);
  EXPECT_EQ(err(), "error: --code: \"" + dir_ +
                       "/nope\" is not a directory\n"
                       "Run 'tether deploy --help' for usage.\n");
  EXPECT_TRUE(fake_.deploys().empty());
}

TEST_F(DeployTest, UnreachableTetherdExitsFour) {
  reachable_ = false;
  EXPECT_EQ(Run({"deploy", "-f", dir_ + "/service.yaml"}), kExitUnavailable);
  ExpectUnreachableError();
}

// ---- sync ------------------------------------------------------------------

TEST_F(DeployTest, SyncUploadsWithoutDeploying) {
  EXPECT_EQ(Run({"sync", dir_ + "/src"}), kExitOk) << err();
  EXPECT_EQ(out(), "synced " + dir_ +
                       "/src: revision abc123def456, 2 files, sent 2 new "
                       "(22 B) in 0.00s\n");
  EXPECT_EQ(fake_.synced_paths(),
            (std::vector<std::string>{"hello.py", "pkg/__init__.py"}));
  EXPECT_TRUE(fake_.deploys().empty());
}

TEST_F(DeployTest, SyncPrintsOneJsonObject) {
  EXPECT_EQ(Run({"sync", dir_ + "/src/pkg", "-o", "json"}), kExitOk) << err();
  EXPECT_EQ(out().rfind("{\"revision\":\"abc123def4567890abc123def4567890\","
                        "\"files\":1,\"filesSent\":1,\"deltasSent\":0,"
                        "\"payloadBytes\":0,\"bytesSent\":",
                        0),
            0u)
      << out();
  EXPECT_TRUE(absl::EndsWith(out(), ",\"manifestDiff\":false}\n")) << out();
  EXPECT_EQ(err(), "");
}

TEST_F(DeployTest, SyncOfAMissingDirectoryIsAUsageError) {
  EXPECT_EQ(Run({"sync", dir_ + "/nope"}), kExitUsage);
  EXPECT_EQ(err(), "error: DIR: \"" + dir_ +
                       "/nope\" is not a directory\n"
                       "Run 'tether sync --help' for usage.\n");
  reachable_ = false;
  EXPECT_EQ(Run({"sync", dir_ + "/src"}), kExitUnavailable);
  ExpectUnreachableError();
}

// ---- dev -------------------------------------------------------------------

class DevTest : public DeployTest {
 protected:
  DevTest() {
    ctx_.now = [this] { return script_.Now(); };
    ctx_.time_zone = absl::UTCTimeZone();
    ctx_.new_watcher = script_.Factory();
  }
  FakeWatchScript script_{kNow};
};

TEST_F(DevTest, RedeploysOnSaveAndCtrlCExitsZero) {
  script_.Then(absl::Seconds(1),
               {WatchEvent{WatchEvent::Kind::kChanged, dir_ + "/src/hello.py"}},
               [this] { fake_.SetSyncRevision(std::string(64, 'f')); });
  // A real SIGINT, through the command's handler.
  script_.Then(absl::Seconds(1), {}, [] { raise(SIGINT); });
  EXPECT_EQ(Run({"dev", "-f", dir_ + "/service.yaml", "--debounce-ms", "50"}),
            kExitOk)
      << err();
  EXPECT_EQ(out(),
            "synced " + dir_ +
                "/src: revision abc123def456, 2 files, sent 2 new (22 B) in "
                "0.00s\n"
                "service hello ready at revision abc123def456 (2 replicas) in "
                "0.00s\n"
                "watching " +
                dir_ + "/src and " + dir_ +
                "/service.yaml; Ctrl-C to stop\n"
                "[03:04:06] hello.py changed → revision ffffffffffff ready in "
                "0.00s\n"
                "stopped; service hello keeps running ('tether down hello' "
                "removes it)\n");
  EXPECT_EQ(err(), "");
  ASSERT_EQ(fake_.deploys().size(), 2u);
  EXPECT_EQ(fake_.deploys()[1].revision(), std::string(64, 'f'));
  EXPECT_EQ(script_.specs()[0].root, dir_ + "/src");
}

TEST_F(DevTest, LocalErrorsExitTwoWithoutCallingTetherd) {
  EXPECT_EQ(Run({"dev"}), kExitUsage);
  EXPECT_EQ(err(),
            "error: missing --file FILE (the service YAML)\n"
            "Run 'tether dev --help' for usage.\n");
  EXPECT_EQ(Run({"dev", "-f", dir_ + "/service.yaml", "--debounce-ms", "soon"}),
            kExitUsage);
  EXPECT_EQ(err(),
            "error: --debounce-ms: expected milliseconds from 0 to 60000, got "
            "\"soon\"\n"
            "Run 'tether dev --help' for usage.\n");
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/bad.yaml",
                                  "name: hello\ncompute: {replicas: two}\n")
                  .ok());
  EXPECT_EQ(Run({"dev", "-f", dir_ + "/bad.yaml"}), kExitUsage);
  EXPECT_EQ(err(), "error: " + dir_ +
                       "/bad.yaml: compute.replicas: expected an integer, got "
                       "\"two\"\n");
  EXPECT_EQ(Run({"dev", "-f", dir_ + "/service.yaml", "--code", dir_ + "/no"}),
            kExitUsage);
  EXPECT_TRUE(fake_.deploys().empty());
  EXPECT_TRUE(script_.specs().empty());
}

TEST_F(DevTest, UnreachableTetherdExitsFour) {
  reachable_ = false;
  EXPECT_EQ(Run({"dev", "-f", dir_ + "/service.yaml"}), kExitUnavailable);
  ExpectUnreachableError();
  EXPECT_TRUE(script_.specs().empty());
}

// ---- render ----------------------------------------------------------------

class RenderTest : public CliTest {
 protected:
  void SetUp() override {
    reachable_ = false;  // render never dials tetherd
    dir_ = TempDir();
    ASSERT_TRUE(
        WriteFileAtomically(dir_ + "/app.py", "def f():\n    return 1\n").ok());
  }
  void WriteService(const std::string& compute) {
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/service.yaml",
                                    "name: f\ncompute:\n" + compute +
                                        "callable:\n  module: app\n  name: f\n")
                    .ok());
  }
  std::string dir_;
};

TEST_F(RenderTest, PrintsManifestsAsYamlOrAJsonList) {
  WriteService("  image: python:3.11-slim\n  replicas: 2\n");
  ASSERT_EQ(Run({"render", "-f", dir_ + "/service.yaml"}), kExitOk) << err();
  EXPECT_NE(out().find("kind: \"Deployment\""), std::string::npos) << out();
  EXPECT_NE(out().find("kind: \"PodDisruptionBudget\""), std::string::npos);
  EXPECT_NE(out().find("tether.dev/revision: "), std::string::npos);

  ASSERT_EQ(Run({"render", "-f", dir_ + "/service.yaml", "-o", "json",
                 "--namespace", "ml"}),
            kExitOk)
      << err();
  EXPECT_NE(out().find("\"kind\": \"List\""), std::string::npos) << out();
  EXPECT_NE(out().find("\"namespace\": \"ml\""), std::string::npos);
}

TEST_F(RenderTest, NamesTheFieldThatKeepsItFromRendering) {
  WriteService("  replicas: 1\n");
  EXPECT_EQ(Run({"render", "-f", dir_ + "/service.yaml"}), kExitUsage);
  EXPECT_NE(err().find("compute.image"), std::string::npos) << err();
}

// The three worked examples of Flyte's PodTemplate docs (seed 003), as a
// user previews them: the runtime PodTemplates are files, Flyte's K8s
// plugin config becomes compute.labels/annotations (Tether has no such
// layer; it sits below the inline pod_template), the compile-time template
// is compute.pod_template, and Flyte's task container is "tether", whose
// image and command are Tether's. kube/pod_template_test.cc has the same
// examples as unit tests and says where the results differ from Flyte's.
class RenderPodTemplatesTest : public RenderTest {
 protected:
  std::string WriteTemplate(const std::string& name, const std::string& yaml) {
    std::string path = dir_ + "/" + name + ".yaml";
    EXPECT_TRUE(WriteFileAtomically(path, yaml).ok());
    return path;
  }
  // The rendered Deployment's pod template, from `render -o json`.
  nlohmann::json RenderPod(std::vector<std::string> extra) {
    std::vector<std::string> args = {"render", "-f", dir_ + "/service.yaml",
                                     "-o", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_EQ(Run(args), kExitOk) << err();
    const nlohmann::json list =
        nlohmann::json::parse(out(), nullptr, /*allow_exceptions=*/false);
    if (!list.is_object()) return nullptr;
    return list["items"][0]["spec"]["template"];
  }
  static nlohmann::json Label(const nlohmann::json& pod, const char* key) {
    return pod["metadata"]["labels"].value(key, nlohmann::json());
  }
  static nlohmann::json Annotation(const nlohmann::json& pod, const char* key) {
    return pod["metadata"]["annotations"].value(key, nlohmann::json());
  }
};

constexpr char kFlyteTemplate1[] = R"yaml(
apiVersion: v1
kind: PodTemplate
metadata: {name: flyte-template, namespace: flyte}
template:
  metadata:
    labels: {foo: from-pod-template}
    annotations: {foo: initial-value, bar: initial-value}
  spec:
    containers:
    - name: default
      image: docker.io/rwgrim/docker-noop
      terminationMessagePath: /dev/foo
    hostNetwork: false
)yaml";

TEST_F(RenderPodTemplatesTest, FlyteExample1RuntimeTemplateAndPluginConfig) {
  WriteService(R"yaml(  image: python:3.11-slim
  labels: {bar: from-default-label}
  annotations: {foo: overridden-value, baz: non-overridden-value}
  pod_template:
    spec: {hostNetwork: true}
)yaml");
  const nlohmann::json pod = RenderPod(
      {"--pod-template", WriteTemplate("flyte-template", kFlyteTemplate1)});
  EXPECT_EQ(Label(pod, "foo"), "from-pod-template");
  EXPECT_EQ(Label(pod, "bar"), "from-default-label");
  EXPECT_EQ(Annotation(pod, "foo"), "overridden-value");
  EXPECT_EQ(Annotation(pod, "bar"), "initial-value");
  EXPECT_EQ(Annotation(pod, "baz"), "non-overridden-value");
  const nlohmann::json& spec = pod["spec"];
  EXPECT_EQ(spec["hostNetwork"], true);
  ASSERT_EQ(spec["containers"].size(), 1u) << spec.dump();
  EXPECT_EQ(spec["containers"][0]["name"], "tether");
  EXPECT_EQ(spec["containers"][0]["image"], "python:3.11-slim");
  EXPECT_EQ(spec["containers"][0]["terminationMessagePath"], "/dev/foo");
}

TEST_F(RenderPodTemplatesTest, FlyteExample2RuntimeAndCompileTimeTemplates) {
  const std::string runtime = WriteTemplate("runtime", R"yaml(
apiVersion: v1
kind: PodTemplate
metadata: {name: flyte-template, namespace: flytesnacks-development}
template:
  metadata:
    annotations: {annotation_1: initial-value, bar: initial-value}
  spec:
    containers:
    - name: default
      image: docker.io/rwgrim/docker-noop
      terminationMessagePath: /dev/foo
)yaml");
  WriteService(R"yaml(  image: a.b.c/image:v1
  pod_template:
    metadata:
      labels: {label_1: value-1, label_2: value-2}
      annotations: {annotation_1: value-1, annotation_2: value-2}
    spec:
      containers:
      - name: primary
        env: [{name: FROM_PRIMARY, value: "1"}]
)yaml");
  const nlohmann::json pod = RenderPod({"--pod-template", runtime});
  EXPECT_EQ(Label(pod, "label_1"), "value-1");
  EXPECT_EQ(Label(pod, "label_2"), "value-2");
  EXPECT_EQ(Annotation(pod, "annotation_1"), "value-1");
  EXPECT_EQ(Annotation(pod, "annotation_2"), "value-2");
  EXPECT_EQ(Annotation(pod, "bar"), "initial-value");
  const nlohmann::json& containers = pod["spec"]["containers"];
  ASSERT_EQ(containers.size(), 1u) << containers.dump();
  EXPECT_EQ(containers[0]["image"], "a.b.c/image:v1");
  EXPECT_EQ(containers[0]["terminationMessagePath"], "/dev/foo");
  EXPECT_EQ(containers[0]["command"],
            nlohmann::json::array({"/tether/bin/tether-agent"}));

  // Flyte's primary also sets `command: cmd`; here the agent runs the code,
  // so that is refused, naming the field.
  WriteService(R"yaml(  image: a.b.c/image:v1
  pod_template:
    spec:
      containers:
      - {name: primary, command: [cmd], args: []}
)yaml");
  EXPECT_EQ(
      Run({"render", "-f", dir_ + "/service.yaml", "--pod-template", runtime}),
      kExitUsage);
  EXPECT_NE(err().find("spec.template.spec.containers[name=tether].command: "
                       "replaces the agent's command"),
            std::string::npos)
      << err();
}

TEST_F(RenderPodTemplatesTest, FlyteExample3NamedTemplateReplacesTheDefault) {
  // The runtime template of example 3, named by compute.pod_template_name;
  // the cluster default beside it is replaced, as in Flyte.
  const std::string named = WriteTemplate("named", R"yaml(
apiVersion: v1
kind: PodTemplate
metadata: {name: flyte-template, namespace: flyte}
template:
  metadata:
    labels: {label_1: value-runtime, label_2: value-runtime,
             label_3: value-runtime}
    annotations: {foo: value-runtime, bar: value-runtime}
  spec:
    containers:
    - name: default
      image: docker.io/rwgrim/docker-noop
      terminationMessagePath: /dev/foo
    hostNetwork: false
)yaml");
  const std::string cluster_default = WriteTemplate("default", R"yaml(
apiVersion: v1
kind: PodTemplate
metadata: {name: tether-default}
template:
  metadata:
    labels: {from-default: "yes"}
)yaml");
  WriteService(R"yaml(  image: python:3.11-slim
  pod_template_name: flyte-template
  labels: {label_1: value-plugin}
  annotations: {annotation_1: value-plugin, baz: value-plugin}
  pod_template:
    metadata:
      labels: {label_1: value-compile, label_2: value-compile}
      annotations: {annotation_1: value-compile, annotation_2: value-compile}
    spec: {hostNetwork: true}
)yaml");
  const nlohmann::json pod =
      RenderPod({"--pod-template", cluster_default, "--pod-template", named});
  EXPECT_EQ(Label(pod, "label_1"), "value-compile");
  EXPECT_EQ(Label(pod, "label_2"), "value-compile");
  EXPECT_EQ(Label(pod, "label_3"), "value-runtime");
  EXPECT_EQ(Label(pod, "from-default"), nullptr);
  EXPECT_EQ(Annotation(pod, "annotation_1"), "value-compile");
  EXPECT_EQ(Annotation(pod, "annotation_2"), "value-compile");
  EXPECT_EQ(Annotation(pod, "foo"), "value-runtime");
  EXPECT_EQ(Annotation(pod, "bar"), "value-runtime");
  EXPECT_EQ(Annotation(pod, "baz"), "value-plugin");
  EXPECT_EQ(pod["spec"]["hostNetwork"], true);
  EXPECT_EQ(pod["spec"]["containers"][0]["terminationMessagePath"], "/dev/foo");
}

TEST_F(RenderPodTemplatesTest, TemplateFileErrors) {
  WriteService("  image: python:3.11-slim\n  pod_template_name: gpu\n");
  EXPECT_EQ(Run({"render", "-f", dir_ + "/service.yaml"}), kExitUsage);
  EXPECT_NE(err().find("compute.pod_template_name: names PodTemplate \"gpu\"; "
                       "pass it with --pod-template FILE"),
            std::string::npos)
      << err();
  const std::string a = WriteTemplate("a", kFlyteTemplate1);
  WriteService("  image: python:3.11-slim\n");
  EXPECT_EQ(Run({"render", "-f", dir_ + "/service.yaml", "--pod-template", a,
                 "--pod-template", a}),
            kExitUsage);
  EXPECT_NE(err().find("is already the cluster default"), std::string::npos)
      << err();
  const std::string bad = WriteTemplate("bad", "kind: Pod\n");
  EXPECT_EQ(
      Run({"render", "-f", dir_ + "/service.yaml", "--pod-template", bad}),
      kExitUsage);
  EXPECT_NE(
      err().find("--pod-template " + bad + ": kind: expected \"PodTemplate\""),
      std::string::npos)
      << err();
}

// ---- inject ----------------------------------------------------------------

class InjectTest : public CliTest {
 protected:
  void SetUp() override { reachable_ = false; }  // inject never dials
  std::string Write(const std::string& yaml) {
    const std::string path = TempDir() + "/manifest.yaml";
    EXPECT_TRUE(WriteFileAtomically(path, yaml).ok());
    return path;
  }
};

constexpr char kManifest[] = R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  selector: {matchLabels: {app: hello}}
  template:
    metadata:
      labels: {app: hello, tether.dev/inject: "true"}
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/hello:1.4
          command: [python, -m, hello.server]
          env: [{name: LOG_LEVEL, value: info}]
---
apiVersion: v1
kind: Service
metadata: {name: hello}
spec: {selector: {app: hello}, ports: [{port: 80}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          labels: {tether.dev/inject: "true"}
          annotations: {tether.dev/service: nightly, tether.dev/inject-mode: sidecar}
        spec:
          restartPolicy: OnFailure
          containers: [{name: job, image: ghcr.io/acme/etl:2}]
---
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec: {containers: [{name: c, image: busybox}]}
)";

TEST_F(InjectTest, InjectsThePodsThatAskAndLeavesTheRest) {
  const std::string file = Write(kManifest);
  ASSERT_EQ(Run({"inject", "-f", file, "-o", "json", "--agent-image",
                 "ghcr.io/tether/agent:1"}),
            kExitOk)
      << err();
  const nlohmann::json list = nlohmann::json::parse(out());
  ASSERT_EQ(list["items"].size(), 4u);
  const nlohmann::json& pod = list["items"][0]["spec"]["template"];
  EXPECT_EQ(pod["spec"]["containers"][0]["command"][0],
            "/tether/bin/tether-agent");
  EXPECT_EQ(pod["spec"]["containers"][0]["env"].back()["name"], "LOG_LEVEL");
  EXPECT_EQ(pod["spec"]["initContainers"][0]["image"],
            "ghcr.io/tether/agent:1");
  EXPECT_TRUE(pod["metadata"]["annotations"].contains("tether.dev/status"));
  EXPECT_EQ(list["items"][1]["spec"]["ports"][0]["port"], 80);
  const nlohmann::json& job =
      list["items"][2]["spec"]["jobTemplate"]["spec"]["template"]["spec"];
  EXPECT_EQ(job["initContainers"][0]["restartPolicy"], "Always");
  EXPECT_EQ(list["items"][3]["spec"]["containers"].size(), 1u);
  EXPECT_NE(err().find("Deployment/hello: injected (tether.dev/status "),
            std::string::npos)
      << err();
  EXPECT_NE(err().find("Pod/plain: not injected: not asked"), std::string::npos)
      << err();

  // What it printed is injected already: the same bytes again.
  ASSERT_EQ(Run({"inject", "-f", file}), kExitOk) << err();
  const std::string once = out();
  EXPECT_NE(once.find("kind: \"CronJob\""), std::string::npos) << once;
  ASSERT_EQ(Run({"inject", "-f", Write(once)}), kExitOk) << err();
  EXPECT_EQ(out(), once);
  EXPECT_NE(err().find("Deployment/hello: not injected: already injected"),
            std::string::npos)
      << err();
}

TEST_F(InjectTest, ClassicSidecarsCannotRunInAPodThatMustComplete) {
  EXPECT_EQ(Run({"inject", "-f", Write(kManifest), "--no-native-sidecars"}),
            kExitUsage);
  EXPECT_NE(err().find("error: CronJob/nightly: "
                       "spec.jobTemplate.spec.template.metadata.annotations[\""
                       "tether.dev/inject-mode\"]: sidecar mode in a pod with "
                       "restartPolicy OnFailure needs native sidecars"),
            std::string::npos)
      << err();
  EXPECT_EQ(out(), "");
}

TEST_F(InjectTest, InputErrors) {
  EXPECT_EQ(Run({"inject"}), kExitUsage);
  EXPECT_NE(err().find("missing --file"), std::string::npos) << err();
  EXPECT_EQ(Run({"inject", "-f", Write("kind: [")}), kExitUsage);
  EXPECT_NE(err().find("YAML syntax error at line 1"), std::string::npos)
      << err();
  EXPECT_EQ(Run({"inject", "-f",
                 Write("apiVersion: apps/v1\nkind: Deployment\n"
                       "metadata: {name: x}\n")}),
            kExitUsage);
  EXPECT_NE(err().find("Deployment/x: spec.template: required"),
            std::string::npos)
      << err();
}

}  // namespace
}  // namespace tether::cli
