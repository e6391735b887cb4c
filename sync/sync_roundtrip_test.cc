// CLI -> tetherd -> agent over real gRPC on 127.0.0.1:0: UploadTree into a
// FileCodeStore through SyncCodeSession, PullRevision out of it through
// PullCodeSession, with test-only services as thin as tetherd's should be.
// Covers whole-file syncs and the delta paths: manifest diffs, deltas and
// appends from the CLI, deltas to agents, and what happens when any of
// them is wrong.

#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
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
#include "sync/delta_encoder.h"
#include "sync/manifest_diff.h"
#include "sync/revision_builder.h"
#include "sync/tree.h"
#include "sync/uploader.h"
#include "tether/v1/agent.grpc.pb.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::sync {
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
  explicit TestControlPlane(controlplane::CodeStore* store) : store_(store) {}

  grpc::Status SyncCode(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<SyncCodeResponse, SyncCodeRequest>* stream)
      override {
    {
      absl::MutexLock lock(&mu_);
      authorization_ = Authorization(*context);
    }
    controlplane::SyncCodeSession session(store_, controlplane::SyncLimits());
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
  controlplane::CodeStore* const store_;
  absl::Mutex mu_;
  std::string authorization_ ABSL_GUARDED_BY(mu_);
};

class TestAgentGateway final : public tether::v1::AgentGateway::Service {
 public:
  explicit TestAgentGateway(controlplane::CodeStore* store) : store_(store) {}

  grpc::Status PullCode(grpc::ServerContext* context,
                        const PullCodeRequest* request,
                        grpc::ServerWriter<PullCodeResponse>* writer) override {
    ++pulls_;
    {
      absl::MutexLock lock(&mu_);
      authorization_ = Authorization(*context);
    }
    controlplane::PullCodeSession session(store_, *request);
    absl::Status status = session.Start();
    if (!status.ok()) return ToGrpcStatus(status);
    PullCodeResponse response;
    while (true) {
      absl::StatusOr<bool> more = session.Next(&response);
      if (!more.ok()) return ToGrpcStatus(more.status());
      if (!*more) return grpc::Status::OK;
      if (response.has_chunk()) ++chunks_;
      if (response.has_delta()) ++delta_slices_;
      bytes_ += response.ByteSizeLong();
      if (!writer->Write(response)) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      }
    }
  }

  int pulls() const { return pulls_; }
  int chunks() const { return chunks_; }
  int delta_slices() const { return delta_slices_; }
  int64_t bytes() const { return bytes_; }
  std::string authorization() {
    absl::MutexLock lock(&mu_);
    return authorization_;
  }

 private:
  controlplane::CodeStore* const store_;
  std::atomic<int> pulls_{0};
  std::atomic<int> chunks_{0};
  std::atomic<int> delta_slices_{0};
  std::atomic<int64_t> bytes_{0};
  absl::Mutex mu_;
  std::string authorization_ ABSL_GUARDED_BY(mu_);
};

class SyncRoundTripTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = controlplane::FileCodeStore::Create({TempDir("store")});
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
    if (options.cache_dir.empty()) options.cache_dir = cache_dir_;
    return UploadTree(*control_plane_stub_, src_, options);
  }

  absl::StatusOr<std::string> Pull(const std::string& revision) {
    return PullRevision(*gateway_stub_, workdir_, revision, nullptr);
  }

  std::unique_ptr<controlplane::FileCodeStore> store_;
  std::unique_ptr<TestControlPlane> control_plane_;
  std::unique_ptr<TestAgentGateway> gateway_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<tether::v1::ControlPlane::Stub> control_plane_stub_;
  std::unique_ptr<tether::v1::AgentGateway::Stub> gateway_stub_;
  const std::string src_ = TempDir("src");
  const std::string workdir_ = TempDir("agent");
  const std::string cache_dir_ = TempDir("cache");
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
  // An empty manifest diff (two revision ids) and the commit.
  EXPECT_TRUE(second->manifest_diff);
  EXPECT_LT(second->bytes_sent, 200u);
  EXPECT_LT(second->bytes_received, 100u);
  // Without the cache, the whole manifest goes.
  UploadOptions no_cache;
  no_cache.use_cache = false;
  absl::StatusOr<UploadResult> third = Upload(no_cache);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_FALSE(third->manifest_diff);
  EXPECT_GT(third->bytes_sent, second->bytes_sent);
  EXPECT_EQ(third->result.revision(), first->result.revision());
}

