// libFuzzer target for kubeconfig files (tetherd, the CLI and the e2e
// suite read whatever $KUBECONFIG names): LoadKubeconfig on the input's
// text. The contract under test: no crash, no sanitizer report, every
// rejection names the file (and the field); an accepted config has a
// server, and a client certificate only with its key.
//
// LoadKubeconfig reads a file, so each input is written to one in a
// private directory (under the test's or the run's directory) that also
// holds the certificate files the seeds name by relative paths.
//
// Built and run outside Bazel by tools/fuzz (clang-14);
// //kube/fuzz:kubeconfig_fuzzer_seed_test replays the seeds under Bazel.

#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kube/kube_config.h"

namespace {

void Check(bool ok) {
  if (!ok) abort();
}

void WriteFile(const std::string& path, const char* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data, static_cast<std::streamsize>(size));
  Check(out.good());
}

const std::string& Dir() {
  static const std::string* dir = [] {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr ? tmp : ".") + "/kubeconfig-fuzz.XXXXXX";
    Check(mkdtemp(pattern.data()) != nullptr);
    WriteFile(pattern + "/ca.crt", "CA PEM\n", 7);
    WriteFile(pattern + "/client.crt", "CERT PEM\n", 9);
    WriteFile(pattern + "/client.key", "KEY PEM\n", 8);
    return new std::string(pattern);
  }();
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = Dir() + "/config";
  WriteFile(path, reinterpret_cast<const char*>(data), size);
  absl::StatusOr<tether::kube::KubeConfig> config =
      tether::kube::LoadKubeconfig(path);
  if (!config.ok()) {
    Check(absl::StartsWith(config.status().message(),
                           absl::StrCat("kubeconfig ", path, ": ")));
    return 0;
  }
  Check(!config->server.empty());
  Check(config->client_cert_pem.empty() == config->client_key_pem.empty());
  Check(!config->exec.has_value() || !config->exec->command.empty());
  return 0;
}
