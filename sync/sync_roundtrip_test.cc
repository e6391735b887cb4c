// CLI -> tetherd -> agent over real gRPC on 127.0.0.1:0: UploadTree into a
// FileCodeStore through SyncCodeSession, PullRevision out of it through
// PullCodeSession, with test-only services as thin as tetherd's should be.

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "common/sha256.h"
#include "controlplane/code/file_code_store.h"
#include "controlplane/code/pull_code_session.h"
#include "controlplane/code/sync_code_session.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sync/code_puller.h"
#include "sync/revision_builder.h"
#include "sync/tree.h"
#include "sync/uploader.h"
#include "tether/v1/agent.grpc.pb.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether {
namespace {

using ::tether::v1::PullCodeRequest;
using ::tether::v1::PullCodeResponse;
using ::tether::v1::SyncCodeRequest;
using ::tether::v1::SyncCodeResponse;
using ::tether::v1::Tree;

std::string TempDir(const std::string& name) {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/" + name + ".XXXXXX";
  return mkdtemp(tmpl.data());
}

void Write(const std::string& root, const std::string& rel,
           const std::string& contents, mode_t mode = 0644) {
  const std::string path = root + "/" + rel;
  ASSERT_TRUE(MakeDirs(path.substr(0, path.rfind('/'))).ok());
  ASSERT_TRUE(WriteFileAtomically(path, contents).ok());
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

ino_t Inode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

// Deterministic bytes that do not compress to a pattern.
std::string Noise(size_t size) {
  std::string out(size, '\0');
  uint32_t x = 12345;
  for (char& c : out) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

std::string Authorization(const grpc::ServerContext& context) {
  auto it = context.client_metadata().find("authorization");
  if (it == context.client_metadata().end()) return "";
  return std::string(it->second.data(), it->second.size());
}

class TestControlPlane final : public tether::v1::ControlPlane::Service {
 public:
  explicit TestControlPlane(CodeStore* store) : store_(store) {}

  grpc::Status SyncCode(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<SyncCodeResponse, SyncCodeRequest>* stream)
      override {
    {
      absl::MutexLock lock(&mu_);
      authorization_ = Authorization(*context);
    }
    SyncCodeSession session(store_, SyncLimits());
    SyncCodeRequest request;
    while (stream->Read(&request)) {
      auto response = session.OnRequest(request);
      if (!response.ok()) return ToGrpcStatus(response.status());
      if (response->has_value() && !stream->Write(**response)) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      }
    }
    if (!session.done()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "ended before commit");
    }
    return grpc::Status::OK;
  }

  std::string authorization() {
    absl::MutexLock lock(&mu_);
    return authorization_;
  }

 private:
  CodeStore* const store_;
  absl::Mutex mu_;
  std::string authorization_ ABSL_GUARDED_BY(mu_);
};

class TestAgentGateway final : public tether::v1::AgentGateway::Service {
 public:
  explicit TestAgentGateway(const CodeStore* store) : store_(store) {}

  grpc::Status PullCode(grpc::ServerContext* context,
                        const PullCodeRequest* request,
                        grpc::ServerWriter<PullCodeResponse>* writer) override {
    ++pulls_;
    {
      absl::MutexLock lock(&mu_);
      authorization_ = Authorization(*context);
    }
    PullCodeSession session(store_, *request);
    absl::Status status = session.Start();
    if (!status.ok()) return ToGrpcStatus(status);
    PullCodeResponse response;
    while (true) {
      absl::StatusOr<bool> more = session.Next(&response);
      if (!more.ok()) return ToGrpcStatus(more.status());
      if (!*more) return grpc::Status::OK;
      if (response.has_chunk()) ++chunks_;
      if (!writer->Write(response)) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      }
    }
  }

  int pulls() const { return pulls_; }
  int chunks() const { return chunks_; }
  std::string authorization() {
    absl::MutexLock lock(&mu_);
    return authorization_;
  }

 private:
  const CodeStore* const store_;
  std::atomic<int> pulls_{0};
  std::atomic<int> chunks_{0};
  absl::Mutex mu_;
  std::string authorization_ ABSL_GUARDED_BY(mu_);
};

class SyncRoundTripTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = FileCodeStore::Create({TempDir("store")});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    control_plane_ = std::make_unique<TestControlPlane>(store_.get());
    gateway_ = std::make_unique<TestAgentGateway>(store_.get());
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(control_plane_.get());
    builder.RegisterService(gateway_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                       grpc::InsecureChannelCredentials());
    control_plane_stub_ = tether::v1::ControlPlane::NewStub(channel);
    gateway_stub_ = tether::v1::AgentGateway::NewStub(channel);

    Write(src_, "main.py", "import pkg.util\nprint(pkg.util.f())\n");
    Write(src_, "dup.py", "import pkg.util\nprint(pkg.util.f())\n");
    Write(src_, "pkg/__init__.py", "");
    Write(src_, "pkg/util.py", "def f():\n    return 1\n");
    Write(src_, "pkg/data.bin", Noise((3 << 20) + 17));  // Four chunks.
    Write(src_, "bin/run.sh", "#!/bin/sh\nexec python3 main.py\n", 0755);
    ASSERT_EQ(symlink("pkg/util.py", (src_ + "/util_link.py").c_str()), 0);
    Write(src_, ".gitignore", "*.log\n");
    Write(src_, "debug.log", "ignored");
    Write(src_, "pkg/__pycache__/util.cpython-311.pyc", "ignored");
    Write(src_, ".git/HEAD", "ref: refs/heads/main\n");
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  absl::StatusOr<UploadResult> Upload(UploadOptions options = {}) {
    return UploadTree(*control_plane_stub_, src_, options);
  }

  absl::StatusOr<std::string> Pull(const std::string& revision) {
    return PullRevision(*gateway_stub_, workdir_, revision, nullptr);
  }

  std::unique_ptr<FileCodeStore> store_;
  std::unique_ptr<TestControlPlane> control_plane_;
  std::unique_ptr<TestAgentGateway> gateway_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<tether::v1::ControlPlane::Stub> control_plane_stub_;
  std::unique_ptr<tether::v1::AgentGateway::Stub> gateway_stub_;
  const std::string src_ = TempDir("src");
  const std::string workdir_ = TempDir("agent");
};

TEST_F(SyncRoundTripTest, TreeArrivesByteForByte) {
  absl::StatusOr<UploadResult> upload = Upload();
  ASSERT_TRUE(upload.ok()) << upload.status();
  const absl::StatusOr<Tree> source = ScanTree(src_, {});
  ASSERT_TRUE(source.ok());
  const std::string revision = TreeId(*source);
  EXPECT_EQ(upload->result.revision(), revision);
  EXPECT_EQ(upload->files, 7u);  // With .gitignore; main.py == dup.py.
  EXPECT_EQ(upload->blobs_sent, 6u);
  EXPECT_EQ(upload->result.files_received(), 6u);
  EXPECT_GT(upload->bytes_sent, (3u << 20));
  EXPECT_GT(upload->bytes_received, 0u);
  EXPECT_TRUE(*store_->HasRevision(revision));

  absl::StatusOr<std::string> dir = Pull(revision);
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(*dir, RevisionDir(workdir_, revision));
  EXPECT_EQ(*CurrentRevision(workdir_), revision);
  // Same paths, kinds, modes, sizes and bytes: the agent's scan hashes to
  // the same revision.
  const absl::StatusOr<Tree> pulled = ScanTree(*dir, {});
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->SerializeAsString(), source->SerializeAsString());
  EXPECT_EQ(*ReadFile(*dir + "/pkg/data.bin"), Noise((3 << 20) + 17));
  EXPECT_EQ(*ReadFile(*dir + "/util_link.py"), "def f():\n    return 1\n");
  struct stat st;
  EXPECT_NE(lstat((*dir + "/debug.log").c_str(), &st), 0);
  EXPECT_NE(lstat((*dir + "/.git").c_str(), &st), 0);
  EXPECT_NE(lstat((*dir + "/pkg/__pycache__").c_str(), &st), 0);
  ASSERT_EQ(lstat((*dir + "/bin/run.sh").c_str(), &st), 0);
  EXPECT_NE(st.st_mode & S_IXUSR, 0u);
}

TEST_F(SyncRoundTripTest, SecondUploadSendsNoBlobs) {
  absl::StatusOr<UploadResult> first = Upload();
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<UploadResult> second = Upload();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->result.revision(), first->result.revision());
  EXPECT_EQ(second->blobs_sent, 0u);
  EXPECT_EQ(second->result.files_received(), 0u);
  EXPECT_EQ(second->result.bytes_received(), 0u);
  EXPECT_LT(second->bytes_sent, 4096u);  // Manifest and commit only.
}

