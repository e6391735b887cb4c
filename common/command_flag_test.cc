#include "common/command_flag.h"

#include "gtest/gtest.h"

namespace tether {
namespace {

TEST(CommandFlagTest, RoundTripsArgumentsWithSpacesAndQuotes) {
  const std::vector<std::string> command = {"sh", "-c", "echo \"a, b\""};
  absl::StatusOr<std::vector<std::string>> decoded =
      DecodeCommand("app_command", EncodeCommand(command));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, command);
  EXPECT_TRUE(DecodeCommand("app_command", "")->empty());
}

TEST(CommandFlagTest, RefusesWhatIsNotAListOfStrings) {
  for (const char* text : {"kill -HUP 1", "[]", "[\"a\", 1]", "{}", "[\"a\""}) {
    const absl::Status status = DecodeCommand("reload_command", text).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_EQ(status.message().rfind("--reload_command must be", 0), 0u)
        << status;
  }
}

}  // namespace
}  // namespace tether
