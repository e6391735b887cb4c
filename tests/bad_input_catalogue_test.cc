// The bad-input catalogue: one row per hostile input to an RPC or a file
// Tether reads (service files, templates, token files, kubeconfigs, TLS
// files), every AdmissionReview the injector answers and every frame a
// worker sends its agent, with the status it must get, and after every row
// a check that nothing changed in tetherd's state (records, code store).
// Rows are data: add one for every new RPC, field or file.
//
// Parsers are also fuzzed (sync/fuzz, sidecar/fuzz, ...); this table pins
// the precise answer users and attackers get.

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/worker/frame_io.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "common/raw_unary_call.h"
#include "common/sha256.h"
#include "common/tls.h"
#include "controlplane/api_tokens.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kube/kube_config.h"
#include "kube/merge.h"
#include "servicespec/service_file.h"
#include "sidecar/admission.h"
#include "sidecar/test_config.h"
#include "tests/in_process_tetherd.h"
#include "tests/service_test_util.h"
#include "tether/v1/agent.grpc.pb.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {
namespace {

using tether::v1::ServiceSpec;
using tether::v1::SyncCodeRequest;

// Every file under `dir` but the replicas' own work dirs, with a digest of
// its contents: what a bad input must not change.
void Snapshot(const std::string& dir, const std::string& relative,
              std::map<std::string, std::string>& files) {
  absl::StatusOr<std::vector<std::string>> entries = ListDir(dir);
  if (!entries.ok()) return;
  for (const std::string& entry : *entries) {
    const std::string path = absl::StrCat(dir, "/", entry);
    const std::string name = absl::StrCat(relative, entry);
    if (name == "replicas") continue;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      Snapshot(path, name + "/", files);
    } else {
      files[name] = ToHex(Sha256OfFile(path).value_or(""));
    }
  }
}

// Public: the rows reach the fixture through a reference.
class BadInputCatalogueTest : public ::testing::Test {
 public:
  void SetUp() override {
    controlplane::Tetherd::Options options;
    options.max_payload_bytes = 4096;
    auto tetherd = InProcessTetherd::Start(NewTempDir("state"), options);
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = *std::move(tetherd);
    const std::string code = NewTempDir("code");
    WriteTree(code, {{"app.py", "def greet(name):\n    return name\n"}});
    revision_ = UploadDir(*tetherd_, code);
    ASSERT_TRUE(tetherd_->Deploy(PythonSpec("good", "greet"), revision_).ok());
    gateway_ = tether::v1::AgentGateway::NewStub(grpc::CreateChannel(
        tetherd_->address(), grpc::InsecureChannelCredentials()));
    token_ = tetherd_->ServiceToken("good");
    grpc::ClientContext context;
    tether::v1::GetServiceRequest request;
    request.set_name("good");
    tether::v1::ServiceStatus status;
    ASSERT_TRUE(tetherd_->stub().GetService(&context, request, &status).ok());
    ASSERT_EQ(status.replicas_size(), 1);
    agent_ = tether::v1::Agent::NewStub(grpc::CreateChannel(
        status.replicas(0).address(), grpc::InsecureChannelCredentials()));
  }

  std::map<std::string, std::string> State() {
    std::map<std::string, std::string> files;
    Snapshot(tetherd_->state_dir(), "", files);
    return files;
  }

  grpc::Status Deploy(const ServiceSpec& spec,
                      const std::string& revision = "") {
    return tetherd_->Deploy(spec, revision.empty() ? revision_ : revision);
  }

  grpc::Status Call(const std::string& service, const std::string& payload,
                    tether::v1::Codec codec = tether::v1::CODEC_JSON) {
    grpc::ClientContext context;
    tether::v1::CallRequest request;
    request.set_service(service);
    request.set_payload(payload);
    request.set_codec(codec);
    tether::v1::CallResponse response;
    return tetherd_->stub().Call(&context, request, &response);
  }

