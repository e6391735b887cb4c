#include "common/proto_time.h"

#include "google/protobuf/util/time_util.h"

namespace tether {

google::protobuf::Timestamp ToProtoTimestamp(absl::Time time) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      absl::ToUnixNanos(time));
}

}  // namespace tether
