// The real tether-injector binary over HTTPS on loopback: AdmissionReviews
// answered as the goldens say, probes, metrics, the 4xx answers, and a
// rotated certificate picked up without a restart.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/child_process.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "common/test_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tether::testing {
namespace {

using json = nlohmann::json;

constexpr char kCases[] = "sidecar/testdata/admission";

// Runs `command` with /bin/sh; returns its stdout, and fails the test when
// it does not exit 0.
std::string Shell(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << command;
  if (pipe == nullptr) return "";
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    out.append(buffer, n);
  const int status = pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command << "\n"
                                                             << out;
  return out;
}

struct Reply {
  int status = 0;
  std::string body;
};

class InjectorIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/injector_test.XXXXXX";
    const char* base = getenv("TEST_TMPDIR");
    std::string dir_pattern =
        base != nullptr ? absl::StrCat(base, "/injector.XXXXXX") : pattern;
    ASSERT_NE(mkdtemp(dir_pattern.data()), nullptr);
    dir_ = dir_pattern;
    // A CA, and the first serving pair for 127.0.0.1 signed by it.
    Shell(absl::StrCat("cd ", dir_,
                       " && openssl req -x509 -newkey ec -pkeyopt "
                       "ec_paramgen_curve:prime256v1 -nodes -keyout ca.key "
                       "-out ca.pem -days 1 -subj /CN=test-ca 2>&1 && echo "
                       "subjectAltName=IP:127.0.0.1 > san.cnf"));
    IssuePair("1001", "cert1.pem", "key1.pem");
    Shell(absl::StrCat("cd ", dir_,
                       " && cp cert1.pem tls.crt && cp key1.pem tls.key"));
    StartInjector();
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      EXPECT_EQ(WaitChild(pid_), ProcessExit{});
    }
  }

  // A key and a certificate with `serial` (hex) for 127.0.0.1.
  void IssuePair(const std::string& serial, const std::string& cert,
                 const std::string& key) {
    Shell(absl::StrCat(
        "cd ", dir_,
        " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
        "-nodes -keyout ",
        key, " -out csr.pem -subj /CN=127.0.0.1 2>&1",
        " && openssl x509 -req -in csr.pem -CA ca.pem -CAkey ca.key "
        "-set_serial 0x",
        serial, " -days 1 -extfile san.cnf -out ", cert, " 2>&1"));
  }

  void StartInjector() {
    absl::StatusOr<std::string> binary =
        FindDataFile("sidecar/tether-injector");
    ASSERT_TRUE(binary.ok()) << binary.status();
    const std::string port_file = dir_ + "/ports";
    ChildSpec spec;
    spec.executable = *binary;
    spec.argv = {*binary, "--listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
                 absl::StrCat("--tls_cert_file=", dir_, "/tls.crt"),
                 absl::StrCat("--tls_key_file=", dir_, "/tls.key"),
                 "--tls_poll_interval=20ms",
                 // The goldens' InjectorConfig.
                 "--agent_image=ghcr.io/tether/agent:1",
                 "--tetherd_address=tetherd.tether-system.svc:7700",
                 absl::StrCat("--port_file=", port_file)};
    spec.socket_type = 0;
    spec.output_path = log_ = dir_ + "/injector.log";
    absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
    ASSERT_TRUE(child.ok()) << child.status();
    pid_ = child->pid;
    std::string ports;
    ASSERT_TRUE(WaitFor([&] {
      absl::StatusOr<std::string> read = ReadFile(port_file);
      if (read.ok()) ports = *read;
      return read.ok();
    })) << Log();
    std::vector<std::string> parts =
        absl::StrSplit(absl::StripAsciiWhitespace(ports), ' ');
    ASSERT_EQ(parts.size(), 2u) << ports;
    ASSERT_TRUE(absl::SimpleAtoi(parts[0], &https_port_));
    ASSERT_TRUE(absl::SimpleAtoi(parts[1], &http_port_));
  }

  std::string Log() const {
    absl::StatusOr<std::string> log = ReadFile(log_);
    return log.ok() ? *log : log.status().ToString();
  }

  // curl with `args`, the CA trusted; the reply's status and body.
  Reply Curl(const std::string& args) {
    const std::string out = Shell(absl::StrCat(
        "curl -sS --cacert ", dir_, "/ca.pem -w '\\n%{http_code}' ", args));
    Reply reply;
    const size_t newline = out.rfind('\n');
    EXPECT_NE(newline, std::string::npos) << out;
    if (newline == std::string::npos) return reply;
    EXPECT_TRUE(absl::SimpleAtoi(out.substr(newline + 1), &reply.status))
        << out;
    reply.body = out.substr(0, newline);
    return reply;
  }

  std::string Url(const std::string& path) const {
    return absl::StrCat("https://127.0.0.1:", https_port_, path);
  }

  // POSTs the review of the golden case `name`; checks the exact response.
  void ExpectGolden(const std::string& name) {
    absl::StatusOr<std::string> review =
        FindDataFile(absl::StrCat(kCases, "/", name, "/review.json"));
    ASSERT_TRUE(review.ok()) << review.status();
    absl::StatusOr<std::string> golden =
        FindDataFile(absl::StrCat(kCases, "/", name, "/response.json"));
    ASSERT_TRUE(golden.ok()) << golden.status();
    absl::StatusOr<std::string> expected = ReadFile(*golden);
    ASSERT_TRUE(expected.ok()) << expected.status();
    const std::string out = Shell(absl::StrCat(
        "curl -sS --cacert ", dir_,
        "/ca.pem -H 'Content-Type: application/json'", " --data-binary @",
        *review, " -w '\\n%{http_code} %{content_type}' ", Url("/mutate")));
    const size_t newline = out.rfind('\n');
    ASSERT_NE(newline, std::string::npos) << out;
    EXPECT_EQ(out.substr(newline + 1), "200 application/json") << name;
    EXPECT_EQ(json::parse(out.substr(0, newline), nullptr, false),
              json::parse(*expected))
        << name;
  }

  // The serial (hex) of the certificate a new TLS connection gets.
  std::string ServedSerial() {
    return std::string(absl::StripAsciiWhitespace(Shell(absl::StrCat(
        "openssl s_client -connect 127.0.0.1:", https_port_, " -CAfile ", dir_,
        "/ca.pem -verify_return_error </dev/null 2>/dev/null",
        " | openssl x509 -noout -serial"))));
  }

  std::string dir_;
  std::string log_;
  pid_t pid_ = 0;
  int https_port_ = 0;
  int http_port_ = 0;
};

