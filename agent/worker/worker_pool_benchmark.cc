// Per-call latency of a no-op through WorkerPool, one call at a time:
// native (examples/native_echo, raw empty payload) and Python (a no-op
// function, JSON empty payload). This is the agent-side cost of a call
// without gRPC in front of it.
//
//   bazel run -c opt //agent/worker:worker_pool_benchmark -- [CALLS]

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "agent/worker/worker_pool.h"
#include "common/files.h"
#include "common/runfiles.h"

namespace tether::agent {
namespace {

int Run(const std::string& label, const WorkerConfig& config,
        const tether::v1::InvokeRequest& request, int calls) {
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool =
      WorkerPool::Create(WorkerPool::Options());
  if (!pool.ok()) {
    std::fprintf(stderr, "%s\n", pool.status().ToString().c_str());
    return 1;
  }
  const absl::Status loaded = (*pool)->Load(config);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.ToString().c_str());
    return 1;
  }
  std::vector<double> micros;
  micros.reserve(calls);
  const int warmup = calls / 10;
  for (int i = 0; i < warmup + calls; ++i) {
    absl::Notification done;
    bool ok = false;
    const absl::Time start = absl::Now();
    (*pool)->Invoke(request,
                    [&](absl::StatusOr<tether::v1::CallResult> result) {
                      ok = result.ok() && !result->has_error();
                      done.Notify();
                    });
    done.WaitForNotification();
    const double us = absl::ToDoubleMicroseconds(absl::Now() - start);
    if (!ok) {
      std::fprintf(stderr, "%s: call %d failed\n", label.c_str(), i);
      return 1;
    }
    if (i >= warmup) micros.push_back(us);
  }
  std::sort(micros.begin(), micros.end());
  double sum = 0;
  for (double us : micros) sum += us;
  std::printf(
      "%-8s %7d calls  p50 %7.1f us  p90 %7.1f us  p99 %7.1f us  "
      "mean %7.1f us\n",
      label.c_str(), calls, micros[micros.size() / 2],
      micros[micros.size() * 9 / 10], micros[micros.size() * 99 / 100],
      sum / micros.size());
  return 0;
}

int Main(int argc, char** argv) {
  int calls = 20000;
  if (argc > 1 && !absl::SimpleAtoi(argv[1], &calls)) return 2;

  absl::StatusOr<std::string> library =
      FindDataFile("examples/native_echo/libecho.so");
  if (!library.ok()) {
    std::fprintf(stderr, "%s\n", library.status().ToString().c_str());
    return 1;
  }
  WorkerConfig native;
  native.runtime = tether::v1::RUNTIME_NATIVE;
  native.revision_dir = library->substr(0, library->rfind('/'));
  native.load.set_module("libecho.so");
  tether::v1::InvokeRequest raw;
  raw.set_codec(tether::v1::CODEC_RAW);
  if (Run("native", native, raw, calls) != 0) return 1;

  char dir_template[] = "/tmp/tether-bench-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) return 1;
  if (!WriteFileAtomically(absl::StrCat(dir, "/bench.py"),
                           "def noop():\n    return None\n")
           .ok()) {
    return 1;
  }
  WorkerConfig python;
  python.revision_dir = dir;
  python.load.set_module("bench");
  python.load.set_name("noop");
  tether::v1::InvokeRequest json;
  json.set_codec(tether::v1::CODEC_JSON);
  const int rc = Run("python", python, json, calls);
  (void)RemoveAll(dir);
  return rc;
}

}  // namespace
}  // namespace tether::agent

int main(int argc, char** argv) { return tether::agent::Main(argc, argv); }
