#include "common/fault_point.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tether {
namespace {

// Each EXPECT_EXIT runs in a fresh child, which reads the variable anew.
TEST(FaultPointTest, KillsOnlyAtTheNamedPointAndOnceWithAMarker) {
  const std::string marker =
      absl::StrCat(getenv("TEST_TMPDIR"), "/fault_point_fired");
  setenv("TETHER_FAULT_POINT", absl::StrCat("here:", marker).c_str(), 1);
  EXPECT_EXIT(
      {
        FaultPoint("elsewhere");
        _exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  EXPECT_NE(access(marker.c_str(), F_OK), 0);
  EXPECT_EXIT(FaultPoint("here"), ::testing::KilledBySignal(SIGKILL),
              "fault point here: SIGKILL");
  EXPECT_EQ(access(marker.c_str(), F_OK), 0);
  // The marker says it fired: a restarted process runs on.
  EXPECT_EXIT(
      {
        FaultPoint("here");
        _exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(FaultPointTest, WithoutAMarkerKillsEveryTime) {
  setenv("TETHER_FAULT_POINT", "here", 1);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EXIT(FaultPoint("here"), ::testing::KilledBySignal(SIGKILL), "");
  }
}

}  // namespace
}  // namespace tether
