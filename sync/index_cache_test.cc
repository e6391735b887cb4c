#include "sync/index_cache.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sync/tree.h"

namespace tether::sync {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

std::string TempDir(const std::string& name) {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/" + name + ".XXXXXX";
  return mkdtemp(tmpl.data());
}

void Write(const std::string& root, const std::string& rel,
           const std::string& contents) {
  const std::string path = root + "/" + rel;
  ASSERT_TRUE(MakeDirs(path.substr(0, path.rfind('/'))).ok());
  ASSERT_TRUE(WriteFileAtomically(path, contents).ok());
}

// Scans are "later" than every file write by an injected clock, so no entry
// is racy unless a test says so and no test sleeps.
absl::Time Later() { return absl::Now() + absl::Seconds(10); }

class IndexCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 20; ++i) {
      Write(root_, absl::StrCat("pkg/m", i, ".py"), absl::StrCat("x = ", i));
    }
    Write(root_, "big.bin", std::string(100'000, 'b'));
    ASSERT_EQ(symlink("pkg/m1.py", (root_ + "/link.py").c_str()), 0);
  }

  // One warm-capable scan: loads the cache, scans (recording which files
  // were read), saves it as if tetherd stored the tree.
  Tree Scan(absl::Time start, bool save = true) {
    reads_.clear();
    cache_ = IndexCache::Load(dir_, root_, "tetherd:1", start);
    ScanOptions options;
    options.cache = cache_.get();
    options.on_read = [this](const std::string& path) {
      reads_.push_back(path);
    };
    absl::StatusOr<Tree> tree = ScanTree(root_, options);
    EXPECT_TRUE(tree.ok()) << tree.status();
    if (save && tree.ok()) {
      EXPECT_TRUE(cache_->Save(*tree, TreeId(*tree)).ok());
    }
    return tree.ok() ? *tree : Tree();
  }

  const std::string root_ = TempDir("root");
  const std::string dir_ = TempDir("cache");
  std::unique_ptr<IndexCache> cache_;
  std::vector<std::string> reads_;
};

TEST_F(IndexCacheTest, WarmScanReadsOnlyChangedFiles) {
  const Tree cold = Scan(Later());
  EXPECT_EQ(reads_.size(), 21u);
  EXPECT_EQ(cache_->hits(), 0);

  const Tree warm = Scan(Later());
  EXPECT_THAT(reads_, IsEmpty());
  EXPECT_EQ(cache_->hits(), 21);
  EXPECT_EQ(warm.SerializeAsString(), cold.SerializeAsString());
  EXPECT_EQ(cache_->base_revision(), TreeId(cold));

  Write(root_, "pkg/m7.py", "x = 70");  // Same size, new inode and times.
  Write(root_, "pkg/new.py", "new");
  const Tree edited = Scan(Later());
  EXPECT_THAT(reads_, ElementsAre("pkg/m7.py", "pkg/new.py"));
  // What the warm scan reports equals a scan without any cache.
  absl::StatusOr<Tree> fresh = ScanTree(root_, {});
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(edited.SerializeAsString(), fresh->SerializeAsString());
}

TEST_F(IndexCacheTest, RacyEntriesAreReadAgain) {
  // The scan "began" right after the oldest file was written: a write in
  // the same tick could follow unseen, so nothing may be trusted next time.
  absl::Time oldest = absl::InfiniteFuture();
  const absl::StatusOr<Tree> files = ScanTree(root_, {});
  ASSERT_TRUE(files.ok());
  for (const TreeEntry& entry : files->entries()) {
    struct stat st;
    ASSERT_EQ(lstat((root_ + "/" + entry.path()).c_str(), &st), 0);
    oldest = std::min(oldest, absl::TimeFromTimespec(st.st_ctim));
  }
  Scan(oldest + absl::Milliseconds(1));
  Scan(Later());
  EXPECT_EQ(reads_.size(), 21u);
  // Read again after the margin: now they are trusted.
  Scan(Later());
  EXPECT_THAT(reads_, IsEmpty());
}

