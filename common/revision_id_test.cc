#include "common/revision_id.h"

#include "gtest/gtest.h"

namespace tether {
namespace {

TEST(ShortRevisionTest, KeepsTwelveCharacters) {
  EXPECT_EQ(ShortRevision("abc123def4567890"), "abc123def456");
}

TEST(ShortRevisionTest, ShortIdsComeBackWhole) {
  EXPECT_EQ(ShortRevision("abc"), "abc");
  EXPECT_EQ(ShortRevision(""), "");
}

}  // namespace
}  // namespace tether
