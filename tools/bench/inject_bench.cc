// Admission-review benchmark: the real tether-injector webhook beside an
// HTTPS echo of the same body on the same TLS stack, in one run.
//
//   bazel run -c opt //tools/bench:inject [-- --seconds=3 --rounds=3]
//
// Cases, interleaved for --rounds rounds so noise shows:
//   https_echo         POST of the review to a CivetwebServer that returns
//                      the body, set up as WebhookServer sets up its HTTPS
//                      server (ServingCertificate, worker threads,
//                      keep-alive): the anchor
//   https_echo_handshakes  the same echo closing every connection: what a
//                      TLS handshake per request costs
//   https_mutate       POST /mutate to sidecar::WebhookServer
//   in_process_review  ReviewAdmission on one thread, no HTTP: the floor of
//                      parse + inject + patch
// HTTPS cases: --concurrency libcurl threads, each with its own easy handle
// (which keeps its connection when the server allows it; `connections` says
// how many it opened). One JSON object per case and round on stdout, then a
// summary of mutate/echo per round. --cases picks cases (for a profiler).

#include <curl/curl.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/civetweb_server.h"
#include "common/files.h"
#include "common/http_server.h"
#include "common/serving_certificate.h"
#include "nlohmann/json.hpp"
#include "sidecar/admission.h"
#include "sidecar/injector.h"
#include "sidecar/webhook_server.h"

ABSL_FLAG(double, seconds, 3, "measured seconds per case and round");
ABSL_FLAG(double, warmup_seconds, 0.5, "seconds per case before measuring");
ABSL_FLAG(int, rounds, 3, "rounds of all cases, interleaved");
ABSL_FLAG(int, concurrency, 8, "client threads of the HTTPS cases");
ABSL_FLAG(std::vector<std::string>, cases, {},
          "cases to run (default: all), e.g. https_mutate");

