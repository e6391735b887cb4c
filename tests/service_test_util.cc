#include "tests/service_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sync/uploader.h"

namespace tether::testing {

std::string UploadDir(TetherdClient& tetherd, const std::string& dir) {
  absl::StatusOr<sync::UploadResult> uploaded =
      sync::UploadTree(tetherd.stub(), dir, sync::UploadOptions());
  EXPECT_TRUE(uploaded.ok()) << uploaded.status();
  return uploaded.ok() ? uploaded->result.revision() : "";
}

tether::v1::ServiceSpec PythonSpec(const std::string& name,
                                   const std::string& callable, int replicas) {
  tether::v1::ServiceSpec spec;
  spec.set_name(name);
  spec.mutable_compute()->set_replicas(replicas);
  spec.mutable_callable()->set_module("app");
  spec.mutable_callable()->set_name(callable);
  return spec;
}

std::string CallService(TetherdClient& tetherd, const std::string& service,
                        const std::string& payload,
                        tether::v1::CallRequest::Target target) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  tether::v1::CallRequest request;
  request.set_service(service);
  request.set_payload(payload);
  request.set_target(target);
  tether::v1::CallResponse response;
  const grpc::Status status = tetherd.stub().Call(&context, request, &response);
  if (!status.ok()) {
    return absl::StrCat("error ", status.error_code(), ": ",
                        status.error_message());
  }
  if (response.results_size() == 0) return "no results";
  const tether::v1::CallResult& result = response.results(0);
  if (result.has_error()) {
    return absl::StrCat("raised ", result.error().type(), ": ",
                        result.error().message());
  }
  return result.payload();
}

std::string ReplicaDir(const TetherdClient& tetherd,
                       const std::string& replica) {
  return absl::StrCat(tetherd.state_dir(), "/replicas/", replica);
}

pid_t AgentPid(const TetherdClient& tetherd, const std::string& replica) {
  absl::StatusOr<std::string> text =
      ReadFile(ReplicaDir(tetherd, replica) + "/agent.pid");
  int pid = -1;
  if (!text.ok() ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid)) {
    return -1;
  }
  return pid;
}

}  // namespace tether::testing
