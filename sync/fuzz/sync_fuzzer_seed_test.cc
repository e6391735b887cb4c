// Replays the fuzzer's seed corpus under Bazel (gcc, no sanitizer), so the
// target keeps building and its seeds keep passing between fuzz runs.

#include <dirent.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/files.h"
#include "common/runfiles.h"
#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace tether::sync::sync {
namespace {

TEST(SyncFuzzerSeedTest, SeedsRunClean) {
  absl::StatusOr<std::string> any = FindDataFile("sync/fuzz/corpus/tree");
  ASSERT_TRUE(any.ok()) << any.status();
  const std::string dir = any->substr(0, any->rfind('/'));
  DIR* listing = opendir(dir.c_str());
  ASSERT_NE(listing, nullptr);
  int seeds = 0;
  while (struct dirent* entry = readdir(listing)) {
    if (entry->d_name[0] == '.') continue;
    absl::StatusOr<std::string> bytes = ReadFile(dir + "/" + entry->d_name);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_EQ(
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes->data()),
                               bytes->size()),
        0);
    ++seeds;
  }
  closedir(listing);
  EXPECT_GE(seeds, 4);
}

}  // namespace
}  // namespace tether::sync::sync