TEST_F(InjectorIntegrationTest, AnswersReviewsProbesAndMetrics) {
  ExpectGolden("deployment-pod-wrap");
  ExpectGolden("not-labelled");
  ExpectGolden("invalid-mode-denied");

  const Reply wrong_method = Curl(Url("/mutate"));
  EXPECT_EQ(wrong_method.status, 405);
  const Reply not_json = Curl(absl::StrCat("-d 'not json' ", Url("/mutate")));
  EXPECT_EQ(not_json.status, 400);
  EXPECT_TRUE(absl::StrContains(not_json.body, "not JSON")) << not_json.body;
  // One byte over the API server's 3 MiB.
  Shell(absl::StrCat("head -c 3145729 /dev/zero > ", dir_, "/big"));
  const Reply too_large =
      Curl(absl::StrCat("--data-binary @", dir_, "/big ", Url("/mutate")));
  EXPECT_EQ(too_large.status, 413);
  EXPECT_EQ(Curl(Url("/other")).status, 404);

  const std::string http = absl::StrCat("http://127.0.0.1:", http_port_);
  const Reply healthz = Curl(http + "/healthz");
  EXPECT_EQ(healthz.status, 200);
  EXPECT_EQ(Curl(http + "/readyz").status, 200);
  const Reply metrics = Curl(http + "/metrics");
  ASSERT_EQ(metrics.status, 200);
  for (const char* line :
       {"tether_injector_reviews_total{outcome=\"injected\"} 1",
        "tether_injector_reviews_total{outcome=\"skipped\"} 1",
        "tether_injector_reviews_total{outcome=\"denied\"} 1",
        "tether_injector_reviews_total{outcome=\"error\"} 2",
        "tether_injector_review_duration_seconds_count 5"}) {
    EXPECT_TRUE(absl::StrContains(metrics.body, line)) << line << "\n"
                                                       << metrics.body;
  }
}

TEST_F(InjectorIntegrationTest, PicksUpARotatedCertificateWithoutRestarting) {
  EXPECT_EQ(ServedSerial(), "serial=1001");
  IssuePair("2002", "cert2.pem", "key2.pem");

  // The key arrives first: it does not match the served certificate, so the
  // old pair keeps serving.
  Shell(absl::StrCat("cd ", dir_,
                     " && cp key2.pem new.key && mv new.key tls.key"));
  ASSERT_TRUE(WaitFor([&] {
    return absl::StrContains(Log(), "keeping TLS certificate serial 1001");
  })) << Log();
  EXPECT_TRUE(absl::StrContains(Log(), "does not match certificate")) << Log();
  EXPECT_EQ(ServedSerial(), "serial=1001");

  // Then the certificate: the new pair is served to new connections.
  Shell(absl::StrCat("cd ", dir_,
                     " && cp cert2.pem new.crt && mv new.crt tls.crt"));
  ASSERT_TRUE(WaitFor([&] { return ServedSerial() == "serial=2002"; }))
      << Log();
  EXPECT_TRUE(absl::StrContains(Log(), "TLS certificate reloaded: serial 2002"))
      << Log();
  ExpectGolden("deployment-pod-wrap");
  // The same process throughout.
  EXPECT_EQ(waitpid(pid_, nullptr, WNOHANG), 0);
}

}  // namespace
}  // namespace tether::testing
