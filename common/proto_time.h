#ifndef TETHER_COMMON_PROTO_TIME_H_
#define TETHER_COMMON_PROTO_TIME_H_

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace tether {

/// `time` as a protobuf Timestamp (nanosecond precision). Thread-safe.
google::protobuf::Timestamp ToProtoTimestamp(absl::Time time);

/// `timestamp` as an absl::Time. Thread-safe.
absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& timestamp);

}  // namespace tether

#endif  // TETHER_COMMON_PROTO_TIME_H_
