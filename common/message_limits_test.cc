#include "common/message_limits.h"

#include <climits>
#include <cstdint>

#include "gtest/gtest.h"

namespace tether {
namespace {

TEST(MaxMessageBytesTest, PayloadPlusOneMebibyte) {
  EXPECT_EQ(MaxMessageBytes(64 << 20), (64 << 20) + (1 << 20));
  EXPECT_EQ(MaxMessageBytes(0), 1 << 20);
}

TEST(MaxMessageBytesTest, CappedAtIntMax) {
  EXPECT_EQ(MaxMessageBytes(INT32_MAX), INT_MAX);
  EXPECT_EQ(MaxMessageBytes(int64_t{1} << 40), INT_MAX);
}

}  // namespace
}  // namespace tether
