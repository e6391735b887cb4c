#include "controlplane/code/sync_code_session.h"

#include <dirent.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "controlplane/code/fake_code_store.h"
#include "controlplane/code/file_code_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sync/delta_encoder.h"
#include "sync/manifest_diff.h"
#include "sync/signature.h"
#include "sync/tree.h"

namespace tether::controlplane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::tether::v1::ManifestDiff;
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
    ASSIGN_OR_RETURN(auto response, session_.OnRequest(request));
    EXPECT_FALSE(response.has_value());
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
  EXPECT_EQ(result.revision(), sync::TreeId(tree));
  EXPECT_EQ(result.files_received(), 3u);
  EXPECT_EQ(result.bytes_received(), 15u);
  EXPECT_TRUE(session_.done());
  EXPECT_TRUE(*store_.HasRevision(sync::TreeId(tree)));
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
  EXPECT_FALSE(*store_.HasRevision(sync::TreeId(SampleTree())));
}

// ---- Manifest diffs and deltas -------------------------------------------

SyncCodeRequest Diff(const ManifestDiff& diff) {
  SyncCodeRequest request;
  *request.mutable_manifest_diff() = diff;
  return request;
}

SyncCodeRequest Delta(const std::string& target, const std::string& base,
                      uint64_t offset, const std::string& data, bool last) {
  SyncCodeRequest request;
  auto* delta = request.mutable_delta();
  delta->set_sha256(Sha256Of(target));
  delta->set_base_sha256(Sha256Of(base));
  delta->set_offset(offset);
  delta->set_data(data);
  delta->set_last(last);
  return request;
}

// "old" at big.bin in the stored base; the new tree edits it and adds a file.
class SyncCodeSessionDiffTest : public SyncCodeSessionTest {
 protected:
  void SetUp() override {
    old_ = std::string(5000, 'o');
    new_ = old_;
    new_.replace(2500, 3, "NEW");
    AddFile(base_, "big.bin", old_);
    AddFile(base_, "gone.py", "gone");
    AddFile(base_, "keep.py", "keep");
    for (const std::string& data :
         {old_, std::string("keep"), std::string("gone")}) {
      store_.AddBlobForTest(data);
    }
    base_revision_ = sync::TreeId(base_);
    ASSERT_TRUE(store_.PutTree(base_revision_, base_).ok());
    AddFile(tree_, "added.py", "added");
    AddFile(tree_, "big.bin", new_);
    AddFile(tree_, "keep.py", "keep");
  }

  // A real delta from old_ to new_.
  std::string RealDelta() const {
    auto encoder =
        sync::DeltaEncoder::Create(*sync::SignatureOf(old_, {256, 8}));
    std::string delta;
    const sync::ByteSink sink = [&delta](absl::string_view out) {
      delta.append(out.data(), out.size());
      return absl::OkStatus();
    };
    EXPECT_TRUE((*encoder)->Update(new_, sink).ok());
    EXPECT_TRUE((*encoder)->Finish(sink).ok());
    return delta;
  }

  // Sends the diff; returns the missing answer.
  SyncCodeResponse::MissingBlobs StartDiff() {
    auto response = session_.OnRequest(
        Diff(sync::MakeManifestDiff(base_revision_, base_, tree_)));
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok() || !response->has_value()) return {};
    return (*response)->missing();
  }

  Tree base_;
  Tree tree_;
  std::string base_revision_;
  std::string old_;
  std::string new_;
};

TEST_F(SyncCodeSessionDiffTest, DiffAndDeltaStoreTheWholeRevision) {
  const auto missing = StartDiff();
  ASSERT_EQ(missing.sha256_size(), 2);
  EXPECT_EQ(missing.sha256(0), Sha256Of("added"));
  EXPECT_EQ(missing.sha256(1), Sha256Of(new_));
  ASSERT_EQ(missing.delta_base_size(), 2);
  EXPECT_EQ(missing.delta_base(0), "");  // New path: literal only.
  EXPECT_EQ(missing.delta_base(1), Sha256Of(old_));

  ASSERT_TRUE(Send(Chunk("added", 0, "added")).ok());
  const std::string delta = RealDelta();
  EXPECT_LT(delta.size(), 600u);
  ASSERT_TRUE(Send(Delta(new_, old_, 0, delta.substr(0, 10), false)).ok());
  ASSERT_TRUE(
      Send(Delta(new_, old_, 10, delta.substr(10), /*last=*/true)).ok());
  auto response = session_.OnRequest(Commit());
  ASSERT_TRUE(response.ok()) << response.status();
  const auto& result = (*response)->result();
  EXPECT_EQ(result.revision(), sync::TreeId(tree_));
  EXPECT_EQ(result.files_received(), 2u);
  EXPECT_EQ(result.deltas_received(), 1u);
  EXPECT_EQ(result.bytes_received(), 5u + delta.size());
  EXPECT_TRUE(*store_.HasRevision(sync::TreeId(tree_)));
  std::string stored;
  auto reader = store_.OpenBlob(Sha256Of(new_));
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE((*reader)->Read(1 << 20, &stored).ok());
  EXPECT_EQ(stored, new_);
  // The delta is kept for agents that hold the base.
  EXPECT_EQ(store_.DeltaCountForTest(), 1u);
  EXPECT_TRUE(store_.OpenDelta(Sha256Of(new_), Sha256Of(old_)).ok());
}

