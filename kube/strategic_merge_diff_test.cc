// Differential test of MergeInto's strategic merge patch against kubectl's:
// every case under kube/testdata/strategic_merge (README.md there) is merged
// by both, and the results must be equal, except in the cases where Tether
// is deliberately different, each with its reason in `difference.md`.

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/runfiles.h"
#include "common/test_util.h"
#include "gtest/gtest.h"
#include "kube/merge.h"
#include "kube/patch_schema.h"
#include "kube/struct_json.h"
#include "nlohmann/json.hpp"

namespace tether::kube {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::optional<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

json LoadYaml(const fs::path& path) {
  std::optional<std::string> text = ReadFile(path);
  if (!text.has_value()) {
    ADD_FAILURE() << "cannot read " << path;
    return json();
  }
  absl::StatusOr<json> object = YamlObjectToJson(*text);
  if (!object.ok()) {
    ADD_FAILURE() << path << ": " << object.status();
    return json();
  }
  return *object;
}

struct KubectlResult {
  bool ok;
  json object;
  std::string output;  // What kubectl printed, for failure messages.
};

// `kubectl patch --local` needs no cluster; an empty kubeconfig keeps it
// from reading the user's.
KubectlResult RunKubectl(const std::string& kubectl, const fs::path& base,
                         const fs::path& patch) {
  const char* tmp = getenv("TEST_TMPDIR");
  const std::string kubeconfig =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/empty-kubeconfig");
  std::ofstream(kubeconfig).close();
  const std::string command = absl::StrCat(
      "KUBECONFIG=", kubeconfig, " ", kubectl, " patch --local -f '",
      base.string(), "' --type strategic --patch-file '", patch.string(),
      "' -o json 2>&1");
  KubectlResult result{false, json(), ""};
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    result.output = "popen failed";
    return result;
  }
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) {
    result.output.append(buf, n);
  }
  const int status = pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return result;
  result.object =
      json::parse(result.output, nullptr, /*allow_exceptions=*/false);
  result.ok = !result.object.is_discarded();
  return result;
}

std::vector<fs::path> Cases(const fs::path& root) {
  std::vector<fs::path> cases;
  for (const fs::directory_entry& entry : fs::directory_iterator(root)) {
    if (entry.is_directory()) cases.push_back(entry.path());
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

TEST(StrategicMergeDiffTest, TetherMergesAsKubectlDoes) {
  absl::StatusOr<std::string> readme =
      FindDataFile("kube/testdata/strategic_merge/README.md");
  ASSERT_TRUE(readme.ok()) << readme.status();
  const fs::path root = fs::path(*readme).parent_path();
  const std::string kubectl = testing::FindKubectl();
  if (kubectl.empty()) {
    GTEST_SKIP() << "kubectl is not installed (tools/setup installs it); "
                    "the differential test needs it as the reference";
  }
  const std::vector<fs::path> cases = Cases(root);
  ASSERT_GE(cases.size(), 48u) << "cases went missing from " << root;
  int differences = 0;
  for (const fs::path& dir : cases) {
    SCOPED_TRACE(dir.filename().string());
    const fs::path base_path = fs::exists(dir / "base.yaml")
                                   ? dir / "base.yaml"
                                   : root / "deployment.yaml";
    const json base = LoadYaml(base_path);
    const json patch = LoadYaml(dir / "patch.yaml");
    json tether = base;
    const absl::Status merged =
        MergeInto(tether, patch,
                  {MergeMode::kStrategicPatch, SchemaTypeOfObject(base), ""});
    const KubectlResult reference =
        RunKubectl(kubectl, base_path, dir / "patch.yaml");
    const bool different = fs::exists(dir / "difference.md");
    differences += different ? 1 : 0;

    if (std::optional<std::string> error = ReadFile(dir / "error.txt")) {
      while (!error->empty() && error->back() == '\n') error->pop_back();
      EXPECT_EQ(merged.code(), absl::StatusCode::kInvalidArgument) << merged;
      EXPECT_NE(merged.message().find(*error), std::string::npos) << merged;
      if (!different) {
        EXPECT_FALSE(reference.ok)
            << "kubectl accepts the patch: " << reference.output;
      }
      continue;
    }
    if (!merged.ok() || !reference.ok) {
      ADD_FAILURE() << "tether: " << merged
                    << "\nkubectl: " << reference.output;
      continue;
    }
    if (!different) {
      EXPECT_TRUE(tether == reference.object)
          << "from kubectl's result to Tether's: "
          << json::diff(reference.object, tether).dump();
      continue;
    }
    // A deliberate difference: Tether's result is pinned, and kubectl must
    // still differ, or the case (and DESIGN.md's list) is out of date.
    const json expected = LoadYaml(dir / "tether.yaml");
    EXPECT_TRUE(tether == expected) << "from tether.yaml to Tether's result: "
                                    << json::diff(expected, tether).dump();
    EXPECT_FALSE(tether == reference.object)
        << "kubectl now agrees; drop difference.md and tether.yaml";
  }
  EXPECT_GT(differences, 0);
}

}  // namespace
}  // namespace tether::kube
