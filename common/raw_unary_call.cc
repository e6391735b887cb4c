#include "common/raw_unary_call.h"

#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace tether {

grpc::Status RawUnaryCall(
    const std::shared_ptr<grpc::ChannelInterface>& channel,
    grpc::ClientContext& context, const std::string& method,
    absl::string_view request, std::string* response) {
  grpc::GenericStub stub(channel);
  grpc::Slice slice(request.data(), request.size());
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (response != nullptr) {
    response->clear();
    std::vector<grpc::Slice> slices;
    if (response_buffer.Dump(&slices).ok()) {
      for (const grpc::Slice& part : slices) {
        response->append(reinterpret_cast<const char*>(part.begin()),
                         part.size());
      }
    }
  }
  return status;
}

}  // namespace tether
