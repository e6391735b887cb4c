#include "tools/cli/format.h"

#include <string>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace tether::cli {
namespace {

using tether::v1::DeployEvent;
using tether::v1::ServiceStatus;

const absl::Time kNow =
    absl::FromUnixSeconds(1704164645);  // 2024-01-02 03:04:05

template <typename T>
T Parse(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message))
      << text;
  return message;
}

TEST(FormatTest, Age) {
  EXPECT_EQ(FormatAge(absl::Seconds(0)), "0s");
  EXPECT_EQ(FormatAge(absl::Seconds(119)), "119s");
  EXPECT_EQ(FormatAge(absl::Seconds(120)), "2m");
  EXPECT_EQ(FormatAge(absl::Minutes(119)), "119m");
  EXPECT_EQ(FormatAge(absl::Hours(2)), "2h");
  EXPECT_EQ(FormatAge(absl::Hours(47)), "47h");
  EXPECT_EQ(FormatAge(absl::Hours(48)), "2d");
  EXPECT_EQ(FormatAge(absl::Seconds(-5)), "-");
}

TEST(FormatTest, SecondsAndBytes) {
  EXPECT_EQ(FormatSeconds(absl::Milliseconds(1234)), "1.23s");
  EXPECT_EQ(FormatSeconds(absl::ZeroDuration()), "0.00s");
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(3 << 20), "3.0 MiB");
  EXPECT_EQ(FormatBytes(uint64_t{5} << 40), "5.0 TiB");
}

TEST(FormatTest, RenderTableAlignsAndTrims) {
  EXPECT_EQ(RenderTable({{"NAME", "PHASE", "MESSAGE"},
                         {"a", "Ready", ""},
                         {"longer-name", "Failed", "boom"}}),
            "NAME          PHASE    MESSAGE\n"
            "a             Ready\n"
            "longer-name   Failed   boom\n");
  EXPECT_EQ(RenderTable({}), "");
}

TEST(FormatTest, PhaseAndStageNames) {
  EXPECT_EQ(ServicePhaseName(ServiceStatus::PHASE_READY), "Ready");
  EXPECT_EQ(ServicePhaseName(ServiceStatus::PHASE_DEPLOYING), "Deploying");
  EXPECT_EQ(ServicePhaseName(ServiceStatus::PHASE_FAILED), "Failed");
  EXPECT_EQ(ServicePhaseName(ServiceStatus::PHASE_DEGRADED), "Degraded");
  EXPECT_EQ(ServicePhaseName(ServiceStatus::PHASE_IDLE), "Idle");
  EXPECT_EQ(ServicePhaseName(ServiceStatus::PHASE_UNSPECIFIED), "Unknown");
  EXPECT_EQ(ReplicaPhaseName(tether::v1::ReplicaStatus::PHASE_LOST), "Lost");
  EXPECT_EQ(ReplicaPhaseName(tether::v1::ReplicaStatus::PHASE_STARTING),
            "Starting");
  EXPECT_EQ(StageName(DeployEvent::STAGE_REPLICA_PENDING), "pending");
  EXPECT_EQ(StageName(DeployEvent::STAGE_REPLICA_LOADING), "loading");
  EXPECT_EQ(StageName(DeployEvent::STAGE_REPLICA_READY), "ready");
  EXPECT_EQ(StageName(DeployEvent::STAGE_READY), "ready");
  EXPECT_EQ(StageName(DeployEvent::STAGE_UNSPECIFIED), "event");
}

TEST(FormatTest, DeployEventLines) {
  EXPECT_EQ(FormatDeployEvent(Parse<DeployEvent>(R"pb(
                                stage: STAGE_REPLICA_LOADING
                                replica: "hello-0"
                                message: "importing hello.greet"
                              )pb"),
                              absl::Milliseconds(120), 7),
            "  [0.12s] hello-0  loading   importing hello.greet");
  EXPECT_EQ(
      FormatDeployEvent(Parse<DeployEvent>(R"pb(stage: STAGE_ACCEPTED)pb"),
                        absl::Milliseconds(5), 7),
      "  [0.01s]          accepted");
  EXPECT_EQ(FormatDeployEvent(Parse<DeployEvent>(R"pb(
                                stage: STAGE_REPLICA_READY
                                replica: "hello-10"
                              )pb"),
                              absl::Seconds(2), 7),
            "  [2.00s] hello-10  ready");
}

