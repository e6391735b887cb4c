#include "common/diagnostics.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tether {
namespace {

TEST(QuoteTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(Quote("two"), "\"two\"");
  EXPECT_EQ(Quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Quote("a\nb\tc\rd"), "\"a\\nb\\tc\\rd\"");
  EXPECT_EQ(Quote(std::string("a\0b", 3)), "\"a\\x00b\"");
  EXPECT_EQ(Quote("\x7f"), "\"\\x7f\"");
}

TEST(QuoteTest, KeepsUtf8) { EXPECT_EQ(Quote("héllo"), "\"héllo\""); }

TEST(QuoteTest, TruncatesLongTextWithoutSplittingUtf8) {
  EXPECT_EQ(Quote("abcdefghij", 8), "\"abcde...\"");
  // "é" is two bytes; the cut falls inside it and backs off.
  EXPECT_EQ(Quote("abcdéfghij", 8), "\"abcd...\"");
  EXPECT_EQ(Quote("abcdefgh", 8), "\"abcdefgh\"");
}

TEST(EditDistanceTest, CountsEditsAndTranspositions) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("cpu", "cpus"), 1u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("memroy", "memory"), 1u);
  EXPECT_EQ(EditDistance("abc", "abc"), 0u);
}

TEST(ClosestMatchTest, SuggestsLikelyTypos) {
  const std::vector<std::string> fields = {"cpus", "memory", "gpus",
                                           "allowed_serialization",
                                           "allowedSerialization"};
  EXPECT_EQ(ClosestMatch("cpu", fields), "cpus");
  EXPECT_EQ(ClosestMatch("memroy", fields), "memory");
  EXPECT_EQ(ClosestMatch("Memory", fields), "memory");
  EXPECT_EQ(ClosestMatch("allowed-serialization", fields),
            "allowed_serialization");
  EXPECT_EQ(ClosestMatch("AllowedSerialization", fields),
            "allowed_serialization");
  EXPECT_EQ(ClosestMatch("allowedSerialisation", fields),
            "allowedSerialization");
}

TEST(ClosestMatchTest, StaysQuietWhenNothingIsClose) {
  const std::vector<std::string> fields = {"cpus", "memory", "gpus"};
  EXPECT_EQ(ClosestMatch("xyz", fields), "");
  EXPECT_EQ(ClosestMatch("", fields), "");
  EXPECT_EQ(ClosestMatch("image", fields), "");
  EXPECT_EQ(ClosestMatch("cpu", {}), "");
  // Short words allow one edit only.
  EXPECT_EQ(ClosestMatch("gp", {"gpus"}), "");
}

TEST(ClosestMatchTest, TiesGoToTheEarlierCandidate) {
  EXPECT_EQ(ClosestMatch("cpux", {"cpus", "cpuy"}), "cpus");
}

}  // namespace
}  // namespace tether
