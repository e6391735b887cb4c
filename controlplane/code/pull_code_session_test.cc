#include "controlplane/code/pull_code_session.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "controlplane/code/fake_code_store.h"
#include "gtest/gtest.h"
#include "sync/delta_applier.h"
#include "sync/delta_encoder.h"
#include "sync/manifest_diff.h"
#include "sync/tree.h"

namespace tether::controlplane {
namespace {

using ::tether::v1::PullCodeRequest;
using ::tether::v1::PullCodeResponse;
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

class PullCodeSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    big_ = std::string(2500, 'b');
    big_[1234] = 'x';
    AddFile(tree_, "a/big.bin", big_);
    AddFile(tree_, "a/copy.bin", big_);
    AddFile(tree_, "empty", "");
    AddFile(tree_, "small.py", "small");
    for (const TreeEntry& entry : tree_.entries()) {
      store_.AddBlobForTest(entry.size() == 0   ? ""
                            : entry.size() == 5 ? "small"
                                                : big_);
    }
    revision_ = sync::TreeId(tree_);
    ASSERT_TRUE(store_.PutTree(revision_, tree_).ok());
  }

  PullCodeRequest Request(std::vector<std::string> have = {}) {
    PullCodeRequest request;
    request.set_revision(revision_);
    for (std::string& sha : have) request.add_have(std::move(sha));
    return request;
  }

  // Runs a session to the end and returns its messages.
  std::vector<PullCodeResponse> Drain(PullCodeSession& session) {
    std::vector<PullCodeResponse> out;
    while (true) {
      PullCodeResponse response;
      absl::StatusOr<bool> more = session.Next(&response);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || !*more) return out;
      out.push_back(std::move(response));
    }
  }

  FakeCodeStore store_;
  Tree tree_;
  std::string big_;
  std::string revision_;
};

TEST_F(PullCodeSessionTest, TreeThenDistinctBlobsInChunks) {
  PullCodeSession session(&store_, Request(), /*max_chunk_bytes=*/1000);
  ASSERT_TRUE(session.Start().ok());
  const std::vector<PullCodeResponse> messages = Drain(session);
  ASSERT_EQ(messages.size(), 6u);
  ASSERT_TRUE(messages[0].has_tree());
  EXPECT_EQ(sync::TreeId(messages[0].tree()), revision_);
  std::string big;
  for (int i = 1; i <= 3; ++i) {
    const auto& chunk = messages[i].chunk();
    EXPECT_EQ(chunk.sha256(), Sha256Of(big_));
    EXPECT_EQ(chunk.offset(), big.size());
    EXPECT_LE(chunk.data().size(), 1000u);
    big += chunk.data();
  }
  EXPECT_EQ(big, big_);
  EXPECT_EQ(messages[4].chunk().sha256(), Sha256Of(""));
  EXPECT_EQ(messages[4].chunk().data(), "");
  EXPECT_EQ(messages[5].chunk().sha256(), Sha256Of("small"));
  EXPECT_EQ(messages[5].chunk().data(), "small");
  PullCodeResponse after;
  EXPECT_FALSE(*session.Next(&after));
}

TEST_F(PullCodeSessionTest, SkipsBlobsTheAgentHas) {
  PullCodeSession session(&store_, Request({Sha256Of(big_), Sha256Of("")}));
  ASSERT_TRUE(session.Start().ok());
  const std::vector<PullCodeResponse> messages = Drain(session);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[1].chunk().data(), "small");
}