namespace tether::bench {
namespace {

using nlohmann::json;

constexpr double kTarget = 0.5;  // mutate/echo requests per second.

[[noreturn]] void Fail(const std::string& why) {
  fprintf(stderr, "inject bench: %s\n", why.c_str());
  exit(1);
}

// The app container of a Deployment: env, probes, resources, mounts.
json AppContainer() {
  const json http_probe = {{"httpGet", {{"path", "/healthz"}, {"port", 8080}}},
                           {"periodSeconds", 10},
                           {"timeoutSeconds", 2},
                           {"failureThreshold", 3}};
  json env = json::array();
  for (const char* name : {"LOG_LEVEL", "LOG_FORMAT", "REGION", "CACHE_URL",
                           "FEATURE_FLAGS", "OTEL_SERVICE_NAME"}) {
    env.push_back({{"name", name}, {"value", absl::StrCat(name, "-value")}});
  }
  env.push_back(
      {{"name", "POD_NAME"},
       {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}});
  env.push_back(
      {{"name", "DB_PASSWORD"},
       {"valueFrom",
        {{"secretKeyRef", {{"name", "checkout-db"}, {"key", "password"}}}}}});
  return {{"name", "app"},
          {"image", "ghcr.io/acme/checkout:2.14.3"},
          {"command", {"python", "-m", "checkout.server"}},
          {"args", {"--port=8080", "--workers=4", "--config=/etc/checkout"}},
          {"ports",
           {{{"name", "http"}, {"containerPort", 8080}, {"protocol", "TCP"}}}},
          {"env", env},
          {"envFrom", {{{"configMapRef", {{"name", "checkout-env"}}}}}},
          {"resources",
           {{"requests", {{"cpu", "500m"}, {"memory", "512Mi"}}},
            {"limits", {{"cpu", "2"}, {"memory", "1Gi"}}}}},
          {"livenessProbe", http_probe},
          {"readinessProbe", http_probe},
          {"startupProbe", http_probe},
          {"volumeMounts",
           {{{"name", "config"},
             {"mountPath", "/etc/checkout"},
             {"readOnly", true}},
            {{"name", "cache"}, {"mountPath", "/var/cache/checkout"}},
            {{"name", "logs"}, {"mountPath", "/var/log/checkout"}},
            {{"name", "kube-api-access-7xk2p"},
             {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"},
             {"readOnly", true}}}},
          {"securityContext",
           {{"runAsNonRoot", true},
            {"allowPrivilegeEscalation", false},
            {"capabilities", {{"drop", {"ALL"}}}}}},
          {"terminationMessagePath", "/dev/termination-log"},
          {"terminationMessagePolicy", "File"},
          {"imagePullPolicy", "IfNotPresent"}};
}

json LogShipperContainer() {
  return {{"name", "log-shipper"},
          {"image", "cr.fluentbit.io/fluent/fluent-bit:3.0.4"},
          {"args", {"--config=/fluent-bit/etc/fluent-bit.conf"}},
          {"resources",
           {{"requests", {{"cpu", "50m"}, {"memory", "64Mi"}}},
            {"limits", {{"memory", "128Mi"}}}}},
          {"volumeMounts",
           {{{"name", "logs"},
             {"mountPath", "/var/log/checkout"},
             {"readOnly", true}},
            {{"name", "fluent-bit-config"}, {"mountPath", "/fluent-bit/etc"}}}},
          {"terminationMessagePath", "/dev/termination-log"},
          {"terminationMessagePolicy", "File"},
          {"imagePullPolicy", "IfNotPresent"}};
}

// Shaped like Istio's injected proxy.
json ProxyContainer() {
  return {
      {"name", "istio-proxy"},
      {"image", "docker.io/istio/proxyv2:1.22.0"},
      {"args",
       {"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
        "--proxyLogLevel=warning", "--log_output_level=default:info"}},
      {"ports",
       {{{"name", "http-envoy-prom"},
         {"containerPort", 15090},
         {"protocol", "TCP"}}}},
      {"env",
       {{{"name", "POD_NAMESPACE"},
         {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}},
        {{"name", "INSTANCE_IP"},
         {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}},
        {{"name", "ISTIO_META_CLUSTER_ID"}, {"value", "Kubernetes"}},
        {{"name", "ISTIO_META_MESH_ID"}, {"value", "cluster.local"}},
        {{"name", "PROXY_CONFIG"},
         {"value", "{\"holdApplicationUntilProxyStarts\":true}"}}}},
      {"resources",
       {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}},
        {"limits", {{"cpu", "2"}, {"memory", "1Gi"}}}}},
      {"readinessProbe",
       {{"httpGet", {{"path", "/healthz/ready"}, {"port", 15021}}},
        {"periodSeconds", 15},
        {"failureThreshold", 4}}},
      {"volumeMounts",
       {{{"name", "istio-envoy"}, {"mountPath", "/etc/istio/proxy"}},
        {{"name", "istio-data"}, {"mountPath", "/var/lib/istio/data"}}}},
      {"securityContext",
       {{"runAsUser", 1337},
        {"runAsGroup", 1337},
        {"runAsNonRoot", true},
        {"readOnlyRootFilesystem", true}}},
      {"terminationMessagePath", "/dev/termination-log"},
      {"terminationMessagePolicy", "File"},
      {"imagePullPolicy", "IfNotPresent"}};
}

json Volumes() {
  return {{{"name", "config"}, {"configMap", {{"name", "checkout-config"}}}},
          {{"name", "cache"}, {"emptyDir", {{"sizeLimit", "1Gi"}}}},
          {{"name", "logs"}, {"emptyDir", json::object()}},
          {{"name", "fluent-bit-config"},
           {"configMap", {{"name", "fluent-bit-checkout"}}}},
          {{"name", "istio-envoy"}, {"emptyDir", {{"medium", "Memory"}}}},
          {{"name", "istio-data"}, {"emptyDir", json::object()}},
          {{"name", "kube-api-access-7xk2p"},
           {"projected",
            {{"defaultMode", 420},
             {"sources",
              {{{"serviceAccountToken",
                 {{"expirationSeconds", 3607}, {"path", "token"}}}},
               {{"configMap",
                 {{"name", "kube-root-ca.crt"},
                  {"items", {{{"key", "ca.crt"}, {"path", "ca.crt"}}}}}}}}}}}}};
}

// A ReplicaSet's pod asking for injection into its "app" container.
json Pod() {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"generateName", "checkout-7d9c6b5f4-"},
            {"namespace", "shop"},
            {"labels",
             {{"app.kubernetes.io/name", "checkout"},
              {"app.kubernetes.io/version", "2.14.3"},
              {"pod-template-hash", "7d9c6b5f4"},
              {"security.istio.io/tlsMode", "istio"},
              {"tether.dev/inject", "true"}}},
            {"annotations",
             {{"tether.dev/container", "app"},
              {"kubectl.kubernetes.io/default-container", "app"},
              {"prometheus.io/scrape", "true"},
              {"prometheus.io/port", "15090"}}},
            {"ownerReferences",
             {{{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"name", "checkout-7d9c6b5f4"},
               {"uid", "3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"},
               {"controller", true},
               {"blockOwnerDeletion", true}}}}}},
          {"spec",
           {{"serviceAccountName", "checkout"},
            {"containers",
             {AppContainer(), LogShipperContainer(), ProxyContainer()}},
            {"volumes", Volumes()},
            {"restartPolicy", "Always"},
            {"terminationGracePeriodSeconds", 30},
            {"dnsPolicy", "ClusterFirst"},
            {"securityContext", {{"fsGroup", 2000}}},
            {"tolerations",
             {{{"key", "node.kubernetes.io/not-ready"},
               {"operator", "Exists"},
               {"effect", "NoExecute"},
               {"tolerationSeconds", 300}}}}}}};
}

