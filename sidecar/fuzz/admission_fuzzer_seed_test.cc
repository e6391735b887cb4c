// Replays the fuzzer's seeds under Bazel (gcc, no sanitizer): the reviews
// of the golden cases (sidecar/testdata/admission) and the corpus here, so
// the target keeps building and its seeds keep passing between fuzz runs.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace tether::sidecar {
namespace {

int RunAll(const std::string& dir, const std::string& file_in_each) {
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir);
  EXPECT_TRUE(names.ok()) << names.status();
  int seeds = 0;
  for (const std::string& name :
       names.ok() ? *names : std::vector<std::string>{}) {
    const std::string path = absl::StrCat(dir, "/", name, file_in_each);
    absl::StatusOr<std::string> bytes = ReadFile(path);
    if (!bytes.ok()) continue;  // README.md's directory entry has no review
    EXPECT_EQ(
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes->data()),
                               bytes->size()),
        0)
        << path;
    ++seeds;
  }
  return seeds;
}

TEST(AdmissionFuzzerSeedTest, SeedsRunClean) {
  absl::StatusOr<std::string> readme =
      FindDataFile("sidecar/testdata/admission/README.md");
  ASSERT_TRUE(readme.ok()) << readme.status();
  EXPECT_GE(RunAll(readme->substr(0, readme->rfind('/')), "/review.json"), 12);
  absl::StatusOr<std::string> any =
      FindDataFile("sidecar/fuzz/corpus/not_json");
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_GE(RunAll(any->substr(0, any->rfind('/')), ""), 3);
}

}  // namespace
}  // namespace tether::sidecar