TEST_F(SyncRoundTripTest, EditSendsOnlyThatBlobAndAgentLinksTheRest) {
  absl::StatusOr<UploadResult> first = Upload();
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::string> first_dir = Pull(first->result.revision());
  ASSERT_TRUE(first_dir.ok()) << first_dir.status();
  const int chunks_before = gateway_->chunks();

  Write(src_, "pkg/util.py", "def f():\n    return 2\n");
  absl::StatusOr<UploadResult> second = Upload();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->result.revision(), first->result.revision());
  EXPECT_EQ(second->blobs_sent, 1u);
  EXPECT_EQ(second->result.files_received(), 1u);
  EXPECT_EQ(second->result.bytes_received(), 22u);

  absl::StatusOr<std::string> second_dir = Pull(second->result.revision());
  ASSERT_TRUE(second_dir.ok()) << second_dir.status();
  EXPECT_EQ(gateway_->chunks() - chunks_before, 1);
  EXPECT_EQ(*ReadFile(*second_dir + "/pkg/util.py"),
            "def f():\n    return 2\n");
  EXPECT_EQ(*ReadFile(*first_dir + "/pkg/util.py"), "def f():\n    return 1\n");
  for (const char* unchanged :
       {"main.py", "dup.py", "pkg/data.bin", "bin/run.sh", "pkg/__init__.py"}) {
    EXPECT_EQ(Inode(*second_dir + "/" + unchanged),
              Inode(*first_dir + "/" + unchanged))
        << unchanged;
  }
  EXPECT_EQ(*CurrentRevision(workdir_), second->result.revision());
}

TEST_F(SyncRoundTripTest, CurrentOrBuiltRevisionNeedsNoRpc) {
  absl::StatusOr<UploadResult> first = Upload();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(Pull(first->result.revision()).ok());
  Write(src_, "main.py", "print('v2')\n");
  absl::StatusOr<UploadResult> second = Upload();
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(Pull(second->result.revision()).ok());
  const int pulls = gateway_->pulls();

  ASSERT_TRUE(Pull(second->result.revision()).ok());  // Already current.
  absl::StatusOr<std::string> rollback = Pull(first->result.revision());
  ASSERT_TRUE(rollback.ok()) << rollback.status();
  EXPECT_EQ(gateway_->pulls(), pulls);
  EXPECT_EQ(*CurrentRevision(workdir_), first->result.revision());
}

TEST_F(SyncRoundTripTest, DecorateAddsMetadata) {
  UploadOptions options;
  options.decorate = [](grpc::ClientContext& context) {
    context.AddMetadata("authorization", "Bearer cli-token");
  };
  absl::StatusOr<UploadResult> upload = Upload(options);
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_EQ(control_plane_->authorization(), "Bearer cli-token");
  ASSERT_TRUE(PullRevision(*gateway_stub_, workdir_, upload->result.revision(),
                           [](grpc::ClientContext& context) {
                             context.AddMetadata("authorization",
                                                 "Bearer agent-token");
                           })
                  .ok());
  EXPECT_EQ(gateway_->authorization(), "Bearer agent-token");
}

TEST_F(SyncRoundTripTest, UnknownRevisionIsNotFoundAndKeepsCurrent) {
  absl::StatusOr<UploadResult> upload = Upload();
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE(Pull(upload->result.revision()).ok());
  EXPECT_EQ(Pull(std::string(64, 'e')).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Pull("bogus").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*CurrentRevision(workdir_), upload->result.revision());
}

TEST_F(SyncRoundTripTest, FileChangedAfterScanIsAbortedAndNothingStored) {
  absl::StatusOr<Tree> tree = ScanTree(src_, {});
  ASSERT_TRUE(tree.ok());
  Write(src_, "pkg/util.py", "def f():\n    return 9\n");  // Same size.
  absl::StatusOr<UploadResult> upload =
      UploadScannedTree(*control_plane_stub_, src_, *tree, {});
  EXPECT_EQ(upload.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(upload.status().message(), ::testing::HasSubstr("pkg/util.py"));
  EXPECT_FALSE(*store_->HasRevision(TreeId(*tree)));
  EXPECT_FALSE(*store_->HasBlob(Sha256Of("def f():\n    return 1\n")));
}

}  // namespace
}  // namespace tether