// The review as the API server sends it: compact JSON.
std::string ReviewBody() {
  const json kind = {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}};
  const json resource = {
      {"group", ""}, {"version", "v1"}, {"resource", "pods"}};
  const json review = {
      {"apiVersion", "admission.k8s.io/v1"},
      {"kind", "AdmissionReview"},
      {"request",
       {{"uid", "a1b2c3d4-0013-4000-8000-000000000013"},
        {"kind", kind},
        {"resource", resource},
        {"requestKind", kind},
        {"requestResource", resource},
        {"namespace", "shop"},
        {"operation", "CREATE"},
        {"userInfo",
         {{"username",
           "system:serviceaccount:kube-system:replicaset-controller"},
          {"groups", {"system:serviceaccounts", "system:authenticated"}}}},
        {"object", Pod()},
        {"oldObject", nullptr},
        {"dryRun", false},
        {"options",
         {{"apiVersion", "meta.k8s.io/v1"}, {"kind", "CreateOptions"}}}}}};
  return review.dump();
}

sidecar::InjectorConfig Injector() {
  sidecar::InjectorConfig config;
  config.agent_image = "registry.example/tether/agent:bench";
  config.tetherd_address = "tetherd.tether-system.svc:7700";
  return config;
}

void Run(const std::string& command) {
  if (system(command.c_str()) != 0) Fail(absl::StrCat("failed: ", command));
}

// A self-signed P-256 pair for 127.0.0.1 in a new temp dir.
std::string MakeCertificateDir() {
  char pattern[] = "/tmp/inject_bench.XXXXXX";
  if (mkdtemp(pattern) == nullptr) Fail("mkdtemp");
  const std::string dir = pattern;
  Run(absl::StrCat(
      "cd ", dir,
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
      " -nodes -keyout tls.key -out tls.crt -days 1 -subj /CN=127.0.0.1"
      " -addext subjectAltName=IP:127.0.0.1 2>/dev/null"));
  return dir;
}

// An echo on the HTTPS server WebhookServer builds: the same certificate
// path, answering with the request body.
class EchoServer {
 public:
  // `keep_alive` zero: every reply closes its connection.
  EchoServer(const std::string& dir, int worker_threads,
             absl::Duration keep_alive) {
    auto certificate = ServingCertificate::Create(
        {absl::StrCat(dir, "/tls.crt"), absl::StrCat(dir, "/tls.key")});
    if (!certificate.ok()) Fail(certificate.status().ToString());
    certificate_ = std::move(*certificate);
    CivetwebServer::Options options;
    options.listen_address = "127.0.0.1:0";
    options.worker_threads = worker_threads;
    options.keep_alive = keep_alive;
    options.handler = [](mg_connection* connection) {
      absl::StatusOr<std::string> body =
          ReadHttpRequestBody(connection, 3 << 20);
      if (!body.ok()) return SendHttpResponse(connection, {400});
      return SendHttpResponse(connection,
                              {200, "application/json", std::move(*body)});
    };
    ServingCertificate* installed = certificate_.get();
    options.tls_setup = [installed](ssl_ctx_st* context) {
      installed->Install(context);
      return absl::OkStatus();
    };
    auto server = CivetwebServer::Create(std::move(options));
    if (!server.ok()) Fail(server.status().ToString());
    server_ = std::move(*server);
  }

  int port() const { return server_->port(); }

 private:
  std::unique_ptr<ServingCertificate> certificate_;
  std::unique_ptr<CivetwebServer> server_;  // Last: stopped first.
};

