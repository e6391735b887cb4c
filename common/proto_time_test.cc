#include "common/proto_time.h"

#include "gtest/gtest.h"

namespace tether {
namespace {

TEST(ToProtoTimestampTest, KeepsSecondsAndNanoseconds) {
  const google::protobuf::Timestamp stamp = ToProtoTimestamp(
      absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(42));
  EXPECT_EQ(stamp.seconds(), 1700000000);
  EXPECT_EQ(stamp.nanos(), 42);
}

TEST(ProtoTimeTest, RoundTrips) {
  const absl::Time time =
      absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(42);
  EXPECT_EQ(FromProtoTimestamp(ToProtoTimestamp(time)), time);
}

}  // namespace
}  // namespace tether
