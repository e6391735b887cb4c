// The main of every *_fuzzer_seed_test: replays the seed files given as
// arguments through the target's LLVMFuzzerTestOneInput under Bazel (gcc,
// no sanitizer), so each harness keeps building and its seeds keep passing
// between fuzz runs. A broken invariant aborts the test.

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string>& Seeds() {
  static std::vector<std::string> seeds;
  return seeds;
}

TEST(FuzzerSeedTest, SeedsRunClean) {
  ASSERT_FALSE(Seeds().empty()) << "no seed files given";
  for (const std::string& path : Seeds()) {
    SCOPED_TRACE(path);
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << "cannot read " << path;
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string seed = bytes.str();
    EXPECT_EQ(LLVMFuzzerTestOneInput(
                  reinterpret_cast<const uint8_t*>(seed.data()), seed.size()),
              0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  Seeds().assign(argv + 1, argv + argc);
  return RUN_ALL_TESTS();
}