  // Sends `steps` on one SyncCode stream and returns how it ended.
  grpc::Status Sync(const std::vector<SyncCodeRequest>& steps) {
    grpc::ClientContext context;
    auto stream = tetherd_->stub().SyncCode(&context);
    for (const SyncCodeRequest& step : steps) {
      if (!stream->Write(step)) break;
    }
    stream->WritesDone();
    tether::v1::SyncCodeResponse response;
    while (stream->Read(&response)) {
    }
    return stream->Finish();
  }

  grpc::Status Pull(const std::string& token, const std::string& revision) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    tether::v1::PullCodeRequest request;
    request.set_revision(revision);
    auto reader = gateway_->PullCode(&context, request);
    tether::v1::PullCodeResponse response;
    while (reader->Read(&response)) {
    }
    return reader->Finish();
  }

  // Agent.Invoke on the replica directly, as a direct caller would.
  grpc::Status Invoke(const std::string& token, const std::string& payload,
                      tether::v1::Codec codec = tether::v1::CODEC_JSON) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    tether::v1::InvokeRequest request;
    request.set_payload(payload);
    request.set_codec(codec);
    tether::v1::InvokeResponse response;
    return agent_->Invoke(&context, request, &response);
  }

  // Raw bytes as an OTLP metrics export, as any SDK would send them.
  grpc::Status Export(const std::string& bytes) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token_);
    return RawUnaryCall(
        tetherd_->channel(), context,
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        bytes);
  }

  std::unique_ptr<InProcessTetherd> tetherd_;
  std::unique_ptr<tether::v1::AgentGateway::Stub> gateway_;
  std::unique_ptr<tether::v1::Agent::Stub> agent_;
  std::string revision_;
  std::string token_;
};

// A manifest of one file `path` holding "abc".
SyncCodeRequest Manifest(
    const std::string& path,
    tether::v1::TreeEntry::Kind kind = tether::v1::TreeEntry::KIND_FILE,
    const std::string& link_target = "") {
  SyncCodeRequest step;
  tether::v1::TreeEntry* entry = step.mutable_manifest()->add_entries();
  entry->set_path(path);
  entry->set_kind(kind);
  entry->set_mode(0644);
  entry->set_size(kind == tether::v1::TreeEntry::KIND_FILE ? 3 : 0);
  if (kind == tether::v1::TreeEntry::KIND_FILE) {
    entry->set_sha256(Sha256Of("abc"));
  }
  entry->set_link_target(link_target);
  return step;
}

SyncCodeRequest Chunk(const std::string& data) {
  SyncCodeRequest step;
  step.mutable_chunk()->set_sha256(Sha256Of("abc"));
  step.mutable_chunk()->set_data(data);
  return step;
}

SyncCodeRequest Commit() {
  SyncCodeRequest step;
  step.mutable_commit();
  return step;
}

ServiceSpec Named(const std::string& name) { return PythonSpec(name, "greet"); }

// A file Tether reads, as a status.
absl::Status ServiceFile(const std::string& yaml) {
  return servicespec::ParseServiceFile(yaml, "service.yaml").status();
}

// An AdmissionReview as the injector answers it: a denial as
// PERMISSION_DENIED with its message.
absl::Status Review(const std::string& body) {
  absl::StatusOr<nlohmann::json> review =
      sidecar::ReviewAdmission(body, sidecar::TestInjectorConfig());
  if (!review.ok()) return review.status();
  const nlohmann::json& response = (*review)["response"];
  if (response.value("allowed", false)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      response["status"].value("message", std::string()));
}

// A Pod CREATE review of `pod`.
std::string PodReview(const nlohmann::json& pod) {
  return nlohmann::json({{"apiVersion", "admission.k8s.io/v1"},
                         {"kind", "AdmissionReview"},
                         {"request",
                          {{"uid", "u"},
                           {"kind", {{"version", "v1"}, {"kind", "Pod"}}},
                           {"operation", "CREATE"},
                           {"object", pod}}}})
      .dump();
}