TEST_F(IndexCacheTest, InPlaceEditIsNoticedThroughTimes) {
  Scan(Later());
  // Same inode, same size: only mtime/ctime tell.
  const std::string path = root_ + "/pkg/m3.py";
  FILE* file = fopen(path.c_str(), "r+");
  ASSERT_NE(file, nullptr);
  fputs("y = 3", file);
  fclose(file);
  const Tree tree = Scan(Later());
  EXPECT_THAT(reads_, ElementsAre("pkg/m3.py"));
  EXPECT_EQ(*ReadFile(path), "y = 3");
}

TEST_F(IndexCacheTest, UnusableCachesMeanColdScans) {
  Scan(Later());
  const std::string file = IndexCache::FilePath(dir_, root_, "tetherd:1");
  ASSERT_TRUE(WriteFileAtomically(file, "not a proto \xff\xff").ok());
  Scan(Later());
  EXPECT_EQ(reads_.size(), 21u);
  EXPECT_EQ(cache_->base_revision(), "");
  // Another endpoint has its own file.
  auto other = IndexCache::Load(dir_, root_, "tetherd:2", Later());
  EXPECT_EQ(other->base_revision(), "");
  EXPECT_NE(IndexCache::FilePath(dir_, root_, "tetherd:2"), file);
}

TEST_F(IndexCacheTest, BaseIsKeptOnlyForAVouchedRevision) {
  const Tree tree = Scan(Later(), /*save=*/false);
  ASSERT_TRUE(cache_->Save(tree, "").ok());
  Scan(Later(), /*save=*/false);
  EXPECT_THAT(reads_, IsEmpty());          // Stat data were kept...
  EXPECT_EQ(cache_->base_revision(), "");  // ...the base was not.
  EXPECT_EQ(cache_->base_tree().entries_size(), tree.entries_size());
}

TEST_F(IndexCacheTest, SignaturesAndAppendsAreRemembered) {
  const Tree tree = Scan(Later(), /*save=*/false);
  const std::string big = Sha256Of(std::string(100'000, 'b'));
  cache_->SetSignature(big, "sig-bytes");
  ASSERT_TRUE(cache_->Save(tree, TreeId(tree)).ok());

  // Appending is detected from the scan's prefix digest...
  Write(root_, "big.bin", std::string(100'000, 'b') + "tail");
  Scan(Later(), /*save=*/false);
  EXPECT_THAT(reads_, ElementsAre("big.bin"));
  ASSERT_NE(cache_->Signature(big), nullptr);
  EXPECT_EQ(*cache_->Signature(big), "sig-bytes");
  EXPECT_TRUE(cache_->GrewByAppending("big.bin"));
  ASSERT_NE(cache_->BaseEntry("big.bin"), nullptr);
  EXPECT_EQ(cache_->BaseEntry("big.bin")->size(), 100'000u);
  struct stat st;
  ASSERT_EQ(stat((root_ + "/big.bin").c_str(), &st), 0);
  EXPECT_TRUE(cache_->UnchangedSinceScan("big.bin", st));
  EXPECT_FALSE(cache_->UnchangedSinceScan("pkg/m1.py", st));

  // ...and an edit inside the old part is not an append.
  Write(root_, "big.bin", "B" + std::string(99'999, 'b') + "tail");
  Scan(Later(), /*save=*/false);
  EXPECT_FALSE(cache_->GrewByAppending("big.bin"));
}

TEST(IndexCacheDirTest, DefaultDirFollowsXdgThenHome) {
  setenv("XDG_CACHE_HOME", "/x/cache", 1);
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(IndexCache::DefaultDir(), "/x/cache/tether/sync");
  setenv("XDG_CACHE_HOME", "relative", 1);
  EXPECT_EQ(IndexCache::DefaultDir(), "/home/u/.cache/tether/sync");
  unsetenv("XDG_CACHE_HOME");
  unsetenv("HOME");
  EXPECT_EQ(IndexCache::DefaultDir(), "");
}

}  // namespace
}  // namespace tether::sync
