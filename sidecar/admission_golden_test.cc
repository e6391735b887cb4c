// Runs every case under sidecar/testdata/admission (README.md there): the
// AdmissionReview in, the exact response and patched pod out, the patched
// pod valid for the Kubernetes object model and left alone when reviewed
// again.

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "gtest/gtest.h"
#include "kube/manifest_validator.h"
#include "nlohmann/json.hpp"
#include "sidecar/admission.h"
#include "sidecar/injector.h"

namespace tether::sidecar {
namespace {

using json = nlohmann::json;

constexpr char kCases[] = "sidecar/testdata/admission";

InjectorConfig Config(const json& overrides) {
  InjectorConfig config;
  config.agent_image = "ghcr.io/tether/agent:1";
  config.tetherd_address = "tetherd.tether-system.svc:7700";
  config.native_sidecars = overrides.value("native_sidecars", true);
  return config;
}

std::string Pretty(const json& value) { return value.dump(2) + "\n"; }

bool IsDir(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Compares `actual` with the golden `dir/name`, or writes it when updating.
void Golden(const std::string& dir, const std::string& name,
            const std::string& actual, const char* update_dir) {
  if (update_dir != nullptr) {
    ASSERT_TRUE(
        WriteFileAtomically(absl::StrCat(update_dir, "/", name), actual).ok());
    return;
  }
  absl::StatusOr<std::string> expected = ReadFile(absl::StrCat(dir, "/", name));
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_EQ(actual, *expected) << dir << "/" << name;
}

TEST(AdmissionGoldenTest, EveryCase) {
  absl::StatusOr<std::string> readme =
      FindDataFile(absl::StrCat(kCases, "/README.md"));
  ASSERT_TRUE(readme.ok()) << readme.status();
  const std::string root = readme->substr(0, readme->rfind('/'));
  absl::StatusOr<std::vector<std::string>> cases = ListDir(root);
  ASSERT_TRUE(cases.ok()) << cases.status();
  const char* update = getenv("UPDATE_GOLDENS");
  const char* workspace = getenv("BUILD_WORKSPACE_DIRECTORY");
  if (update != nullptr) {
    ASSERT_NE(workspace, nullptr) << "update with `bazel run`";
  }
  const char* tmp = getenv("TEST_TMPDIR");
  std::vector<std::string> patched_files;
  int run = 0;
  for (const std::string& name : *cases) {
    const std::string dir = absl::StrCat(root, "/", name);
    if (!IsDir(dir)) continue;
    SCOPED_TRACE(name);
    ++run;
    absl::StatusOr<std::string> body = ReadFile(dir + "/review.json");
    ASSERT_TRUE(body.ok()) << body.status();
    absl::StatusOr<std::vector<std::string>> files = ListDir(dir);
    ASSERT_TRUE(files.ok());
    std::set<std::string> present(files->begin(), files->end());
    json overrides = json::object();
    if (present.count("config.json") != 0) {
      absl::StatusOr<std::string> text = ReadFile(dir + "/config.json");
      ASSERT_TRUE(text.ok());
      overrides = json::parse(*text);
    }
    const InjectorConfig config = Config(overrides);
    absl::StatusOr<json> response = ReviewAdmission(*body, config);
    ASSERT_TRUE(response.ok()) << response.status();
    std::set<std::string> expected = {"review.json", "response.json"};
    if (present.count("config.json") != 0) expected.insert("config.json");
    std::string update_dir_storage;
    const char* update_dir = nullptr;
    if (update != nullptr) {
      update_dir_storage = absl::StrCat(workspace, "/", kCases, "/", name);
      update_dir = update_dir_storage.c_str();
    }
    Golden(dir, "response.json", Pretty(*response), update_dir);
    const json& answer = (*response)["response"];
    if (answer.contains("patch")) {
      expected.insert("patched.json");
      std::string patch_text;
      ASSERT_TRUE(absl::Base64Unescape(answer["patch"].get<std::string>(),
                                       &patch_text));
      const json object = json::parse(*body)["request"]["object"];
      const json patched = object.patch(json::parse(patch_text));
      Golden(dir, "patched.json", Pretty(patched), update_dir);
      // Injecting the result again changes nothing.
      json again = json::parse(*body);
      again["request"]["object"] = patched;
      absl::StatusOr<json> second = ReviewAdmission(again.dump(), config);
      ASSERT_TRUE(second.ok()) << second.status();
      EXPECT_EQ((*second)["response"],
                json({{"uid", answer["uid"]}, {"allowed", true}}));
      // As the API server stores it: with the name it generates.
      json stored = patched;
      if (stored["metadata"].value("name", "").empty()) {
        stored["metadata"]["name"] =
            stored["metadata"].value("generateName", "pod-") + "x7k2q";
      }
      const std::string path = absl::StrCat(tmp, "/", name, ".json");
      ASSERT_TRUE(WriteFileAtomically(path, stored.dump()).ok());
      patched_files.push_back(path);
    } else if (update != nullptr && present.count("patched.json") != 0) {
      ASSERT_EQ(remove(absl::StrCat(update_dir, "/patched.json").c_str()), 0);
      present.erase("patched.json");
    }
    if (update == nullptr) {
      EXPECT_EQ(present, expected) << "unexpected or missing files in " << dir;
    }
  }
  EXPECT_GE(run, 12);
  ASSERT_FALSE(patched_files.empty());
  const kube::ValidatorRun validated = kube::ValidateManifests(patched_files);
  EXPECT_EQ(validated.exit_code, 0) << validated.output;
  EXPECT_TRUE(absl::StrContains(
      validated.output,
      absl::StrCat(patched_files.size(), " passed, 0 failed")))
      << validated.output;
}

}  // namespace
}  // namespace tether::sidecar
