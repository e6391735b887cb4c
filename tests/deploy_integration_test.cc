// End to end on the local backend: the real tetherd, agents and Python
// workers on loopback, driven through the public gRPC API.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/test_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sync/uploader.h"
#include "tests/service_test_util.h"
#include "tests/tetherd_process.h"
#include "tether/v1/agent.grpc.pb.h"

namespace tether::testing {
namespace {

using tether::v1::CallRequest;
using tether::v1::CallResponse;
using tether::v1::DeployEvent;
using tether::v1::ServiceSpec;

constexpr char kModule[] = R"py(
import os, time

def greet(name, punctuation="!"):
    return f"{os.environ.get('GREETING', 'Hello')}, {name}{punctuation}"

def fail(message):
    raise ValueError(message)

def echo_bytes(data):
    return data[::-1]

def chatty():
    print("hello from the worker")
    return 1

class Tools:
    def pid(self):
        return os.getpid()

    def slow(self, seconds, started=None):
        if started:
            open(started, "w").close()
        time.sleep(seconds)
        return "done"

class Counter:
    def __init__(self, start=0, step=1):
        self.value = start
        self.step = step

    def increment(self, by=None):
        self.value += self.step if by is None else by
        return self.value
)py";

class DeployIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override { StartTetherd({}); }

  void StartTetherd(std::vector<std::string> flags) {
    auto tetherd = TetherdProcess::Start(NewTempDir("state"), std::move(flags));
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = std::move(*tetherd);
    code_dir_ = NewTempDir("code");
    WriteTree(code_dir_, {{"app.py", kModule}});
  }

  std::string Upload() {
    auto uploaded =
        sync::UploadTree(tetherd_->stub(), code_dir_, sync::UploadOptions());
    EXPECT_TRUE(uploaded.ok()) << uploaded.status();
    return uploaded.ok() ? uploaded->result.revision() : "";
  }

  static ServiceSpec Spec(const std::string& name, const std::string& callable,
                          int replicas = 1) {
    ServiceSpec spec;
    spec.set_name(name);
    spec.mutable_compute()->set_replicas(replicas);
    (*spec.mutable_compute()->mutable_env())["GREETING"] = "Hi";
    spec.mutable_callable()->set_module("app");
    spec.mutable_callable()->set_name(callable);
    return spec;
  }

  // Deploys and returns the final status, collecting the event stages.
  grpc::Status Deploy(const ServiceSpec& spec, const std::string& revision,
                      std::vector<DeployEvent::Stage>* stages = nullptr) {
    std::vector<DeployEvent> events;
    grpc::Status status = tetherd_->Deploy(spec, revision, &events);
    for (const DeployEvent& event : events) {
      if (stages != nullptr) stages->push_back(event.stage());
    }
    return status;
  }