TEST_F(PullCodeSessionTest, NextBeforeStartFails) {
  PullCodeSession session(&store_, Request());
  PullCodeResponse response;
  EXPECT_EQ(session.Next(&response).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(PullCodeSessionTest, BadRequests) {
  PullCodeRequest malformed;
  malformed.set_revision("../../x");
  EXPECT_EQ(PullCodeSession(&store_, malformed).Start().code(),
            absl::StatusCode::kInvalidArgument);
  PullCodeRequest unknown;
  unknown.set_revision(std::string(64, 'a'));
  EXPECT_EQ(PullCodeSession(&store_, unknown).Start().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(PullCodeSession(&store_, Request({"short"})).Start().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PullCodeSessionTest, MissingBlobIsDataLoss) {
  Tree tree;
  AddFile(tree, "gone", "never stored");
  ASSERT_TRUE(store_.PutTree(sync::TreeId(tree), tree).ok());
  PullCodeRequest request;
  request.set_revision(sync::TreeId(tree));
  PullCodeSession session(&store_, request);
  ASSERT_TRUE(session.Start().ok());
  PullCodeResponse response;
  ASSERT_TRUE(*session.Next(&response));
  EXPECT_EQ(session.Next(&response).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(PullCodeSessionTest, StoredSizeMismatchIsDataLoss) {
  store_.CorruptBlobForTest(Sha256Of("small"), "smal");
  PullCodeSession session(&store_, Request({Sha256Of(big_), Sha256Of("")}));
  ASSERT_TRUE(session.Start().ok());
  PullCodeResponse response;
  ASSERT_TRUE(*session.Next(&response));
  EXPECT_EQ(session.Next(&response).status().code(),
            absl::StatusCode::kDataLoss);
}

// ---- Deltas to agents ------------------------------------------------------

// The agent serves `base` (old.bin = old_) and pulls `next` (old.bin edited,
// new.py added).
class PullCodeSessionDeltaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_ = Noise(300'000, 1);
    new_ = old_;
    new_.replace(150'000, 4, "EDIT");
    AddFile(base_, "keep.py", "keep");
    AddFile(base_, "old.bin", old_);
    AddFile(next_, "keep.py", "keep");
    AddFile(next_, "new.py", "new");
    AddFile(next_, "old.bin", new_);
    for (const std::string& data :
         {std::string("keep"), old_, new_, std::string("new")}) {
      store_.AddBlobForTest(data);
    }
    ASSERT_TRUE(store_.PutTree(sync::TreeId(base_), base_).ok());
    ASSERT_TRUE(store_.PutTree(sync::TreeId(next_), next_).ok());
  }

  static std::string Noise(size_t size, uint32_t seed) {
    std::string out(size, '\0');
    uint32_t x = seed;
    for (char& c : out) {
      x = x * 1103515245 + 12345;
      c = static_cast<char>(x >> 24);
    }
    return out;
  }

  PullCodeRequest Request(bool have_base) const {
    PullCodeRequest request;
    request.set_revision(sync::TreeId(next_));
    request.set_base_revision(sync::TreeId(base_));
    if (have_base) {
      request.set_have_base(true);
    } else {
      request.add_have(Sha256Of("keep"));
      request.add_have(Sha256Of(old_));
    }
    return request;
  }

  // Drains a session, applying what it sends like an agent would: returns
  // the bytes of old.bin the agent ends up with and counts messages.
  std::string Follow(PullCodeSession& session) {
    std::string delta;
    std::string literal;
    while (true) {
      PullCodeResponse response;
      absl::StatusOr<bool> more = session.Next(&response);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || !*more) break;
      ++messages_;
      bytes_ += response.ByteSizeLong();
      if (response.has_tree_diff()) {
        absl::StatusOr<Tree> tree = sync::ApplyManifestDiff(
            base_, response.tree_diff(), sync::TreeLimits());
        EXPECT_TRUE(tree.ok()) << tree.status();
        if (tree.ok()) {
          EXPECT_EQ(sync::TreeId(*tree), sync::TreeId(next_));
        }
        ++diffs_;
      } else if (response.has_delta()) {
        EXPECT_EQ(response.delta().sha256(), Sha256Of(new_));
        EXPECT_EQ(response.delta().base_sha256(), Sha256Of(old_));
        EXPECT_EQ(response.delta().offset(), delta.size());
        EXPECT_LE(response.delta().data().size(), 1000u);
        delta += response.delta().data();
        last_ = response.delta().last();
      } else if (response.has_chunk() &&
                 response.chunk().sha256() == Sha256Of(new_)) {
        literal += response.chunk().data();
      }
    }
    if (!literal.empty()) return literal;
    StringBasis basis(old_);
    std::string out;
    sync::DeltaApplier applier(&basis, new_.size(),
                               [&out](absl::string_view data) {
                                 out.append(data.data(), data.size());
                                 return absl::OkStatus();
                               });
    EXPECT_TRUE(applier.Update(delta).ok());
    EXPECT_TRUE(applier.Finish().ok());
    return out;
  }

  class StringBasis final : public sync::DeltaBasis {
   public:
    explicit StringBasis(std::string data) : data_(std::move(data)) {}
    uint64_t size() const override { return data_.size(); }
    absl::StatusOr<size_t> ReadAt(uint64_t offset,
                                  absl::Span<char> out) override {
      const size_t n = std::min<uint64_t>(out.size(), data_.size() - offset);
      std::copy_n(data_.data() + offset, n, out.data());
      return n;
    }

   private:
    const std::string data_;
  };

  FakeCodeStore store_;
  Tree base_;
  Tree next_;
  std::string old_;
  std::string new_;
  int messages_ = 0;
  int diffs_ = 0;
  int64_t bytes_ = 0;
  bool last_ = false;
};

TEST_F(PullCodeSessionDeltaTest, ComputesADeltaAndKeepsTheSignature) {
  for (const bool have_base : {false, true}) {
    PullCodeSession session(&store_, Request(have_base),
                            /*max_chunk_bytes=*/1000);
    ASSERT_TRUE(session.Start().ok());
    EXPECT_EQ(Follow(session), new_) << have_base;
    EXPECT_TRUE(last_);
    EXPECT_EQ(diffs_, 1);
    EXPECT_EQ(session.deltas(), 1);
    EXPECT_EQ(session.kept_deltas(), 0);
    EXPECT_LT(bytes_, 4000);  // One block of 512 and a tree diff.
    diffs_ = 0;
    bytes_ = 0;
  }
  // The base's signature was computed once and kept.
  EXPECT_TRUE(store_.GetSignature(Sha256Of(old_)).ok());
}

TEST_F(PullCodeSessionDeltaTest, PrefersTheDeltaKeptFromTheSync) {
  const std::string kept = absl::StrCat(
      sync::DeltaHeader(), sync::CopyCommand(0, 150'000),
      sync::LiteralHeader(4), "EDIT",
      sync::CopyCommand(150'004, old_.size() - 150'004), sync::DeltaEnd());
  auto writer = store_.NewDeltaWriter(Sha256Of(new_), Sha256Of(old_));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(kept).ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  PullCodeSession session(&store_, Request(true), /*max_chunk_bytes=*/10);
  ASSERT_TRUE(session.Start().ok());
  EXPECT_EQ(Follow(session), new_);
  EXPECT_EQ(session.kept_deltas(), 1);
  EXPECT_FALSE(store_.GetSignature(Sha256Of(old_)).ok());  // Not needed.
}

TEST_F(PullCodeSessionDeltaTest, WithoutAKnownBaseEverythingGoesWhole) {
  PullCodeRequest request = Request(/*have_base=*/true);
  request.set_base_revision(std::string(64, 'c'));  // Unknown.
  PullCodeSession session(&store_, request);
  ASSERT_TRUE(session.Start().ok());
  PullCodeResponse response;
  ASSERT_TRUE(*session.Next(&response));
  EXPECT_TRUE(response.has_tree());
  EXPECT_EQ(Follow(session), new_);
  EXPECT_EQ(session.deltas(), 0);
}

TEST_F(PullCodeSessionDeltaTest, ABaseTheAgentLostGoesWhole) {
  PullCodeRequest request = Request(/*have_base=*/false);
  request.clear_have();
  request.add_have(Sha256Of("keep"));  // old.bin is gone on the agent.
  PullCodeSession session(&store_, request);
  ASSERT_TRUE(session.Start().ok());
  EXPECT_EQ(Follow(session), new_);
  EXPECT_EQ(session.deltas(), 0);
  EXPECT_EQ(diffs_, 1);  // The tree still goes as a diff.
}

}  // namespace
}  // namespace tether::controlplane
