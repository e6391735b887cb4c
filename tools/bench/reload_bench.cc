// Reload benchmark: from an edited file to the first call that answers with
// the new code, through the real tetherd, agent and workers.
//
//   bazel run -c opt //tools/bench:reload [-- --runs=20 --naive_runs=5]
//
// Cases:
//   warm_redeploy        edit app.py, upload it (SyncCode), Deploy (returns
//                        once the replica serves it), first call answering
//                        the new value
//   heavy_import_reload  the same for a service whose `preload` module takes
//                        --heavy_import_s to import (outside the code, as
//                        torch would be in site-packages): the zygote
//                        imported it once, so a reload is a fork
//   naive_reimport       what that reload costs without a zygote: a fresh
//                        python3 importing the heavy module, then the
//                        callable, then calling it
// One JSON object per case on stdout, with the split of the reload cases
// into upload, deploy and first call (p50 each).

#include <stdio.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "grpcpp/grpcpp.h"
#include "sync/uploader.h"
#include "tests/tetherd_process.h"

ABSL_FLAG(int, runs, 20, "measured reloads per reload case");
ABSL_FLAG(int, naive_runs, 5, "measured fresh interpreters for naive_reimport");
ABSL_FLAG(double, heavy_import_s, 2.0, "import time of the heavy module");

namespace tether::bench {
namespace {

using tether::testing::NewTempDir;
using tether::testing::TetherdProcess;
using tether::testing::WriteTree;

[[noreturn]] void Die(const std::string& message) {
  fprintf(stderr, "reload bench: %s\n", message.c_str());
  exit(1);
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

struct Percentiles {
  double p50 = 0;
  double p99 = 0;
};

Percentiles Of(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  Percentiles p;
  p.p50 = samples[samples.size() / 2];
  p.p99 = samples[std::min(samples.size() - 1, samples.size() * 99 / 100)];
  return p;
}

std::string App(int value) {
  return absl::StrCat("import heavy\n\n\ndef answer():\n    return ", value,
                      "\n");
}

// The payload of one call of `service`; dies on a failed call.
std::string Call(TetherdProcess& tetherd, const std::string& service) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  tether::v1::CallRequest request;
  request.set_service(service);
  tether::v1::CallResponse response;
  const grpc::Status status = tetherd.stub().Call(&context, request, &response);
  if (!status.ok()) Die("call: " + status.error_message());
  if (response.results(0).has_error()) {
    Die("call raised: " + response.results(0).error().message());
  }
  return response.results(0).payload();
}

std::string Upload(TetherdProcess& tetherd, const std::string& dir) {
  auto uploaded = sync::UploadTree(tetherd.stub(), dir, sync::UploadOptions());
  if (!uploaded.ok()) Die("upload: " + uploaded.status().ToString());
  return uploaded->result.revision();
}

void Deploy(TetherdProcess& tetherd, const tether::v1::ServiceSpec& spec,
            const std::string& revision) {
  const grpc::Status status = tetherd.Deploy(spec, revision);
  if (!status.ok()) Die("deploy: " + status.error_message());
}

// Deploys `spec` from a fresh code dir, then `runs` times: edit app.py,
// upload, deploy, call until the answer is the new value.
void ReloadCase(TetherdProcess& tetherd, const std::string& name,
                const tether::v1::ServiceSpec& spec) {
  const std::string code = NewTempDir("bench-reload-code");
  WriteTree(code, {{"app.py", App(0)}});
  Deploy(tetherd, spec, Upload(tetherd, code));
  std::vector<double> total, upload, deploy, call;
  for (int i = 1; i <= absl::GetFlag(FLAGS_runs); ++i) {
    WriteTree(code, {{"app.py", App(i)}});
    const absl::Time start = absl::Now();
    const std::string revision = Upload(tetherd, code);
    const absl::Time uploaded = absl::Now();
    Deploy(tetherd, spec, revision);
    const absl::Time deployed = absl::Now();
    const std::string want = absl::StrCat(i);
    int calls = 1;
    while (Call(tetherd, spec.name()) != want) {
      if (++calls > 1000) Die("the new code never answered");
    }
    const absl::Time answered = absl::Now();
    total.push_back(Ms(answered - start));
    upload.push_back(Ms(uploaded - start));
    deploy.push_back(Ms(deployed - uploaded));
    call.push_back(Ms(answered - deployed));
  }
  const Percentiles t = Of(total);
  printf(
      "{\"bench\":\"reload\",\"case\":\"%s\",\"runs\":%zu,\"p50_ms\":%.1f,"
      "\"p99_ms\":%.1f,\"upload_p50_ms\":%.1f,\"deploy_p50_ms\":%.1f,"
      "\"first_call_p50_ms\":%.1f}\n",
      name.c_str(), total.size(), t.p50, t.p99, Of(upload).p50, Of(deploy).p50,
      Of(call).p50);
  fflush(stdout);
}

// A fresh interpreter importing `heavy` and the callable, then calling it.
void NaiveCase(const std::string& site) {
  const std::string code = NewTempDir("bench-reload-naive");
  WriteTree(code, {{"app.py", App(1)}});
  const std::string command =
      absl::StrCat("PYTHONPATH=", site, ":", code,
                   " /usr/bin/python3 -c 'import app; print(app.answer())'");
  std::vector<double> total;
  for (int i = 0; i < absl::GetFlag(FLAGS_naive_runs); ++i) {
    const absl::Time start = absl::Now();
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) Die("popen");
    char out[64] = {0};
    const size_t n = fread(out, 1, sizeof(out) - 1, pipe);
    if (pclose(pipe) != 0 || std::string(out, n) != "1\n") {
      Die("the naive import failed");
    }
    total.push_back(Ms(absl::Now() - start));
  }
  const Percentiles t = Of(total);
  printf(
      "{\"bench\":\"reload\",\"case\":\"naive_reimport\",\"runs\":%zu,"
      "\"p50_ms\":%.1f,\"p99_ms\":%.1f}\n",
      total.size(), t.p50, t.p99);
  fflush(stdout);
}

int Run() {
  auto tetherd = TetherdProcess::Start(NewTempDir("bench-reload-state"));
  if (!tetherd.ok()) Die("tetherd: " + tetherd.status().ToString());

  // Both services import `heavy` from outside their code; only the second
  // makes it slow and lists it in `preload`.
  const std::string light = NewTempDir("bench-reload-light");
  WriteTree(light, {{"heavy.py", "SLOW = False\n"}});
  const std::string site = NewTempDir("bench-reload-site");
  WriteTree(site,
            {{"heavy.py", absl::StrCat("import time\ntime.sleep(",
                                       absl::GetFlag(FLAGS_heavy_import_s),
                                       ")\nSLOW = True\n")}});

  tether::v1::ServiceSpec warm;
  warm.set_name("warm");
  warm.mutable_callable()->set_module("app");
  warm.mutable_callable()->set_name("answer");
  (*warm.mutable_compute()->mutable_env())["PYTHONPATH"] = light;
  ReloadCase(**tetherd, "warm_redeploy", warm);

  tether::v1::ServiceSpec heavy = warm;
  heavy.set_name("heavy");
  heavy.mutable_compute()->add_preload("heavy");
  (*heavy.mutable_compute()->mutable_env())["PYTHONPATH"] = site;
  ReloadCase(**tetherd, "heavy_import_reload", heavy);

  NaiveCase(site);
  return 0;
}

}  // namespace
}  // namespace tether::bench

int main(int argc, char** argv) {
  tether::ExportRunfilesDir();
  absl::ParseCommandLine(argc, argv);
  return tether::bench::Run();
}
