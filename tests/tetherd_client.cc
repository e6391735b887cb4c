#include "tests/tetherd_client.h"

#include <stdlib.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "grpcpp/grpcpp.h"

namespace tether::testing {

std::string TetherdClient::ServiceToken(const std::string& service) {
  grpc::ClientContext context;
  tether::v1::WatchEndpointsRequest request;
  request.set_service(service);
  auto reader = stub_->WatchEndpoints(&context, request);
  tether::v1::Endpoints endpoints;
  const bool got = reader->Read(&endpoints);
  context.TryCancel();
  reader->Finish();
  return got ? endpoints.token() : "";
}

grpc::Status TetherdClient::Deploy(
    const tether::v1::ServiceSpec& spec, const std::string& revision,
    std::vector<tether::v1::DeployEvent>* events) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  tether::v1::DeployRequest request;
  *request.mutable_spec() = spec;
  request.set_revision(revision);
  auto reader = stub_->Deploy(&context, request);
  tether::v1::DeployEvent event;
  while (reader->Read(&event)) {
    if (events != nullptr) events->push_back(event);
  }
  return reader->Finish();
}

void TetherdClient::Connect(std::string address) {
  address_ = std::move(address);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      GrpcChannelCredentials(tls_);
  TETHER_CHECK(credentials.ok()) << credentials.status();
  channel_ = grpc::CreateChannel(address_, *credentials);
  stub_ = tether::v1::ControlPlane::NewStub(channel_);
}

void TetherdClient::UseTls(const TlsFiles& tls) {
  tls_ = tls;
  Connect(address_);
}

std::string NewTempDir(const std::string& prefix) {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl =
      absl::StrCat(base != nullptr ? base : "/tmp", "/", prefix, ".XXXXXX");
  return mkdtemp(tmpl.data());
}

void WriteTree(const std::string& dir,
               const std::vector<std::pair<std::string, std::string>>& files) {
  for (const auto& [path, contents] : files) {
    const std::string full = absl::StrCat(dir, "/", path);
    (void)MakeDirs(full.substr(0, full.rfind('/')));
    (void)WriteFileAtomically(full, contents);
  }
}

}  // namespace tether::testing
