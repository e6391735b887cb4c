#ifndef TETHER_COMMON_GRPC_STATUS_H_
#define TETHER_COMMON_GRPC_STATUS_H_

// The one place where absl::Status and grpc::Status meet: logic returns
// absl::Status, RPC classes convert at the edge.

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace tether {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace tether

#endif  // TETHER_COMMON_GRPC_STATUS_H_
