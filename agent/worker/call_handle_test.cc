#include "agent/worker/call_handle.h"

#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace tether::agent {
namespace {

// Records what reaches the worker side.
class RecordingTarget final : public CallHandle::Target {
 public:
  void CancelCall(uint64_t id) override { cancels.push_back(id); }
  void GrantCall(uint64_t id, uint32_t items) override {
    grants.emplace_back(id, items);
  }
  std::vector<uint64_t> cancels;
  std::vector<std::pair<uint64_t, uint32_t>> grants;
};

TEST(CallHandleTest, ReachesTheCallWhileItRuns) {
  RecordingTarget target;
  CallHandle handle;
  handle.Attach(&target, 7);
  handle.GrantCredit(3);
  handle.Cancel();
  handle.Cancel();        // Once is enough.
  handle.GrantCredit(1);  // A cancelled call needs no credit.
  EXPECT_EQ(target.grants,
            (std::vector<std::pair<uint64_t, uint32_t>>{{7, 3}}));
  EXPECT_EQ(target.cancels, std::vector<uint64_t>{7});
  EXPECT_TRUE(handle.cancelled());
}

TEST(CallHandleTest, ACancelBeforeTheCallStartedIsAppliedWhenItDoes) {
  RecordingTarget target;
  CallHandle handle;
  handle.Cancel();
  EXPECT_TRUE(target.cancels.empty());
  handle.Attach(&target, 9);
  EXPECT_EQ(target.cancels, std::vector<uint64_t>{9});
}

TEST(CallHandleTest, NothingReachesACompletedCall) {
  RecordingTarget target;
  CallHandle handle;
  handle.Attach(&target, 4);
  handle.Detach();
  handle.Cancel();
  handle.GrantCredit(2);
  // A call that completed before its sender attached stays detached.
  CallHandle early;
  early.Detach();
  early.Attach(&target, 5);
  early.Cancel();
  EXPECT_TRUE(target.cancels.empty());
  EXPECT_TRUE(target.grants.empty());
}

}  // namespace
}  // namespace tether::agent