size_t AppendReply(char* data, size_t size, size_t count, void* reply) {
  static_cast<std::string*>(reply)->append(data, size * count);
  return size * count;
}

// One client thread's libcurl handle: POSTs `body` to `url`, verifying the
// server against the run's certificate, on a connection it keeps when the
// server lets it.
class HttpsClient {
 public:
  HttpsClient(const std::string& url, const std::string& ca_file,
              const std::string& body)
      : curl_(curl_easy_init()) {
    if (curl_ == nullptr) Fail("curl_easy_init");
    // The API server sends no "Expect: 100-continue" (libcurl would, for
    // bodies over 1 KiB, costing a round trip).
    headers_ = curl_slist_append(nullptr, "Content-Type: application/json");
    headers_ = curl_slist_append(headers_, "Expect:");
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_CAINFO, ca_file.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &AppendReply);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &reply_);
  }
  ~HttpsClient() {
    curl_easy_cleanup(curl_);
    curl_slist_free_all(headers_);
  }
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // The reply's body; fails the run on anything but a 200.
  const std::string& Post() {
    reply_.clear();
    const CURLcode rc = curl_easy_perform(curl_);
    long code = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK || code != 200) {
      Fail(absl::StrCat("POST: ", curl_easy_strerror(rc), ", HTTP ", code));
    }
    long opened = 0;
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &opened);
    connections_ += opened;
    return reply_;
  }

  // Connections opened so far (1 per request: no keep-alive).
  long connections() const { return connections_; }

 private:
  CURL* curl_;
  curl_slist* headers_ = nullptr;
  std::string reply_;
  long connections_ = 0;
};

struct Result {
  size_t requests = 0;
  double per_sec = 0;
  double p50_us = 0;
  double p99_us = 0;
  long connections = 0;
};