TEST(FormatTest, ReplicaCountUsesTheDefaultOfOne) {
  EXPECT_EQ(ReplicaCount(Parse<ServiceStatus>("")), "0/1");
  EXPECT_EQ(ReplicaCount(Parse<ServiceStatus>(R"pb(
              spec { compute { replicas: 3 } }
              replicas { phase: PHASE_READY }
              replicas { phase: PHASE_LOADING }
              replicas { phase: PHASE_READY }
            )pb")),
            "2/3");
}

TEST(FormatTest, ServiceList) {
  auto list = Parse<tether::v1::ListServicesResponse>(R"pb(
    services {
      name: "hello"
      phase: PHASE_READY
      revision: "abc123def4567890"
      replicas { phase: PHASE_READY }
      created { seconds: 1704164585 }
    }
    services {
      name: "model-server"
      phase: PHASE_DEPLOYING
      spec {
        namespace: "team-a"
        compute { replicas: 2 }
      }
      created { seconds: 1703991845 }
    }
    services { name: "x" phase: PHASE_FAILED }
  )pb");
  EXPECT_EQ(FormatServiceList(list, kNow),
            "NAMESPACE   NAME           PHASE       REPLICAS   REVISION       "
            "ACTIVE   IN-FLIGHT   TTL   AGE\n"
            "-           hello          Ready       1/1        abc123def456   "
            "never    0           -     60s\n"
            "team-a      model-server   Deploying   0/2                       "
            "never    0           -     2d\n"
            "-           x              Failed      0/1                       "
            "never    0           -     -\n");
}

TEST(FormatTest, ServiceStatus) {
  auto status = Parse<ServiceStatus>(R"pb(
    name: "hello"
    phase: PHASE_DEGRADED
    message: "replica hello-1 lost\nsecond line\n"
    revision: "abc123def4567890"
    generation: 3
    spec {
      namespace: "team-a"
      compute { cpus: "2" memory: "4Gi" gpus: 1 replicas: 2 image: "py:3" }
      callable { module: "hello" name: "greet" }
    }
    replicas {
      name: "hello-0"
      phase: PHASE_READY
      revision: "abc123def4567890"
      address: "127.0.0.1:4000"
      python_version: "3.11.2"
    }
    replicas {
      name: "hello-1"
      phase: PHASE_LOST
      restarts: 2
      message: "exited with status 1\ntraceback..."
    }
    created { seconds: 1704164585 }
    updated { seconds: 1704164640 }
    token: "secret"
  )pb");
  EXPECT_EQ(FormatServiceStatus(status, kNow),
            "Name:       hello\n"
            "Namespace:  team-a\n"
            "Phase:      Degraded\n"
            "Message:    replica hello-1 lost\n"
            "            second line\n"
            "Revision:   abc123def456\n"
            "Generation: 3\n"
            "Replicas:   1/2 ready\n"
            "Activity:   last never, 0 calls in flight\n"
            "Callable:   python hello.greet\n"
            "Compute:    cpus 2, memory 4Gi, gpus 1, workers 1, image py:3\n"
            "Created:    2024-01-02 03:03:05 UTC (60s ago)\n"
            "Updated:    2024-01-02 03:04:00 UTC (5s ago)\n"
            "\n"
            "REPLICA   PHASE   REVISION       PYTHON   RESTARTS   ADDRESS   "
            "       MESSAGE\n"
            "hello-0   Ready   abc123def456   3.11.2   0          "
            "127.0.0.1:4000\n"
            "hello-1   Lost    -              -        2          -         "
            "       exited with status 1\n");
  // The token is a credential: not shown.
  EXPECT_EQ(FormatServiceStatus(status, kNow).find("secret"),
            std::string::npos);
}

TEST(FormatTest, ServiceStatusNative) {
  auto status = Parse<ServiceStatus>(R"pb(
    name: "echo"
    phase: PHASE_READY
    spec {
      compute { freeze: true workers: 4 }
      callable { runtime: RUNTIME_NATIVE module: "lib/libecho.so" }
    }
  )pb");
  EXPECT_EQ(FormatServiceStatus(status, kNow),
            "Name:       echo\n"
            "Namespace:  -\n"
            "Phase:      Ready\n"
            "Revision:   -\n"
            "Generation: 0\n"
            "Replicas:   0/1 ready\n"
            "Activity:   last never, 0 calls in flight\n"
            "Callable:   native lib/libecho.so\n"
            "Compute:    workers 4, frozen\n"
            "Created:    -\n"
            "Updated:    -\n");
}

TEST(FormatTest, UninjectedPodsWarnAndAreListed) {
  auto status = Parse<ServiceStatus>(R"pb(
    name: "hello"
    uninjected_pods {
      pod: "hello-6c9f7d-abcde"
      owner_kind: "ReplicaSet"
      owner_name: "hello-6c9f7d"
      service: "hello"
      since { seconds: 1704164585 }
    }
    uninjected_pods { pod: "solo" service: "hello" }
  )pb");
  EXPECT_EQ(FormatUninjectedPods(status, kNow),
            "\nWarning: 2 pod(s) labelled tether.dev/inject=true run without "
            "the agent (admitted while tether-injector was down?); recreate "
            "them while it serves:\n"
            "POD                  OWNER                     AGE\n"
            "hello-6c9f7d-abcde   ReplicaSet/hello-6c9f7d   60s\n"
            "solo                 -                         -\n");
  EXPECT_EQ(FormatUninjectedPods(ServiceStatus(), kNow), "");

  auto list = Parse<tether::v1::ListServicesResponse>(R"pb(
    services {
      name: "hello"
      uninjected_pods { pod: "a" service: "hello" }
    }
    uninjected_pods { pod: "b" service: "web" }
    uninjected_pods { pod: "c" service: "web" }
    uninjected_pods { pod: "d" }
  )pb");
  EXPECT_EQ(FormatUninjectedNote(list),
            "Warning: 4 pod(s) labelled tether.dev/inject=true run without "
            "the agent (admitted while tether-injector was down?): "
            "(no service) 1, hello 1, web 2; `tether status SERVICE` lists "
            "them\n");
  EXPECT_EQ(FormatUninjectedNote(tether::v1::ListServicesResponse()), "");
}

// kNow is 1704164645; the stamps below are relative to it.
TEST(FormatTest, ServiceListShowsActivityAndTheTtl) {
  auto list = Parse<tether::v1::ListServicesResponse>(R"pb(
    services {
      name: "busy"
      phase: PHASE_READY
      spec { compute { inactivity_ttl: "30m" } }
      activity {
        last_activity { seconds: 1704164633 }
        calls_in_flight: 2
      }
    }
    services {
      name: "hello"
      phase: PHASE_READY
      spec { compute { inactivity_ttl: "10m" } }
      activity {
        last_activity { seconds: 1704164465 }
        idle_action_at { seconds: 1704164885 }
      }
    }
    services {
      name: "overdue"
      phase: PHASE_READY
      activity {
        last_activity { seconds: 1704163445 }
        idle_action_at { seconds: 1704164644 }
      }
    }
    services {
      name: "parked"
      phase: PHASE_IDLE
      scale: 0
      spec { compute { replicas: 2 inactivity_ttl: "1h" } }
      activity { last_activity { seconds: 1704157445 } }
    }
    services {
      name: "temp"
      phase: PHASE_READY
      spec { compute { inactivity_ttl: "5m" ttl_action: TTL_ACTION_DELETE } }
      activity {
        last_activity { seconds: 1704164605 }
        idle_action_at { seconds: 1704164885 }
      }
    }
  )pb");
  EXPECT_EQ(FormatServiceList(list, kNow),
            "NAMESPACE   NAME      PHASE   REPLICAS   REVISION   ACTIVE    "
            "IN-FLIGHT   TTL             AGE\n"
            "-           busy      Ready   0/1                   12s ago   "
            "2           -               -\n"
            "-           hello     Ready   0/1                   3m ago    "
            "0           in 4m           -\n"
            "-           overdue   Ready   0/1                   20m ago   "
            "0           now             -\n"
            "-           parked    Idle    0/0                   2h ago    "
            "0           idle            -\n"
            "-           temp      Ready   0/1                   40s ago   "
            "0           deletes in 4m   -\n");
}

TEST(FormatTest, ServiceStatusShowsScaleActivityAndTheTtl) {
  auto status = Parse<ServiceStatus>(R"pb(
    name: "hello"
    phase: PHASE_READY
    scale: 3
    spec {
      compute { replicas: 1 inactivity_ttl: "10m" }
      callable { module: "hello" name: "greet" }
    }
    activity {
      last_activity { seconds: 1704164633 }
      calls_in_flight: 1
      idle_action_at { seconds: 1704165233 }
    }
  )pb");
  EXPECT_EQ(FormatServiceStatus(status, kNow),
            "Name:       hello\n"
            "Namespace:  -\n"
            "Phase:      Ready\n"
            "Revision:   -\n"
            "Generation: 0\n"
            "Replicas:   0/3 ready\n"
            "Scale:      3 (set by tether scale; the spec asks for 1)\n"
            "Activity:   last 12s ago, 1 call in flight\n"
            "Idle TTL:   10m, then scales to zero; in 9m (2024-01-02 03:13:53 "
            "UTC)\n"
            "Callable:   python hello.greet\n"
            "Compute:    workers 1\n"
            "Created:    -\n"
            "Updated:    -\n");

  status = Parse<ServiceStatus>(R"pb(
    name: "hello"
    phase: PHASE_IDLE
    scale: 0
    spec {
      compute { inactivity_ttl: "10m" ttl_action: TTL_ACTION_SCALE_TO_ZERO }
    }
    activity { last_activity { seconds: 1704157445 } }
  )pb");
  const std::string parked = FormatServiceStatus(status, kNow);
  EXPECT_NE(parked.find("Phase:      Idle\n"), std::string::npos) << parked;
  EXPECT_NE(parked.find("Replicas:   0/0 ready\n"
                        "Scale:      0 (parked; the next call wakes it)\n"
                        "Activity:   last 2h ago, 0 calls in flight\n"
                        "Idle TTL:   10m, then scales to zero; parked\n"),
            std::string::npos)
      << parked;

  status = Parse<ServiceStatus>(R"pb(
    name: "temp"
    phase: PHASE_READY
    spec { compute { inactivity_ttl: "5m" ttl_action: TTL_ACTION_DELETE } }
    activity {
      last_activity { seconds: 1704164645 }
      calls_in_flight: 4
    }
  )pb");
  const std::string busy = FormatServiceStatus(status, kNow);
  EXPECT_EQ(busy.find("Scale:"), std::string::npos) << busy;
  EXPECT_NE(busy.find("Activity:   last 0s ago, 4 calls in flight\n"
                      "Idle TTL:   5m, then deletes it; waits while calls "
                      "run\n"),
            std::string::npos)
      << busy;
}

TEST(FormatTest, RemoteErrors) {
  tether::v1::RemoteError error;
  error.set_type("ValueError");
  error.set_message("bad input");
  EXPECT_EQ(FormatRemoteError(error), "ValueError: bad input\n");
  error.set_traceback(
      "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
      "ValueError: bad input\n");
  EXPECT_EQ(FormatRemoteError(error),
            "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
            "ValueError: bad input\n");
  error.set_traceback("Traceback (most recent call last):\n  File \"x.py\"");
  EXPECT_EQ(FormatRemoteError(error),
            "Traceback (most recent call last):\n  File \"x.py\"\n"
            "ValueError: bad input\n");
  tether::v1::RemoteError bare;
  EXPECT_EQ(FormatRemoteError(bare), "Exception\n");
  bare.set_type("KeyboardInterrupt");
  EXPECT_EQ(FormatRemoteError(bare), "KeyboardInterrupt\n");
}

TEST(PrettyJsonTest, ShortContainersStayOnOneLine) {
  EXPECT_EQ(PrettyJson(R"({"greeting":"hello","n":[1,2,3]})"),
            R"({"greeting": "hello", "n": [1, 2, 3]})");
  EXPECT_EQ(PrettyJson("  [ ]  "), "[]");
  EXPECT_EQ(PrettyJson("{}"), "{}");
  EXPECT_EQ(PrettyJson("\"text\""), "\"text\"");
  EXPECT_EQ(PrettyJson("42"), "42");
  EXPECT_EQ(PrettyJson("null"), "null");
}

TEST(PrettyJsonTest, LongContainersAreIndented) {
  const std::string long_value(70, 'x');
  EXPECT_EQ(PrettyJson(R"({"a": ")" + long_value + R"(", "b": {"c": [1, 2]}})"),
            "{\n"
            "  \"a\": \"" +
                long_value +
                "\",\n"
                "  \"b\": {\"c\": [1, 2]}\n"
                "}");
}

TEST(PrettyJsonTest, StringsAndNumbersAreVerbatim) {
  EXPECT_EQ(
      PrettyJson(R"({"s":"a, b: {c} [d] \" \\","n":12345678901234567890})"),
      R"({"s": "a, b: {c} [d] \" \\", "n": 12345678901234567890})");
  EXPECT_EQ(PrettyJson("[1.50, -0e1, true]"), "[1.50, -0e1, true]");
}