TEST_F(SyncCodeSessionDiffTest, NoChangeDiffNeedsNothing) {
  ManifestDiff diff = sync::MakeManifestDiff(base_revision_, base_, base_);
  auto response = session_.OnRequest(Diff(diff));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ((*response)->missing().sha256_size(), 0);
  EXPECT_EQ((*response)->missing().delta_base_size(), 0);
  response = session_.OnRequest(Commit());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ((*response)->result().revision(), base_revision_);
}

TEST_F(SyncCodeSessionDiffTest, UnknownBaseIsNotFound) {
  auto response = session_.OnRequest(
      Diff(sync::MakeManifestDiff(std::string(64, 'e'), base_, tree_)));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SyncCodeSessionDiffTest, WrongClaimedRevisionIsRejected) {
  ManifestDiff diff = sync::MakeManifestDiff(base_revision_, base_, tree_);
  diff.set_revision(base_revision_);
  auto response = session_.OnRequest(Diff(diff));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(response.status().message(), HasSubstr("claimed"));
  EXPECT_FALSE(*store_.HasRevision(sync::TreeId(tree_)));
}

TEST_F(SyncCodeSessionDiffTest, CorruptDeltaIsDataLossAndStoresNothing) {
  StartDiff();
  ASSERT_TRUE(Send(Chunk("added", 0, "added")).ok());
  std::string delta = RealDelta();
  delta[delta.size() / 2] ^= 0x5a;
  const absl::Status status = Send(Delta(new_, old_, 0, delta, true));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), HasSubstr("big.bin"));
  EXPECT_FALSE(*store_.HasBlob(Sha256Of(new_)));
  // "added" was verified but waits for the commit, which never comes.
  EXPECT_FALSE(*store_.HasBlob(Sha256Of("added")));
  EXPECT_EQ(session_.OnRequest(Commit()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(*store_.HasRevision(sync::TreeId(tree_)));
  EXPECT_EQ(store_.DeltaCountForTest(), 0u);
}

TEST_F(SyncCodeSessionDiffTest, WellFormedDeltaWithWrongResultIsDataLoss) {
  StartDiff();
  // Right size, wrong bytes: only the digest check can tell.
  std::string wrong = new_;
  wrong[0] = 'X';
  const std::string delta =
      absl::StrCat(sync::DeltaHeader(), sync::LiteralHeader(1), "X",
                   sync::CopyCommand(1, 2499), sync::LiteralHeader(3), "NEW",
                   sync::CopyCommand(2503, 2497), sync::DeltaEnd());
  const absl::Status status = Send(Delta(new_, old_, 0, delta, true));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_FALSE(*store_.HasBlob(Sha256Of(new_)));
}

TEST_F(SyncCodeSessionDiffTest, DeltaAgainstAnotherBaseIsInvalid) {
  StartDiff();
  EXPECT_EQ(Send(Delta(new_, "keep", 0, RealDelta(), true)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SyncCodeSessionDiffTest, DeltaWithoutAnOfferedBaseIsInvalid) {
  StartDiff();
  EXPECT_EQ(Send(Delta("added", old_, 0, "x", true)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SyncCodeSessionDiffTest, MixingChunksAndDeltaIsInvalid) {
  StartDiff();
  const std::string delta = RealDelta();
  ASSERT_TRUE(Send(Delta(new_, old_, 0, delta.substr(0, 10), false)).ok());
  EXPECT_EQ(Send(Chunk(new_, 0, new_.substr(0, 10))).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SyncCodeSessionDiffTest, DeltaSliceOutOfOrderIsInvalid) {
  StartDiff();
  const std::string delta = RealDelta();
  ASSERT_TRUE(Send(Delta(new_, old_, 0, delta.substr(0, 10), false)).ok());
  EXPECT_EQ(Send(Delta(new_, old_, 11, delta.substr(11), true)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SyncCodeSessionDiffTest, LiteralBytesAreAcceptedDespiteABase) {
  StartDiff();
  ASSERT_TRUE(Send(Chunk("added", 0, "added")).ok());
  ASSERT_TRUE(Send(Chunk(new_, 0, new_)).ok());
  auto response = session_.OnRequest(Commit());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ((*response)->result().deltas_received(), 0u);
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
    // The verified blob waits staged for the commit, beside the partial.
    EXPECT_EQ(CountFiles(dir + "/tmp"), 2);
    EXPECT_FALSE(*(*store)->HasBlob(Sha256Of("shared")));
  }
  EXPECT_EQ(CountFiles(dir + "/tmp"), 0);
  // Nothing of an abandoned sync appears.
  EXPECT_FALSE(*(*store)->HasBlob(Sha256Of("shared")));
  EXPECT_FALSE(*(*store)->HasBlob(Sha256Of("different")));
  EXPECT_FALSE(*(*store)->HasRevision(sync::TreeId(SampleTree())));
}

}  // namespace
}  // namespace tether::controlplane
