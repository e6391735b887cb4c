#include "controlplane/code/pull_code_session.h"

#include <string>
#include <vector>

#include "common/sha256.h"
#include "controlplane/code/fake_code_store.h"
#include "gtest/gtest.h"
#include "sync/tree.h"

namespace tether {
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
    revision_ = TreeId(tree_);
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
  EXPECT_EQ(TreeId(messages[0].tree()), revision_);
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
  ASSERT_TRUE(store_.PutTree(TreeId(tree), tree).ok());
  PullCodeRequest request;
  request.set_revision(TreeId(tree));
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

}  // namespace
}  // namespace tether
