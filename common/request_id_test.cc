#include "common/request_id.h"

#include "gtest/gtest.h"

namespace tether {
namespace {

TEST(RequestIdTest, SixteenHexDigitsAndFresh) {
  const std::string id = NewRequestId();
  ASSERT_EQ(id.size(), 16u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(NewRequestId(), id);
}

}  // namespace
}  // namespace tether