TEST_F(SyncRoundTripTest, EditSendsOnlyThatBlobAndAgentLinksTheRest) {
  absl::StatusOr<UploadResult> first = Upload();
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::string> first_dir = Pull(first->result.revision());
  ASSERT_TRUE(first_dir.ok()) << first_dir.status();
  const int chunks_before = gateway_->chunks();

  const int deltas_before = gateway_->delta_slices();

  Write(src_, "pkg/util.py", "def f():\n    return 2\n");
  absl::StatusOr<UploadResult> second = Upload();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->result.revision(), first->result.revision());
  EXPECT_TRUE(second->manifest_diff);
  EXPECT_EQ(second->blobs_sent, 1u);
  EXPECT_EQ(second->deltas_sent, 1u);
  EXPECT_EQ(second->result.files_received(), 1u);
  EXPECT_EQ(second->result.deltas_received(), 1u);
  // A 22-byte file is below one block: its delta is the literal plus the
  // delta framing (magic, one command, end).
  EXPECT_EQ(second->result.bytes_received(), 22u + 6u);

  absl::StatusOr<std::string> second_dir = Pull(second->result.revision());
  ASSERT_TRUE(second_dir.ok()) << second_dir.status();
  EXPECT_EQ(gateway_->chunks() - chunks_before, 0);
  EXPECT_EQ(gateway_->delta_slices() - deltas_before, 1);
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

// Edits a few bytes in the middle of a 3 MiB file: the CLI sends a delta
// of about one block, tetherd stores the whole new blob, and the agent gets
// the delta tetherd kept and patches its hard-linked copy.
TEST_F(SyncRoundTripTest, EditInsideALargeFileTravelsAsADeltaBothWays) {
  absl::StatusOr<UploadResult> first = Upload();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(Pull(first->result.revision()).ok());
  const int64_t pull_bytes_before = gateway_->bytes();

  std::string data = Noise((3 << 20) + 17);
  data.replace(1'500'000, 5, "EDIT!");
  Write(src_, "pkg/data.bin", data);
  absl::StatusOr<UploadResult> second = Upload();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->deltas_sent, 1u);
  EXPECT_LT(second->bytes_sent, 16u * 1024u);
  EXPECT_EQ(second->result.deltas_received(), 1u);
  absl::StatusOr<Tree> source = ScanTree(src_, {});
  ASSERT_TRUE(source.ok());
  EXPECT_EQ(second->result.revision(), TreeId(*source));

  absl::StatusOr<std::string> dir = Pull(second->result.revision());
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_LT(gateway_->bytes() - pull_bytes_before, 16 * 1024);
  EXPECT_EQ(*ReadFile(*dir + "/pkg/data.bin"), data);
  absl::StatusOr<Tree> pulled = ScanTree(*dir, {});
  ASSERT_TRUE(pulled.ok());
  EXPECT_EQ(TreeId(*pulled), second->result.revision());
}

// Appending goes as COPY + tail without block matching; a third sync then
// still has the spliced signature to make a delta from.
TEST_F(SyncRoundTripTest, AppendSendsOnlyTheTail) {
  absl::StatusOr<UploadResult> first = Upload();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(Pull(first->result.revision()).ok());

  const std::string old_data = Noise((3 << 20) + 17);
  const std::string tail(100'000, 't');
  Write(src_, "pkg/data.bin", old_data + tail);
  absl::StatusOr<UploadResult> second = Upload();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->deltas_sent, 1u);
  EXPECT_GT(second->bytes_sent, tail.size());
  EXPECT_LT(second->bytes_sent, tail.size() + 2048);
  absl::StatusOr<std::string> dir = Pull(second->result.revision());
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(*ReadFile(*dir + "/pkg/data.bin"), old_data + tail);

  std::string edited = old_data + tail;
  edited[10] ^= 1;
  Write(src_, "pkg/data.bin", edited);
  absl::StatusOr<UploadResult> third = Upload();
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->deltas_sent, 1u);
  EXPECT_LT(third->bytes_sent, 16u * 1024u);
  ASSERT_TRUE(Pull(third->result.revision()).ok());
  EXPECT_EQ(*ReadFile(RevisionDir(workdir_, third->result.revision()) +
                      "/pkg/data.bin"),
            edited);
}

