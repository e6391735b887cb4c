// A real Prometheus server (Debian's /usr/bin/prometheus) scrapes tetherd's
// and an agent's /metrics: tetherd in-process with its HTTP server and a
// health port for each local agent, one call, and Prometheus's query API
// shows the call on both sides with both targets up. Skips without
// /usr/bin/prometheus (tools/setup installs it).

#include <signal.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/child_process.h"
#include "common/files.h"
#include "common/http_test_client.h"
#include "common/test_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/in_process_tetherd.h"
#include "tests/service_test_util.h"

namespace tether::testing {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";

// The port the agent of `replica` serves HTTP on, from the line it logs
// (LocalBackend::Options::agent_health_listen_address); 0 until it has.
int AgentHealthPort(const TetherdClient& tetherd, const std::string& replica) {
  const std::string log =
      ReadFile(ReplicaDir(tetherd, replica) + "/agent.log").value_or("");
  const std::string kLine = "health endpoint on port ";
  const size_t at = log.rfind(kLine);
  if (at == std::string::npos) return 0;
  const std::string rest = log.substr(at + kLine.size());
  int port = 0;
  if (!absl::SimpleAtoi(rest.substr(0, rest.find('\n')), &port)) return 0;
  return port;
}

// GET `path` from 127.0.0.1:`port` (Connection: close, so the server ends
// the reply) and returns the JSON object in its body; null when there is
// none.
nlohmann::json GetJson(int port, const std::string& path) {
  const std::string reply =
      HttpExchange(port, absl::StrCat("GET ", path,
                                      " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      "Connection: close\r\n\r\n"));
  // Between the outer braces: also right if the body came chunked.
  const std::string body = HttpBody(reply);
  const size_t begin = body.find('{');
  const size_t end = body.rfind('}');
  if (begin == std::string::npos || end == std::string::npos) return nullptr;
  return nlohmann::json::parse(body.substr(begin, end - begin + 1), nullptr,
                               /*allow_exceptions=*/false);
}

// Value of each series of an instant query, keyed by its `job` label; empty
// while Prometheus has no answer (not up yet, or nothing scraped).
std::map<std::string, double> QueryByJob(int port, const std::string& query) {
  std::map<std::string, double> values;
  const nlohmann::json answer =
      GetJson(port, absl::StrCat("/api/v1/query?query=", query));
  if (!answer.is_object() || answer.value("status", "") != "success") {
    return values;
  }
  for (const nlohmann::json& series : answer["data"]["result"]) {
    double value = 0;
    // "value": [<unix time>, "<value as a string>"]
    if (!absl::SimpleAtod(series["value"][1].get<std::string>(), &value)) {
      continue;
    }
    values[series["metric"].value("job", "")] = value;
  }
  return values;
}

// Whether `values` has `job` at `value`.
bool JobAt(const std::map<std::string, double>& values, const std::string& job,
           double value) {
  const auto it = values.find(job);
  return it != values.end() && it->second == value;
}

TEST(PrometheusIntegrationTest, ScrapesTetherdAndAnAgent) {
  if (access(kPrometheus, X_OK) != 0) {
    GTEST_SKIP() << "skipped: " << kPrometheus
                 << " is missing (tools/setup installs Debian's prometheus)";
  }
  controlplane::Tetherd::Options options;
  options.http_listen_address = "127.0.0.1:0";
  options.agent_health_listen_address = "127.0.0.1:0";
  auto tetherd = InProcessTetherd::Start(NewTempDir("state"), options);
  ASSERT_TRUE(tetherd.ok()) << tetherd.status();
  const std::string code = NewTempDir("code");
  WriteTree(code, {{"app.py", "def greet(name):\n    return 'hi ' + name\n"}});
  const grpc::Status deployed = (*tetherd)->Deploy(PythonSpec("greet", "greet"),
                                                   UploadDir(**tetherd, code));
  ASSERT_TRUE(deployed.ok()) << deployed.error_message();
  ASSERT_EQ(CallService(**tetherd, "greet", R"({"args": ["Ada"]})"),
            "\"hi Ada\"");
  int agent_port = 0;
  ASSERT_TRUE(WaitFor([&] {
    agent_port = AgentHealthPort(**tetherd, "greet-0");
    return agent_port != 0;
  }));

  const std::string dir = NewTempDir("prometheus");
  const std::string config = absl::StrCat(
      "global:\n"
      "  scrape_interval: 1s\n"
      "  evaluation_interval: 1s\n"
      "scrape_configs:\n"
      "  - job_name: tetherd\n"
      "    static_configs:\n"
      "      - targets: ['127.0.0.1:",
      (*tetherd)->tetherd().http_port(),
      "']\n"
      "  - job_name: agent\n"
      "    static_configs:\n"
      "      - targets: ['127.0.0.1:",
      agent_port, "']\n");
  ASSERT_TRUE(WriteFileAtomically(dir + "/prometheus.yml", config).ok());
  // Prometheus cannot listen on port 0.
  const int port = UnusedLoopbackPort();
  ASSERT_NE(port, 0);
  ChildSpec spec;
  spec.executable = kPrometheus;
  spec.argv = {kPrometheus,
               absl::StrCat("--config.file=", dir, "/prometheus.yml"),
               absl::StrCat("--storage.tsdb.path=", dir, "/data"),
               absl::StrCat("--web.listen-address=127.0.0.1:", port)};
  spec.socket_type = 0;
  spec.output_path = dir + "/prometheus.log";
  absl::StatusOr<SpawnedChild> prometheus = SpawnChild(spec);
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  const auto log = [&] {
    return absl::StrCat("prometheus log:\n",
                        ReadFile(spec.output_path).value_or(""));
  };

  // Both scraped, and tetherd's and the agent's count of the one call.
  EXPECT_TRUE(WaitFor([&] {
    const auto up = QueryByJob(port, "up");
    return up.size() == 2 && JobAt(up, "tetherd", 1) && JobAt(up, "agent", 1);
  })) << log();
  EXPECT_TRUE(WaitFor([&] {
    return JobAt(QueryByJob(port, "tether_calls_total"), "tetherd", 1);
  })) << log();
  EXPECT_TRUE(WaitFor([&] {
    return JobAt(QueryByJob(port, "tether_agent_calls_total"), "agent", 1);
  })) << log();

  SignalGroup(prometheus->pid, SIGTERM);
  EXPECT_EQ(WaitChild(prometheus->pid), ProcessExit{}) << log();
  if (prometheus->pidfd >= 0) close(prometheus->pidfd);
}

}  // namespace
}  // namespace tether::testing
