#include "controlplane/code/sync_code_session.h"

#include <dirent.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "common/sha256.h"
#include "controlplane/code/fake_code_store.h"
#include "controlplane/code/file_code_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sync/tree.h"

namespace tether {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::tether::v1::SyncCodeRequest;
using ::tether::v1::SyncCodeResponse;
using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

void AddFile(Tree& tree, const std::string& path, const std::string& data) {
  TreeEntry* entry = tree.add_entries();
  entry->set_path(path);
  entry->set_kind(TreeEntry::KIND_FILE);
  entry->set_mode(0644);
  entry->set_size(data.size());
  entry->set_sha256(Sha256Of(data));
}

SyncCodeRequest Manifest(const Tree& tree) {
  SyncCodeRequest request;
  *request.mutable_manifest() = tree;
  return request;
}

SyncCodeRequest Chunk(const std::string& blob, uint64_t offset,
                      const std::string& data) {
  SyncCodeRequest request;
  request.mutable_chunk()->set_sha256(Sha256Of(blob));
  request.mutable_chunk()->set_offset(offset);
  request.mutable_chunk()->set_data(data);
  return request;
}

SyncCodeRequest Commit() {
  SyncCodeRequest request;
  request.mutable_commit();
  return request;
}

// a.py and c.py share contents; b/link is a symlink; empty.txt is empty.
Tree SampleTree() {
  Tree tree;
  AddFile(tree, "a.py", "shared");
  TreeEntry* link = tree.add_entries();
  link->set_path("b/link");
  link->set_kind(TreeEntry::KIND_SYMLINK);
  link->set_link_target("../a.py");
  AddFile(tree, "c.py", "shared");
  AddFile(tree, "d.py", "different");
  AddFile(tree, "empty.txt", "");
  return tree;
}

class SyncCodeSessionTest : public ::testing::Test {
 protected:
  // Sends the manifest and returns the digests asked for.
  std::vector<std::string> Start(const Tree& tree) {
    auto response = session_.OnRequest(Manifest(tree));
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok() || !response->has_value()) return {};
    EXPECT_TRUE((*response)->has_missing());
    const auto& missing = (*response)->missing().sha256();
    return {missing.begin(), missing.end()};
  }

  absl::Status Send(const SyncCodeRequest& request) {
    auto response = session_.OnRequest(request);
    if (!response.ok()) return response.status();
    EXPECT_FALSE(response->has_value());
    return absl::OkStatus();
  }

  FakeCodeStore store_;
  SyncCodeSession session_{&store_, SyncLimits()};
};