// Runs `request(thread)` on `concurrency` threads for `duration`.
Result Measure(const std::function<void(int)>& request, int concurrency,
               absl::Duration duration) {
  std::vector<std::vector<double>> latencies(concurrency);
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      for (absl::Time now = absl::Now(); now < end;) {
        request(t);
        const absl::Time after = absl::Now();
        latencies[t].push_back(absl::ToDoubleMicroseconds(after - now));
        now = after;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const double wall_s = absl::ToDoubleSeconds(absl::Now() - start);
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Result result;
  result.requests = all.size();
  result.per_sec = all.size() / wall_s;
  result.p50_us = all[all.size() / 2];
  result.p99_us = all[all.size() * 99 / 100];
  return result;
}

// A case: its request on client thread `t`, and for HTTPS the connections
// its clients opened so far.
struct Case {
  std::string name;
  int concurrency = 1;
  std::function<void(int)> request;
  std::function<long()> connections;
};

Case HttpsCase(const std::string& name, const std::string& url,
               const std::string& ca_file, const std::string& body,
               const std::function<void(const std::string&)>& check) {
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  auto clients = std::make_shared<std::vector<std::unique_ptr<HttpsClient>>>();
  for (int t = 0; t < concurrency; ++t) {
    clients->push_back(std::make_unique<HttpsClient>(url, ca_file, body));
  }
  check((*clients)[0]->Post());  // Right answers before any timing.
  Case c;
  c.name = name;
  c.concurrency = concurrency;
  c.request = [clients](int t) { (*clients)[t]->Post(); };
  c.connections = [clients] {
    long sum = 0;
    for (const auto& client : *clients) sum += client->connections();
    return sum;
  };
  return c;
}

Case InProcessCase(const std::string& body,
                   const sidecar::InjectorConfig& config) {
  Case c;
  c.name = "in_process_review";
  c.request = [&body, &config](int) {
    if (!sidecar::ReviewAdmission(body, config).ok()) Fail("review failed");
  };
  return c;
}

// The review must inject: an allowed response with a patch.
void CheckInjected(const std::string& review) {
  const json response = json::parse(review).at("response");
  if (!response.value("allowed", false) || !response.contains("patch")) {
    Fail(absl::StrCat("the pod was not injected: ", review));
  }
}

// Warms `c` up, measures it and prints its line.
Result Report(const Case& c, int round, size_t body_bytes) {
  Measure(c.request, c.concurrency,
          absl::Seconds(absl::GetFlag(FLAGS_warmup_seconds)));
  const long connections_before = c.connections ? c.connections() : 0;
  Result r = Measure(c.request, c.concurrency,
                     absl::Seconds(absl::GetFlag(FLAGS_seconds)));
  std::string connections;
  if (c.connections) {
    r.connections = c.connections() - connections_before;
    connections = absl::StrCat(
        ",\"connections\":", r.connections, ",\"keep_alive\":",
        r.connections < static_cast<long>(r.requests) ? "true" : "false");
  }
  printf(
      "{\"bench\":\"inject\",\"case\":\"%s\",\"round\":%d,\"concurrency\":%d,"
      "\"requests\":%zu,\"per_sec\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
      "\"body_bytes\":%zu%s}\n",
      c.name.c_str(), round, c.concurrency, r.requests, r.per_sec, r.p50_us,
      r.p99_us, body_bytes, connections.c_str());
  fflush(stdout);
  return r;
}

void PrintSummary(const std::vector<double>& mutate,
                  const std::vector<double>& echo) {
  std::vector<std::string> ratios;
  bool met = true;
  for (size_t i = 0; i < mutate.size(); ++i) {
    const double ratio = mutate[i] / echo[i];
    ratios.push_back(absl::StrFormat("%.2f", ratio));
    met = met && ratio >= kTarget;
  }
  printf(
      "{\"bench\":\"inject\",\"summary\":\"mutate_over_echo\","
      "\"per_round\":[%s],\"target\":%.1f,\"met\":%s}\n",
      absl::StrJoin(ratios, ",").c_str(), kTarget, met ? "true" : "false");
}

std::unique_ptr<sidecar::WebhookServer> StartWebhook(
    const std::string& dir, const sidecar::InjectorConfig& config) {
  sidecar::WebhookServer::Options options;
  options.listen_address = "127.0.0.1:0";
  options.http_listen_address = "127.0.0.1:0";
  options.tls_cert_file = absl::StrCat(dir, "/tls.crt");
  options.tls_key_file = absl::StrCat(dir, "/tls.key");
  options.injector = config;
  auto server = sidecar::WebhookServer::Create(std::move(options));
  if (!server.ok()) Fail(server.status().ToString());
  return std::move(*server);
}

void Main() {
  const std::string dir = MakeCertificateDir();
  const std::string ca_file = absl::StrCat(dir, "/tls.crt");
  const std::string body = ReviewBody();
  const sidecar::InjectorConfig config = Injector();
  const std::unique_ptr<sidecar::WebhookServer> webhook =
      StartWebhook(dir, config);
  // Mirrors WebhookServer::Create's HTTPS options: only the handler differs.
  const sidecar::WebhookServer::Options webhook_options;
  const EchoServer echo(dir, webhook_options.worker_threads,
                        webhook_options.keep_alive);
  const EchoServer echo_handshakes(dir, webhook_options.worker_threads,
                                   absl::ZeroDuration());
  const auto url = [](int port, const char* path) {
    return absl::StrCat("https://127.0.0.1:", port, path);
  };
  const auto same_body = [&body](const std::string& reply) {
    if (reply != body) Fail("the echo changed the body");
  };
  std::vector<Case> cases = {
      HttpsCase("https_echo", url(echo.port(), "/echo"), ca_file, body,
                same_body),
      HttpsCase("https_echo_handshakes", url(echo_handshakes.port(), "/echo"),
                ca_file, body, same_body),
      HttpsCase("https_mutate", url(webhook->port(), "/mutate"), ca_file, body,
                &CheckInjected),
      InProcessCase(body, config),
  };
  const std::vector<std::string> picked = absl::GetFlag(FLAGS_cases);
  if (!picked.empty()) {
    cases.erase(std::remove_if(cases.begin(), cases.end(),
                               [&picked](const Case& c) {
                                 return std::find(picked.begin(), picked.end(),
                                                  c.name) == picked.end();
                               }),
                cases.end());
  }
  std::map<std::string, std::vector<double>> per_sec;
  for (int round = 1; round <= absl::GetFlag(FLAGS_rounds); ++round) {
    for (const Case& c : cases) {
      per_sec[c.name].push_back(Report(c, round, body.size()).per_sec);
    }
  }
  if (per_sec.count("https_mutate") && per_sec.count("https_echo")) {
    PrintSummary(per_sec["https_mutate"], per_sec["https_echo"]);
  }
  (void)RemoveAll(dir);
}

}  // namespace
}  // namespace tether::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  tether::bench::Main();
  curl_global_cleanup();
  return 0;
}