TEST(PrettyJsonTest, InvalidJsonIsReturnedUnchanged) {
  EXPECT_EQ(PrettyJson("{\"a\": [1, 2}"), "{\"a\": [1, 2}");
  EXPECT_EQ(PrettyJson("[1, 2"), "[1, 2");
  EXPECT_EQ(PrettyJson("\"unterminated"), "\"unterminated");
  EXPECT_EQ(PrettyJson("]"), "]");
  EXPECT_EQ(PrettyJson(""), "");
  EXPECT_EQ(PrettyJson("not json at all"), "not json at all");
  EXPECT_EQ(PrettyJson("[1 2]"), "[1 2]");
}

TEST(ToJsonTest, PrettyAndCompact) {
  auto event = Parse<DeployEvent>(R"pb(
    stage: STAGE_READY
    message: "done"
    time { seconds: 1704164645 }
  )pb");
  EXPECT_EQ(
      *ToJson(event, /*pretty=*/false),
      R"({"stage":"STAGE_READY","message":"done","time":"2024-01-02T03:04:05Z"})");
  EXPECT_EQ(
      *ToJson(event, /*pretty=*/true),
      R"({"stage": "STAGE_READY", "message": "done", "time": "2024-01-02T03:04:05Z"})");
}

}  // namespace
}  // namespace tether::cli