// A tetherd that lost the base (here: another store behind the same
// endpoint key) refuses the diff; the CLI resends the full manifest.
TEST_F(SyncRoundTripTest, UnknownBaseFallsBackToTheFullManifest) {
  ASSERT_TRUE(Upload().ok());
  auto other_store =
      controlplane::FileCodeStore::Create({TempDir("other-store")});
  ASSERT_TRUE(other_store.ok());
  TestControlPlane other(other_store->get());
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&other);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = tether::v1::ControlPlane::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));

  Write(src_, "main.py", "print('v2')\n");
  UploadOptions options;
  options.cache_dir = cache_dir_;
  absl::StatusOr<UploadResult> upload = UploadTree(*stub, src_, options);
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_FALSE(upload->manifest_diff);
  EXPECT_EQ(upload->deltas_sent, 0u);
  EXPECT_TRUE(*(*other_store)->HasRevision(upload->result.revision()));
  server->Shutdown();
}

// Drives SyncCode by hand, as a broken or hostile client would.
class RawSync {
 public:
  explicit RawSync(tether::v1::ControlPlane::Stub& stub)
      : stream_(stub.SyncCode(&context_)) {}

  bool Send(const SyncCodeRequest& request) { return stream_->Write(request); }
  bool Receive(SyncCodeResponse* response) { return stream_->Read(response); }
  absl::Status Finish() {
    stream_->WritesDone();
    return FromGrpcStatus(stream_->Finish());
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<SyncCodeRequest, SyncCodeResponse>>
      stream_;
};

TEST_F(SyncRoundTripTest, CorruptDeltaIsDataLossAndNothingIsStored) {
  absl::StatusOr<UploadResult> first = Upload();
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<Tree> base = ScanTree(src_, {});
  ASSERT_TRUE(base.ok());
  Write(src_, "pkg/util.py", "def f():\n    return 3\n");
  absl::StatusOr<Tree> tree = ScanTree(src_, {});
  ASSERT_TRUE(tree.ok());
  const std::string old_digest = Sha256Of("def f():\n    return 1\n");
  const std::string new_digest = Sha256Of("def f():\n    return 3\n");

  for (const bool well_formed : {false, true}) {
    RawSync raw(*control_plane_stub_);
    SyncCodeRequest request;
    *request.mutable_manifest_diff() =
        MakeManifestDiff(first->result.revision(), *base, *tree);
    ASSERT_TRUE(raw.Send(request));
    SyncCodeResponse response;
    ASSERT_TRUE(raw.Receive(&response));
    ASSERT_EQ(response.missing().sha256_size(), 1);
    ASSERT_EQ(response.missing().delta_base(0), old_digest);
    auto* delta = request.mutable_delta();
    delta->set_sha256(new_digest);
    delta->set_base_sha256(old_digest);
    delta->set_last(true);
    // Either garbage, or a valid delta that yields other bytes of the
    // right size.
    delta->set_data(well_formed
                        ? absl::StrCat(DeltaHeader(), LiteralHeader(22),
                                       "def f():\n    return 4\n", DeltaEnd())
                        : std::string("\x72\x73\x02\x36\x99garbage"));
    raw.Send(request);
    request.mutable_commit();
    raw.Send(request);
    const absl::Status status = raw.Finish();
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_FALSE(*store_->HasBlob(new_digest));
    EXPECT_FALSE(*store_->HasRevision(TreeId(*tree)));
  }
  // The honest client still gets through.
  absl::StatusOr<UploadResult> upload = Upload();
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_EQ(upload->result.revision(), TreeId(*tree));
}

TEST_F(SyncRoundTripTest, DiffWithAWrongClaimedRevisionIsRejected) {
  absl::StatusOr<UploadResult> first = Upload();
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<Tree> base = ScanTree(src_, {});
  ASSERT_TRUE(base.ok());
  Write(src_, "new.py", "new");
  absl::StatusOr<Tree> tree = ScanTree(src_, {});
  ASSERT_TRUE(tree.ok());
  RawSync raw(*control_plane_stub_);
  SyncCodeRequest request;
  *request.mutable_manifest_diff() =
      MakeManifestDiff(first->result.revision(), *base, *tree);
  request.mutable_manifest_diff()->set_revision(std::string(64, 'a'));
  ASSERT_TRUE(raw.Send(request));
  SyncCodeResponse response;
  EXPECT_FALSE(raw.Receive(&response));
  const absl::Status status = raw.Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), ::testing::HasSubstr("claimed"));
  EXPECT_FALSE(*store_->HasRevision(TreeId(*tree)));
}

