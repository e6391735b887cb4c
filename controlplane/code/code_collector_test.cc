#include "controlplane/code/code_collector.h"

#include "controlplane/code/fake_code_store.h"
#include "gtest/gtest.h"
#include "sync/tree.h"

namespace tether::controlplane {
namespace {

std::string AddRevision(FakeCodeStore& store, const std::string& contents) {
  tether::v1::Tree tree;
  auto* entry = tree.add_entries();
  entry->set_path("app.py");
  entry->set_kind(tether::v1::TreeEntry::KIND_FILE);
  entry->set_mode(0644);
  entry->set_size(contents.size());
  entry->set_sha256(store.AddBlobForTest(contents));
  const std::string id = sync::TreeId(tree);
  EXPECT_TRUE(store.PutTree(id, tree).ok());
  return id;
}

TEST(CodeCollectorTest, KeepsTheLiveRevisionsAndDropsTheRest) {
  FakeCodeStore store;
  const std::string old_revision = AddRevision(store, "v1");
  const std::string live = AddRevision(store, "v2");
  CodeCollector::Options options;
  options.store = &store;
  options.live_revisions = [&] {
    return absl::flat_hash_set<std::string>{live};
  };
  options.interval = absl::ZeroDuration();  // The test runs it.
  CodeCollector collector(options);
  absl::StatusOr<GarbageStats> stats = collector.RunOnce();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->trees, 1);
  EXPECT_EQ(stats->blobs, 1);
  EXPECT_FALSE(*store.HasRevision(old_revision));
  EXPECT_TRUE(*store.HasRevision(live));
  EXPECT_EQ(store.BlobCountForTest(), 1u);
}

}  // namespace
}  // namespace tether::controlplane
