#include "controlplane/code/code_collector.h"

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
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

TEST(CodeCollectorTest, CollectsOncePerIntervalOnItsClock) {
  FakeCodeStore store;
  SimulatedClock clock;
  absl::Mutex mu;
  int runs = 0;
  CodeCollector::Options options;
  options.store = &store;
  options.live_revisions = [&] {
    absl::MutexLock lock(&mu);
    ++runs;
    return absl::flat_hash_set<std::string>{};
  };
  options.interval = absl::Minutes(10);
  options.clock = &clock;
  CodeCollector collector(options);
  for (int expected = 1; expected <= 2; ++expected) {
    clock.AwaitTimedWaiters(1);
    clock.Advance(absl::Minutes(9));
    {
      absl::MutexLock lock(&mu);
      EXPECT_EQ(runs, expected - 1) << "collected before the interval";
    }
    clock.Advance(absl::Minutes(1));
    auto collected = [&] { return runs >= expected; };
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&collected, &decltype(collected)::operator()));
  }
}

}  // namespace
}  // namespace tether::controlplane
