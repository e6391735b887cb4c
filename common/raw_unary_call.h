#ifndef TETHER_COMMON_RAW_UNARY_CALL_H_
#define TETHER_COMMON_RAW_UNARY_CALL_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace grpc {
class ChannelInterface;
class ClientContext;
}  // namespace grpc

namespace tether {

/// Calls `method` ("/package.Service/Method") on `channel` with `request`
/// as the serialized message and blocks for the answer, whose bytes go to
/// `response` when it is set. For messages no generated stub here has
/// (grpc.health.v1) and for sending bytes as they are (tests).
grpc::Status RawUnaryCall(
    const std::shared_ptr<grpc::ChannelInterface>& channel,
    grpc::ClientContext& context, const std::string& method,
    absl::string_view request, std::string* response = nullptr);

}  // namespace tether

#endif  // TETHER_COMMON_RAW_UNARY_CALL_H_