  // For ASSERT_TRUE: a failed deploy prints its status.
  ::testing::AssertionResult Deployed(const ServiceSpec& spec,
                                      const std::string& revision) {
    grpc::Status status = Deploy(spec, revision);
    if (status.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "deploy " << spec.name() << ": " << status.error_message();
  }

  grpc::Status Call(CallRequest request, CallResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    return tetherd_->stub().Call(&context, request, response);
  }

  static CallRequest JsonCall(const std::string& service,
                              const std::string& method,
                              const std::string& payload) {
    CallRequest request;
    request.set_service(service);
    request.set_method(method);
    request.set_payload(payload);
    return request;
  }

  // Runs /usr/bin/python3 -c `script` with `input` on stdin; its stdout.
  static std::string Python(const std::string& script,
                            const std::string& input) {
    const std::string in = NewTempDir("py") + "/in";
    WriteTree(in.substr(0, in.rfind('/')), {{"in", input}});
    const std::string command =
        absl::StrCat("/usr/bin/python3 -c \"", script, "\" < ", in);
    FILE* pipe = popen(command.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
    pclose(pipe);
    return out;
  }

  std::unique_ptr<TetherdProcess> tetherd_;
  std::string code_dir_;
};

TEST_F(DeployIntegrationTest, DeploysAndCallsAFunctionAndAClass) {
  const std::string revision = Upload();
  std::vector<DeployEvent::Stage> stages;
  grpc::Status status = Deploy(Spec("greet", "greet"), revision, &stages);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(stages.empty());
  EXPECT_EQ(stages.front(), DeployEvent::STAGE_ACCEPTED);
  EXPECT_EQ(stages.back(), DeployEvent::STAGE_READY);
  EXPECT_NE(std::find(stages.begin(), stages.end(),
                      DeployEvent::STAGE_REPLICA_LOADING),
            stages.end());

  CallResponse response;
  status = Call(
      JsonCall("greet", "", R"({"args":["Ada"],"kwargs":{"punctuation":"?"}})"),
      &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 1);
  EXPECT_EQ(response.results(0).payload(), R"("Hi, Ada?")");
  EXPECT_EQ(response.results(0).replica(), "greet-0");

  ServiceSpec counter = Spec("counter", "Counter");
  counter.mutable_callable()
      ->mutable_init_kwargs()
      ->mutable_fields()
      ->
      operator[]("start")
      .set_number_value(10);
  ASSERT_TRUE(Deployed(counter, revision));
  for (const char* expected : {"11", "13"}) {
    response.Clear();
    const std::string payload =
        std::string(expected) == "11" ? "" : R"({"kwargs":{"by":2}})";
    ASSERT_TRUE(
        Call(JsonCall("counter", "increment", payload), &response).ok());
    EXPECT_EQ(response.results(0).payload(), expected);
  }

  grpc::ClientContext context;
  tether::v1::ListServicesResponse list;
  ASSERT_TRUE(
      tetherd_->stub()
          .ListServices(&context, tether::v1::ListServicesRequest(), &list)
          .ok());
  ASSERT_EQ(list.services_size(), 2);
  EXPECT_EQ(list.services(0).name(), "counter");
  EXPECT_EQ(list.services(1).phase(), tether::v1::ServiceStatus::PHASE_READY);
}

TEST_F(DeployIntegrationTest, RemoteExceptionsComeBackTyped) {
  ASSERT_TRUE(Deployed(Spec("fail", "fail"), Upload()));
  CallResponse response;
  ASSERT_TRUE(
      Call(JsonCall("fail", "", R"({"args":["boom"]})"), &response).ok());
  const auto& error = response.results(0).error();
  EXPECT_EQ(error.type(), "ValueError");
  EXPECT_EQ(error.message(), "boom");
  EXPECT_TRUE(absl::StrContains(error.traceback(), "raise ValueError(message)"))
      << error.traceback();
}

TEST_F(DeployIntegrationTest, BadInputGetsPreciseStatusesAndChangesNothing) {
  const std::string revision = Upload();
  CallResponse response;
  EXPECT_EQ(Call(JsonCall("nope", "", ""), &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Deploy(Spec("Not_A_Name", "greet"), revision).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ServiceSpec negative = Spec("neg", "greet");
  negative.mutable_compute()->set_cpus("-1");
  grpc::Status status = Deploy(negative, revision);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "compute.cpus"))
      << status.error_message();

  status = Deploy(Spec("missing", "no_such_function"), revision);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "no_such_function"))
      << status.error_message();
  ServiceSpec no_module = Spec("nomodule", "greet");
  no_module.mutable_callable()->set_module("not_there");
  status = Deploy(no_module, revision);
  EXPECT_TRUE(
      absl::StrContains(status.error_message(), "No module named 'not_there'"))
      << status.error_message();