// The agent's copy of the delta base was altered (same size, so it still
// looks intact): the patched file fails its digest, nothing is switched,
// and the puller retries without reuse.
TEST_F(SyncRoundTripTest, AgentWithAnAlteredBaseRepullsWhole) {
  absl::StatusOr<UploadResult> first = Upload();
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::string> first_dir = Pull(first->result.revision());
  ASSERT_TRUE(first_dir.ok());
  const std::string base_file = *first_dir + "/pkg/data.bin";
  ASSERT_EQ(chmod(base_file.c_str(), 0644), 0);
  {
    FILE* file = fopen(base_file.c_str(), "r+");
    ASSERT_NE(file, nullptr);
    fputs("tampered", file);
    fclose(file);
  }
  std::string data = Noise((3 << 20) + 17);
  data.replace(2'000'000, 3, "NEW");
  Write(src_, "pkg/data.bin", data);
  absl::StatusOr<UploadResult> second = Upload();
  ASSERT_TRUE(second.ok()) << second.status();
  const int pulls = gateway_->pulls();
  absl::StatusOr<std::string> dir = Pull(second->result.revision());
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(gateway_->pulls() - pulls, 2);
  EXPECT_EQ(*ReadFile(*dir + "/pkg/data.bin"), data);
  EXPECT_EQ(*CurrentRevision(workdir_), second->result.revision());
}

// Small chunks exercise slicing of deltas and literals on both sides.
TEST_F(SyncRoundTripTest, TinyChunksStillRoundTrip) {
  UploadOptions options;
  options.chunk_bytes = 1000;
  absl::StatusOr<UploadResult> first = Upload(options);
  ASSERT_TRUE(first.ok()) << first.status();
  std::string data = Noise((3 << 20) + 17);
  data.insert(777'777, "inserted bytes shift everything after them");
  Write(src_, "pkg/data.bin", data);
  absl::StatusOr<UploadResult> second = Upload(options);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->deltas_sent, 1u);
  ASSERT_TRUE(Pull(first->result.revision()).ok());
  absl::StatusOr<std::string> dir = Pull(second->result.revision());
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(*ReadFile(*dir + "/pkg/data.bin"), data);
}

int64_t PeakRssBytes() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return int64_t{usage.ru_maxrss} * 1024;
}

// A 96 MiB file (sparse, so cheap to make) goes up whole, then as an
// append, then as a delta, and down to the agent each time, with the
// process's peak memory growing by far less than the file: every side
// streams. The same code paths carry the 1 GiB maximum.
TEST_F(SyncRoundTripTest, LargeFileStreamsInBoundedMemory) {
  constexpr off_t kSize = off_t{96} << 20;
  const std::string path = src_ + "/pkg/huge.bin";
  {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, kSize), 0);
    ASSERT_EQ(pwrite(fd, "head", 4, 0), 4);
    close(fd);
  }
  const int64_t before = PeakRssBytes();
  absl::StatusOr<UploadResult> first = Upload();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(Pull(first->result.revision()).ok());
  {
    const int fd = open(path.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "appended", 8), 8);
    close(fd);
  }
  absl::StatusOr<UploadResult> appended = Upload();
  ASSERT_TRUE(appended.ok()) << appended.status();
  EXPECT_EQ(appended->deltas_sent, 1u);
  EXPECT_LT(appended->bytes_sent, 4096u);
  ASSERT_TRUE(Pull(appended->result.revision()).ok());
  {
    const int fd = open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, "middle", 6, kSize / 2), 6);
    close(fd);
  }
  absl::StatusOr<UploadResult> edited = Upload();
  ASSERT_TRUE(edited.ok()) << edited.status();
  EXPECT_EQ(edited->deltas_sent, 1u);
  // Zeros make every block match every other, so librsync cannot merge its
  // copies into long runs: one small COPY per 8 KiB block, ~70 KB in all.
  EXPECT_LT(edited->bytes_sent, 128u * 1024u);
  absl::StatusOr<std::string> dir = Pull(edited->result.revision());
  ASSERT_TRUE(dir.ok()) << dir.status();
  absl::StatusOr<std::string> pulled = Sha256OfFile(*dir + "/pkg/huge.bin");
  ASSERT_TRUE(pulled.ok());
  EXPECT_EQ(*pulled, *Sha256OfFile(path));
  EXPECT_LT(PeakRssBytes() - before, int64_t{48} << 20);
}

}  // namespace
}  // namespace tether::sync