TEST_F(SyncCodeSessionTest, FullSyncStoresBlobsAndTree) {
  const Tree tree = SampleTree();
  EXPECT_THAT(Start(tree), ElementsAre(Sha256Of("shared"),
                                       Sha256Of("different"), Sha256Of("")));
  ASSERT_TRUE(Send(Chunk("shared", 0, "sha")).ok());
  ASSERT_TRUE(Send(Chunk("shared", 3, "red")).ok());
  ASSERT_TRUE(Send(Chunk("different", 0, "different")).ok());
  ASSERT_TRUE(Send(Chunk("", 0, "")).ok());
  auto response = session_.OnRequest(Commit());
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_TRUE(response->has_value() && (*response)->has_result());
  const auto& result = (*response)->result();
  EXPECT_EQ(result.revision(), TreeId(tree));
  EXPECT_EQ(result.files_received(), 3u);
  EXPECT_EQ(result.bytes_received(), 15u);
  EXPECT_TRUE(session_.done());
  EXPECT_TRUE(*store_.HasRevision(TreeId(tree)));
  EXPECT_TRUE(*store_.HasBlob(Sha256Of("shared")));
  EXPECT_EQ(session_.OnRequest(Commit()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SyncCodeSessionTest, StoredBlobsAreNotRequested) {
  store_.AddBlobForTest("shared");
  store_.AddBlobForTest("different");
  store_.AddBlobForTest("");
  EXPECT_THAT(Start(SampleTree()), ElementsAre());
  auto response = session_.OnRequest(Commit());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ((*response)->result().files_received(), 0u);
  EXPECT_EQ((*response)->result().bytes_received(), 0u);
}

TEST_F(SyncCodeSessionTest, FirstMessageMustBeManifest) {
  EXPECT_EQ(session_.OnRequest(Commit()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(session_.OnRequest(Manifest(SampleTree())).status().code(),
            absl::StatusCode::kFailedPrecondition);  // Session failed.
}

TEST_F(SyncCodeSessionTest, EmptyRequestIsInvalid) {
  EXPECT_EQ(session_.OnRequest(SyncCodeRequest()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SyncCodeSessionTest, InvalidManifestNamesThePath) {
  Tree tree;
  AddFile(tree, "../escape.py", "x");
  auto response = session_.OnRequest(Manifest(tree));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(response.status().message(), HasSubstr("../escape.py"));
}

TEST_F(SyncCodeSessionTest, SecondManifestIsOutOfOrder) {
  Start(SampleTree());
  EXPECT_EQ(session_.OnRequest(Manifest(SampleTree())).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SyncCodeSessionTest, UnrequestedBlobIsInvalid) {
  store_.AddBlobForTest("shared");
  Start(SampleTree());
  EXPECT_EQ(Send(Chunk("shared", 0, "shared")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SyncCodeSessionTest, UnknownBlobIsInvalid) {
  Start(SampleTree());
  EXPECT_EQ(Send(Chunk("other", 0, "other")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SyncCodeSessionTest, OutOfOrderChunkIsInvalid) {
  Start(SampleTree());
  EXPECT_EQ(Send(Chunk("shared", 3, "red")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SyncCodeSessionTest, GapInChunksIsInvalid) {
  Start(SampleTree());
  ASSERT_TRUE(Send(Chunk("shared", 0, "sh")).ok());
  EXPECT_EQ(Send(Chunk("shared", 3, "red")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SyncCodeSessionTest, InterleavedBlobsAreInvalid) {
  Start(SampleTree());
  ASSERT_TRUE(Send(Chunk("shared", 0, "sh")).ok());
  EXPECT_EQ(Send(Chunk("different", 0, "different")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SyncCodeSessionTest, BytesPastTheSizeAreInvalid) {
  Start(SampleTree());
  EXPECT_EQ(Send(Chunk("shared", 0, "shared!")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SyncCodeSessionTest, BlobSentTwiceIsInvalid) {
  Start(SampleTree());
  ASSERT_TRUE(Send(Chunk("shared", 0, "shared")).ok());
  EXPECT_EQ(Send(Chunk("shared", 0, "shared")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SyncCodeSessionLimitsTest, OversizedChunkIsInvalid) {
  FakeCodeStore store;
  SyncLimits limits;
  limits.max_chunk_bytes = 4;
  SyncCodeSession session(&store, limits);
  ASSERT_TRUE(session.OnRequest(Manifest(SampleTree())).ok());
  EXPECT_EQ(session.OnRequest(Chunk("shared", 0, "share")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SyncCodeSessionTest, DigestMismatchIsDataLossAndStoresNothing) {
  Start(SampleTree());
  const absl::Status status = Send(Chunk("shared", 0, "SHARED"));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("a.py"));
  EXPECT_FALSE(*store_.HasBlob(Sha256Of("shared")));
  EXPECT_FALSE(*store_.HasBlob(Sha256Of("SHARED")));
  EXPECT_EQ(session_.OnRequest(Commit()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SyncCodeSessionTest, CommitWithMissingBlobNamesFirstPath) {
  Start(SampleTree());
  ASSERT_TRUE(Send(Chunk("shared", 0, "shared")).ok());
  ASSERT_TRUE(Send(Chunk("different", 0, "diff")).ok());
  auto response = session_.OnRequest(Commit());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(response.status().message(), HasSubstr("d.py"));
  EXPECT_FALSE(*store_.HasRevision(TreeId(SampleTree())));
}

int CountFiles(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (struct dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

TEST(SyncCodeSessionFileStoreTest, AbandonedSessionLeavesNoPartialBlob) {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/sync_code_session_test.XXXXXX";
  const std::string dir = mkdtemp(tmpl.data());
  auto store = FileCodeStore::Create({dir});
  ASSERT_TRUE(store.ok());
  {
    SyncCodeSession session(store->get(), SyncLimits());
    ASSERT_TRUE(session.OnRequest(Manifest(SampleTree())).ok());
    ASSERT_TRUE(session.OnRequest(Chunk("shared", 0, "shared")).ok());
    ASSERT_TRUE(session.OnRequest(Chunk("different", 0, "diff")).ok());
    EXPECT_EQ(CountFiles(dir + "/tmp"), 1);
  }
  EXPECT_EQ(CountFiles(dir + "/tmp"), 0);
  // The finished blob stays; the partial one never appears.
  EXPECT_TRUE(*(*store)->HasBlob(Sha256Of("shared")));
  EXPECT_FALSE(*(*store)->HasBlob(Sha256Of("different")));
  EXPECT_FALSE(*(*store)->HasRevision(TreeId(SampleTree())));
}

}  // namespace
}  // namespace tether