  ASSERT_TRUE(Deployed(Spec("greet", "greet"), revision));
  CallRequest pickled = JsonCall("greet", "", "x");
  pickled.set_codec(tether::v1::CODEC_PICKLE);
  EXPECT_EQ(Call(pickled, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  grpc::ClientContext context;
  tether::v1::ListServicesResponse list;
  ASSERT_TRUE(
      tetherd_->stub()
          .ListServices(&context, tether::v1::ListServicesRequest(), &list)
          .ok());
  // Invalid deploys left no record; failed imports did (to show why).
  std::vector<std::string> names;
  for (const auto& service : list.services()) names.push_back(service.name());
  EXPECT_EQ(names, (std::vector<std::string>{"greet", "missing", "nomodule"}));
}

TEST_F(DeployIntegrationTest, PayloadOverTheLimitIsResourceExhausted) {
  StartTetherd({"--max_payload_bytes=1024"});
  ASSERT_TRUE(Deployed(Spec("greet", "greet"), Upload()));
  CallResponse response;
  const std::string big =
      absl::StrCat(R"({"args":[")", std::string(2000, 'x'), R"("]})");
  EXPECT_EQ(Call(JsonCall("greet", "", big), &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(
      Call(JsonCall("greet", "", R"({"args":["ok"]})"), &response).ok());
}

TEST_F(DeployIntegrationTest, PickleWhenAllowedAndRawBytes) {
  ServiceSpec spec = Spec("bytes", "echo_bytes");
  spec.mutable_compute()->add_allowed_serialization(tether::v1::CODEC_RAW);
  spec.mutable_compute()->add_allowed_serialization(tether::v1::CODEC_PICKLE);
  ASSERT_TRUE(Deployed(spec, Upload()));
  CallResponse response;
  CallRequest raw = JsonCall("bytes", "", std::string("ab\0c", 4));
  raw.set_codec(tether::v1::CODEC_RAW);
  ASSERT_TRUE(Call(raw, &response).ok());
  EXPECT_EQ(response.results(0).payload(), std::string("c\0ba", 4));

  CallRequest pickle =
      JsonCall("bytes", "",
               Python("import pickle, sys; "
                      "sys.stdout.buffer.write(pickle.dumps(((b'xy',), {})))",
                      ""));
  pickle.set_codec(tether::v1::CODEC_PICKLE);
  response.Clear();
  ASSERT_TRUE(Call(pickle, &response).ok());
  ASSERT_TRUE(response.results(0).has_payload())
      << response.results(0).error().message();
  EXPECT_EQ(Python("import pickle, sys; "
                   "print(pickle.loads(sys.stdin.buffer.read()))",
                   response.results(0).payload()),
            "b'yx'\n");
}

TEST_F(DeployIntegrationTest, CapturedPrintsComeBackAsLogLines) {
  ASSERT_TRUE(Deployed(Spec("chatty", "chatty"), Upload()));
  CallResponse response;
  ASSERT_TRUE(Call(JsonCall("chatty", "", ""), &response).ok());
  ASSERT_GE(response.results(0).logs_size(), 1);
  EXPECT_EQ(response.results(0).logs(0).text(), "hello from the worker");
}

TEST_F(DeployIntegrationTest, AWorkerThatDiesFailsItsCallAndIsRestarted) {
  ASSERT_TRUE(Deployed(Spec("tools", "Tools"), Upload()));
  CallResponse response;
  ASSERT_TRUE(Call(JsonCall("tools", "pid", ""), &response).ok());
  const int worker_pid = std::stoi(response.results(0).payload());
  const std::string started = NewTempDir("slow") + "/started";
  grpc::Status slow_status;
  std::thread slow([&] {
    CallResponse slow_response;
    slow_status =
        Call(JsonCall("tools", "slow",
                      absl::StrCat(R"({"args":[30, ")", started, R"("]})")),
             &slow_response);
  });
  // The worker is inside the call once it has written `started`.
  ASSERT_TRUE(WaitFor([&] { return access(started.c_str(), F_OK) == 0; },
                      absl::Seconds(30)));
  ASSERT_EQ(kill(worker_pid, SIGKILL), 0);
  slow.join();
  EXPECT_EQ(slow_status.error_code(), grpc::StatusCode::ABORTED)
      << slow_status.error_message();
  // The worker is restarted and the next call works, in a new process.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  grpc::Status status;
  do {
    response.Clear();
    status = Call(JsonCall("tools", "pid", ""), &response);
  } while (!status.ok() && absl::Now() < deadline);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_NE(std::stoi(response.results(0).payload()), worker_pid);
}

TEST_F(DeployIntegrationTest, FanOutAndNamedReplica) {
  ASSERT_TRUE(Deployed(Spec("greet", "greet", 2), Upload()));
  CallRequest all = JsonCall("greet", "", R"({"args":["all"]})");
  all.set_target(CallRequest::TARGET_ALL);
  CallResponse response;
  ASSERT_TRUE(Call(all, &response).ok());
  ASSERT_EQ(response.results_size(), 2);
  EXPECT_EQ(response.results(0).replica(), "greet-0");
  EXPECT_EQ(response.results(1).replica(), "greet-1");

  CallRequest one = JsonCall("greet", "", R"({"args":["one"]})");
  one.set_target(CallRequest::TARGET_REPLICA);
  one.set_replica("greet-1");
  response.Clear();
  ASSERT_TRUE(Call(one, &response).ok());
  EXPECT_EQ(response.results(0).replica(), "greet-1");
  one.set_replica("greet-9");
  EXPECT_EQ(Call(one, &response).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(DeployIntegrationTest, DirectCallsToAnAgentNeedTheToken) {
  ASSERT_TRUE(Deployed(Spec("greet", "greet"), Upload()));
  grpc::ClientContext get_context;
  tether::v1::GetServiceRequest get;
  get.set_name("greet");
  tether::v1::ServiceStatus service;
  ASSERT_TRUE(tetherd_->stub().GetService(&get_context, get, &service).ok());
  ASSERT_EQ(service.replicas_size(), 1);
  auto agent = tether::v1::Agent::NewStub(grpc::CreateChannel(
      service.replicas(0).address(), grpc::InsecureChannelCredentials()));
  tether::v1::InvokeRequest invoke;
  invoke.set_payload(R"({"args":["direct"]})");
  tether::v1::InvokeResponse result;
  {
    grpc::ClientContext context;
    EXPECT_EQ(agent->Invoke(&context, invoke, &result).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  grpc::ClientContext context;
  // Not in the listing: the token comes with the endpoints.
  EXPECT_TRUE(service.token().empty());
  context.AddMetadata("authorization",
                      "Bearer " + tetherd_->ServiceToken(service.name()));
  ASSERT_TRUE(agent->Invoke(&context, invoke, &result).ok());
  EXPECT_EQ(result.result().payload(), R"("Hi, direct!")");
}

TEST_F(DeployIntegrationTest, RedeployServesTheNewCode) {
  ASSERT_TRUE(Deployed(Spec("greet", "greet"), Upload()));
  WriteTree(code_dir_, {{"app.py", absl::StrCat(kModule, R"py(
def greet(name, punctuation="!"):
    return "v2 " + name
)py")}});
  ASSERT_TRUE(Deployed(Spec("greet", "greet"), Upload()));
  CallResponse response;
  ASSERT_TRUE(Call(JsonCall("greet", "", R"({"args":["x"]})"), &response).ok());
  EXPECT_EQ(response.results(0).payload(), R"("v2 x")");
}

// Every process under `pid` (children, theirs...), from /proc/*/stat.
std::vector<pid_t> Descendants(pid_t pid) {
  std::map<pid_t, std::vector<pid_t>> children;
  absl::StatusOr<std::vector<std::string>> entries = ListDir("/proc");
  for (const std::string& entry :
       entries.value_or(std::vector<std::string>())) {
    pid_t child = 0;
    if (!absl::SimpleAtoi(entry, &child)) continue;
    absl::StatusOr<std::string> stat =
        ReadFile(absl::StrCat("/proc/", entry, "/stat"));
    if (!stat.ok()) continue;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    std::vector<absl::string_view> fields = absl::StrSplit(
        absl::string_view(*stat).substr(stat->rfind(')') + 2), ' ');
    pid_t parent = 0;
    if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &parent)) {
      children[parent].push_back(child);
    }
  }
  std::vector<pid_t> found;
  std::vector<pid_t> parents = {pid};
  while (!parents.empty()) {
    const pid_t parent = parents.back();
    parents.pop_back();
    for (pid_t child : children[parent]) {
      found.push_back(child);
      parents.push_back(child);
    }
  }
  return found;
}

// No such process, or only its zombie.
bool Gone(pid_t pid) {
  absl::StatusOr<std::string> stat =
      ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return true;
  const size_t paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() &&
         (*stat)[paren + 2] == 'Z';
}

TEST_F(DeployIntegrationTest, AKilledTetherdTakesAnAgentStuckInAnImportAlong) {
  WriteTree(code_dir_, {{"app.py",
                         "import time\n"
                         "time.sleep(3600)\n"
                         "def greet(name):\n"
                         "    return name\n"}});
  const std::string revision = Upload();
  std::thread deploy([&] { Deploy(Spec("stuck", "greet"), revision); });
  // The replica's worker is importing: the agent has processes under it.
  pid_t agent = -1;
  const bool importing = WaitFor([&] {
    agent = AgentPid(*tetherd_, "stuck-0");
    return agent > 0 && !Descendants(agent).empty();
  });
  absl::SleepFor(absl::Milliseconds(500));
  std::vector<pid_t> processes = Descendants(agent);
  processes.push_back(agent);

  tetherd_->Kill();
  deploy.join();
  ASSERT_TRUE(importing);
  // The agent's shutdown is bounded (--shutdown_grace, 10 s), and its
  // workers die with it.
  EXPECT_TRUE(WaitFor(
      [&] { return std::all_of(processes.begin(), processes.end(), Gone); },
      absl::Seconds(30)));
}

TEST_F(DeployIntegrationTest, ARestartedTetherdBringsServicesBack) {
  ASSERT_TRUE(Deployed(Spec("greet", "greet"), Upload()));
  tetherd_->Kill();
  ASSERT_TRUE(tetherd_->Restart().ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  grpc::Status status;
  CallResponse response;
  do {
    response.Clear();
    status = Call(JsonCall("greet", "", R"({"args":["again"]})"), &response);
    if (!status.ok()) absl::SleepFor(absl::Milliseconds(50));
  } while (!status.ok() && absl::Now() < deadline);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.results(0).payload(), R"("Hi, again!")");
}

}  // namespace
}  // namespace tether::testing
