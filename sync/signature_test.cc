#include "sync/signature.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace tether::sync {
namespace {

std::string Noise(size_t size, uint32_t seed) {
  std::string out(size, '\0');
  uint32_t x = seed;
  for (char& c : out) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

TEST(SignatureParamsTest, BlocksGrowWithTheSquareRootWithinBounds) {
  EXPECT_EQ(SignatureParamsFor(0).block_len, 256u);
  EXPECT_EQ(SignatureParamsFor(4096).block_len, 256u);
  EXPECT_EQ(SignatureParamsFor(1 << 20).block_len, 1024u);
  EXPECT_EQ(SignatureParamsFor(64 << 20).block_len, 8192u);
  EXPECT_EQ(SignatureParamsFor(uint64_t{1} << 30).block_len, 8192u);
  EXPECT_EQ(SignatureParamsFor(1 << 20).strong_len, 8u);
}

TEST(SignatureTest, SizeIsTwelveBytesPerBlockPlusHeader) {
  const std::string data = Noise(64 * 1024 + 1, 1);
  absl::StatusOr<std::string> signature = SignatureOf(data, {256, 8});
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->size(), 12u + 257u * 12u);
  absl::StatusOr<SignatureInfo> info = ParseSignature(*signature);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->block_len, 256u);
  EXPECT_EQ(info->strong_len, 8u);
  EXPECT_EQ(info->blocks, 257u);
}

TEST(SignatureTest, IncrementalEqualsWhole) {
  const std::string data = Noise(100'000, 2);
  SignatureBuilder builder({1024, 8});
  for (size_t offset = 0; offset < data.size(); offset += 777) {
    ASSERT_TRUE(builder.Update(data.substr(offset, 777)).ok());
  }
  absl::StatusOr<std::string> incremental = builder.Finish();
  ASSERT_TRUE(incremental.ok());
  EXPECT_EQ(*incremental, *SignatureOf(data, {1024, 8}));
}

TEST(SignatureTest, ParseRejectsMalformedSignatures) {
  const std::string good = *SignatureOf(Noise(5000, 3), {256, 8});
  EXPECT_FALSE(ParseSignature("").ok());
  EXPECT_FALSE(ParseSignature(good.substr(0, 11)).ok());
  EXPECT_FALSE(ParseSignature(good.substr(0, good.size() - 1)).ok());
  std::string other_magic = good;
  other_magic[3] ^= 1;
  EXPECT_FALSE(ParseSignature(other_magic).ok());
  std::string zero_block = good;
  zero_block.replace(4, 4, std::string(4, '\0'));
  EXPECT_FALSE(ParseSignature(zero_block).ok());
}

TEST(SignatureTest, AppendSignatureEqualsSignatureOfTheWhole) {
  for (const uint64_t old_size :
       {uint64_t{0}, uint64_t{256 * 40}, uint64_t{256 * 40 + 99}}) {
    const std::string whole = Noise(256 * 60 + 7, 4);
    const std::string old = whole.substr(0, old_size);
    const SignatureParams params{256, 8};
    const std::string tail_data =
        whole.substr(AppendTailStart(params.block_len, old_size));
    absl::StatusOr<std::string> spliced = AppendSignature(
        *SignatureOf(old, params), old_size, *SignatureOf(tail_data, params));
    ASSERT_TRUE(spliced.ok()) << spliced.status();
    EXPECT_EQ(*spliced, *SignatureOf(whole, params)) << old_size;
  }
}

TEST(SignatureTest, AppendSignatureRejectsMismatches) {
  const std::string old = Noise(1000, 5);
  const std::string signature = *SignatureOf(old, {256, 8});
  EXPECT_FALSE(
      AppendSignature(signature, 1000, *SignatureOf("tail", {512, 8})).ok());
  EXPECT_FALSE(
      AppendSignature(signature, 5000, *SignatureOf("tail", {256, 8})).ok());
}

}  // namespace
}  // namespace tether::sync
