#include "common/status_macros.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace tether {
namespace {

absl::Status FailIf(bool fail) {
  return fail ? absl::NotFoundError("gone") : absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<std::string>> MakeText(bool fail) {
  if (fail) return absl::InvalidArgumentError("bad text");
  return std::make_unique<std::string>("text");
}

absl::Status Chain(bool fail_first, bool fail_second, int* reached) {
  RETURN_IF_ERROR(FailIf(fail_first));
  *reached = 1;
  RETURN_IF_ERROR(FailIf(fail_second));
  *reached = 2;
  return absl::OkStatus();
}

absl::StatusOr<std::string> Assign(bool fail) {
  // A move-only value, and two uses on neighbouring lines.
  ASSIGN_OR_RETURN(std::unique_ptr<std::string> text, MakeText(fail));
  std::string copy;
  ASSIGN_OR_RETURN(auto again, MakeText(false));
  copy = *again;
  return *text + "+" + copy;
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtTheFirstError) {
  int reached = 0;
  EXPECT_TRUE(Chain(false, false, &reached).ok());
  EXPECT_EQ(reached, 2);
  reached = 0;
  EXPECT_EQ(Chain(true, false, &reached).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reached, 0);
  EXPECT_EQ(Chain(false, true, &reached).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reached, 1);
}

TEST(StatusMacrosTest, AssignOrReturnMovesTheValueOrReturnsTheStatus) {
  absl::StatusOr<std::string> ok = Assign(false);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "text+text");
  absl::StatusOr<std::string> failed = Assign(true);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(failed.status().message(), "bad text");
}

}  // namespace
}  // namespace tether