// What an agent's FrameReader makes of `bytes` from a worker.
absl::Status WorkerFrame(const std::string& bytes) {
  int fds[2];
  if (pipe(fds) != 0) return absl::InternalError("pipe");
  (void)agent::WriteAll(fds[1], bytes);
  close(fds[1]);
  agent::FrameReader reader(fds[0]);
  absl::string_view frame;
  absl::Status status = reader.Read(&frame);
  close(fds[0]);
  return status;
}

struct Row {
  std::string input;
  std::function<absl::Status(BadInputCatalogueTest&)> send;
  absl::StatusCode code;
  // Part of the message the caller reads.
  std::string says;
};

TEST_F(BadInputCatalogueTest, EveryHostileInputGetsItsStatusAndChangesNothing) {
  using Code = absl::StatusCode;
  using T = BadInputCatalogueTest;
  const std::string other_revision(64, 'e');
  const std::vector<Row> rows = {
      // ControlPlane.Deploy
      {"Deploy: a name that is not a DNS label",
       [](T& t) { return FromGrpcStatus(t.Deploy(Named("Bad_Name"))); },
       Code::kInvalidArgument, "name:"},
      {"Deploy: a namespace that is not a DNS label",
       [](T& t) {
         ServiceSpec spec = Named("ns");
         spec.set_namespace_("Team_A");
         return FromGrpcStatus(t.Deploy(spec));
       },
       Code::kInvalidArgument, "namespace: \"Team_A\""},
      {"Deploy: a name taken in another namespace",
       [](T& t) {
         ServiceSpec spec = Named("good");
         spec.set_namespace_("team-b");
         return FromGrpcStatus(t.Deploy(spec));
       },
       Code::kAlreadyExists, "already exists in namespace default"},
      {"Deploy: a negative memory request",
       [](T& t) {
         ServiceSpec spec = Named("mem");
         spec.mutable_compute()->set_memory("-1Gi");
         return FromGrpcStatus(t.Deploy(spec));
       },
       Code::kInvalidArgument, "compute.memory"},
      {"Deploy: a module path that climbs out",
       [](T& t) {
         ServiceSpec spec = Named("climb");
         spec.mutable_callable()->set_module("../etc");
         return FromGrpcStatus(t.Deploy(spec));
       },
       Code::kInvalidArgument, "callable.module"},
      {"Deploy: a revision nobody uploaded",
       [&](T& t) {
         return FromGrpcStatus(t.Deploy(Named("ghost"), other_revision));
       },
       Code::kNotFound, ""},
      {"Deploy: an app without a port",
       [](T& t) {
         ServiceSpec spec;
         spec.set_name("app");
         spec.mutable_app()->add_command("server");
         return FromGrpcStatus(t.Deploy(spec));
       },
       Code::kInvalidArgument, "app.port"},
      {"Deploy: a Kubernetes workload on the local backend",
       [](T& t) {
         ServiceSpec spec = Named("work");
         auto& fields =
             *spec.mutable_workload()->mutable_object()->mutable_fields();
         fields["apiVersion"].set_string_value("apps/v1");
         fields["kind"].set_string_value("Deployment");
         (*fields["metadata"].mutable_struct_value()->mutable_fields())["name"]
             .set_string_value("work");
         return FromGrpcStatus(t.Deploy(spec));
       },
       Code::kInvalidArgument, "workload:"},
      // ControlPlane.Call
      {"Call: an unknown service",
       [](T& t) { return FromGrpcStatus(t.Call("nope", "{}")); },
       Code::kNotFound, "nope"},
      {"Call: a payload over --max_payload_bytes",
       [](T& t) {
         return FromGrpcStatus(t.Call("good", std::string(5000, ' ')));
       },
       Code::kResourceExhausted, "limit of 4096"},
      {"Call: pickle to a service that does not allow it",
       [](T& t) {
         return FromGrpcStatus(t.Call("good", "x", tether::v1::CODEC_PICKLE));
       },
       Code::kPermissionDenied, "pickle"},
      // ScaleService, DeleteService, Logs
      {"ScaleService: negative replicas",
       [](T& t) {
         grpc::ClientContext context;
         tether::v1::ScaleServiceRequest request;
         request.set_name("good");
         request.set_replicas(-1);
         tether::v1::ServiceStatus status;
         return FromGrpcStatus(
             t.tetherd_->stub().ScaleService(&context, request, &status));
       },
       Code::kInvalidArgument, "replicas"},
      {"DeleteService: an unknown service",
       [](T& t) {
         grpc::ClientContext context;
         tether::v1::DeleteServiceRequest request;
         request.set_name("nope");
         tether::v1::DeleteServiceResponse response;
         return FromGrpcStatus(
             t.tetherd_->stub().DeleteService(&context, request, &response));
       },
       Code::kNotFound, "nope"},
      // ControlPlane.SyncCode
      {"SyncCode: a path that climbs out",
       [](T& t) { return FromGrpcStatus(t.Sync({Manifest("../escape.py")})); },
       Code::kInvalidArgument, "escape.py"},
      {"SyncCode: an absolute path",
       [](T& t) { return FromGrpcStatus(t.Sync({Manifest("/etc/passwd")})); },
       Code::kInvalidArgument, "/etc/passwd"},
      {"SyncCode: a symlink out of the tree",
       [](T& t) {
         return FromGrpcStatus(
             t.Sync({Manifest("link", tether::v1::TreeEntry::KIND_SYMLINK,
                              "../../etc/passwd")}));
       },
       Code::kInvalidArgument, "link"},
      {"SyncCode: a blob whose bytes are not its digest's",
       [](T& t) {
         return FromGrpcStatus(
             t.Sync({Manifest("a.py"), Chunk("xyz"), Commit()}));
       },
       Code::kDataLoss, ""},
      {"SyncCode: a blob longer than its manifest says",
       [](T& t) {
         return FromGrpcStatus(
             t.Sync({Manifest("a.py"), Chunk("abcdef"), Commit()}));
       },
       Code::kInvalidArgument, ""},
      {"SyncCode: a commit before any manifest",
       [](T& t) { return FromGrpcStatus(t.Sync({Commit()})); },
       Code::kFailedPrecondition, "must be the manifest"},
      // AgentGateway
      {"PullCode: another service's (or no) revision with a real token",
       [&](T& t) { return FromGrpcStatus(t.Pull(t.token_, other_revision)); },
       Code::kPermissionDenied, "own revisions"},
      {"PullCode: a made-up token",
       [](T& t) { return FromGrpcStatus(t.Pull("guess", t.revision_)); },
       Code::kUnauthenticated, ""},
      // Agent (direct calls)
      {"Agent.Invoke: no token",
       [](T& t) { return FromGrpcStatus(t.Invoke("", "{}")); },
       Code::kUnauthenticated, "token"},
      {"Agent.Invoke: another token",
       [](T& t) { return FromGrpcStatus(t.Invoke("guess", "{}")); },
       Code::kUnauthenticated, "token"},
      {"Agent.Invoke: a payload over the limit",
       [](T& t) {
         return FromGrpcStatus(t.Invoke(t.token_, std::string(5000, ' ')));
       },
       Code::kResourceExhausted, "limit of 4096"},
      {"Agent.Invoke: pickle where it is not allowed",
       [](T& t) {
         return FromGrpcStatus(
             t.Invoke(t.token_, "x", tether::v1::CODEC_PICKLE));
       },
       Code::kPermissionDenied, "pickle"},
      // OTLP metrics receiver
      {"OTLP Export: bytes that are not an export request",
       [](T& t) { return FromGrpcStatus(t.Export("\xff\xff\xff\xff")); },
       Code::kInvalidArgument, ""},
      // AdmissionReviews (tether-injector)
      {"AdmissionReview: not JSON",
       [](T&) { return Review("{\"apiVersion\": "); }, Code::kInvalidArgument,
       ""},
      {"AdmissionReview: a Pod CREATE without a uid",
       [](T&) {
         nlohmann::json review = nlohmann::json::parse(PodReview({}));
         review["request"].erase("uid");
         return Review(review.dump());
       },
       Code::kInvalidArgument, "uid"},
      {"AdmissionReview: an opted-in pod asking for an unknown mode",
       [](T&) {
         return Review(
             PodReview({{"metadata",
                         {{"name", "p"},
                          {"labels", {{"tether.dev/inject", "true"}}},
                          {"annotations",
                           {{"tether.dev/service", "s"},
                            {"tether.dev/inject-mode", "root"}}}}},
                        {"spec", {{"containers", {{{"name", "c"}}}}}}}));
       },
       Code::kPermissionDenied, "tether.dev/inject-mode"},
      // Worker frames (from the agent's own children)
      {"worker frame: a header announcing more than the maximum",
       [](T&) { return WorkerFrame(std::string("\xff\xff\xff\xff", 4)); },
       Code::kResourceExhausted, ""},
      {"worker frame: torn mid-frame",
       [](T&) { return WorkerFrame(std::string("\x10\0\0\0abc", 7)); },
       Code::kDataLoss, ""},
      // Templates (compute.service_template, PodTemplates)
      {"service_template: a $patch directive Kubernetes does not have",
       [](T&) {
         nlohmann::json base = {{"spec", nlohmann::json::object()}};
         return kube::MergeInto(base, {{"spec", {{"$patch", "explode"}}}}, {});
       },
       Code::kInvalidArgument, "$patch"},
      // Files Tether reads
      {"TLS certificate: a file that is not PEM",
       [](T&) {
         const std::string path = NewTempDir("tls") + "/tls.crt";
         (void)WriteFileAtomically(path, "not a certificate\n");
         return CheckTlsFiles({path, path, ""});
       },
       Code::kInvalidArgument, "tls.crt"},
      {"service.yaml: a YAML syntax error",
       [](T&) { return ServiceFile("name: [unclosed\n"); },
       Code::kInvalidArgument, "YAML syntax error"},
      {"service.yaml: an unknown field",
       [](T&) { return ServiceFile("name: a\nrm: -rf\n"); },
       Code::kInvalidArgument, "rm: unknown field"},
      {"service.yaml: a self-referencing alias",
       [](T&) { return ServiceFile("name: &a [*a]\n"); },
       Code::kInvalidArgument, ""},
      {"kubeconfig: not a kubeconfig",
       [](T&) {
         const std::string path = NewTempDir("kube") + "/config";
         (void)WriteFileAtomically(path, "clusters: 7\n");
         return kube::LoadKubeconfig(path).status();
       },
       Code::kInvalidArgument, ""},
      {"API token file: no token in it",
       [](T&) {
         const std::string path = NewTempDir("tokens") + "/tokens";
         (void)WriteFileAtomically(path, "# only a comment\n");
         controlplane::ApiTokens::Options options;
         options.file = path;
         return controlplane::ApiTokens::Create(options).status();
       },
       Code::kFailedPrecondition, "no token"},
      {"API token file: a malformed scope",
       [](T&) {
         const std::string path = NewTempDir("tokens") + "/tokens";
         (void)WriteFileAtomically(path, "ok\nsecret namespaces=a,,b\n");
         controlplane::ApiTokens::Options options;
         options.file = path;
         return controlplane::ApiTokens::Create(options).status();
       },
       Code::kFailedPrecondition, "line 2: namespaces= has an empty entry"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.input);
    const std::map<std::string, std::string> before = State();
    const absl::Status status = row.send(*this);
    EXPECT_EQ(status.code(), row.code) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), row.says)) << status;
    EXPECT_EQ(State(), before) << "the input changed tetherd's state";
  }
  // And the service that was there still answers.
  EXPECT_EQ(CallService(*tetherd_, "good", R"({"args": ["ok"]})"), "\"ok\"");
}

}  // namespace
}  // namespace tether::testing
