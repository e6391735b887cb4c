#include "controlplane/code/file_code_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"
#include "sync/tree.h"

namespace tether::controlplane {
namespace {

using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

std::string TempDir() {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/file_code_store_test.XXXXXX";
  return mkdtemp(tmpl.data());
}

int CountFiles(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (struct dirent* e = readdir(d)) {
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
  }
  closedir(d);
  return n;
}

std::unique_ptr<FileCodeStore> NewStore(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<FileCodeStore>> store =
      FileCodeStore::Create({dir});
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

absl::Status WriteBlob(CodeStore& store, absl::string_view data,
                       absl::string_view sha256, size_t piece = 3) {
  ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer,
                   store.NewBlobWriter(sha256));
  for (size_t i = 0; i < data.size(); i += piece) {
    RETURN_IF_ERROR(writer->Append(data.substr(i, piece)));
  }
  return writer->Commit();
}

std::string ReadAll(const CodeStore& store, absl::string_view sha256) {
  absl::StatusOr<std::unique_ptr<BlobReader>> reader = store.OpenBlob(sha256);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return "";
  std::string all, piece;
  do {
    EXPECT_TRUE((*reader)->Read(4, &piece).ok());
    all += piece;
  } while (!piece.empty());
  EXPECT_EQ(all.size(), (*reader)->size());
  return all;
}

Tree OneFileTree(const std::string& contents) {
  Tree tree;
  TreeEntry* entry = tree.add_entries();
  entry->set_path("main.py");
  entry->set_kind(TreeEntry::KIND_FILE);
  entry->set_mode(0644);
  entry->set_size(contents.size());
  entry->set_sha256(Sha256Of(contents));
  return tree;
}

TEST(FileCodeStoreTest, RequiresDir) {
  EXPECT_EQ(FileCodeStore::Create({}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FileCodeStoreTest, CommittedBlobIsStoredUnderFanOutPath) {
  const std::string dir = TempDir();
  auto store = NewStore(dir);
  const std::string data = "print('hello')\n";
  const std::string sha = Sha256Of(data);
  EXPECT_FALSE(*store->HasBlob(sha));
  ASSERT_TRUE(WriteBlob(*store, data, sha).ok());
  EXPECT_TRUE(*store->HasBlob(sha));
  const std::string hex = ToHex(sha);
  EXPECT_EQ(store->BlobPath(sha),
            absl::StrCat(dir, "/blobs/", hex.substr(0, 2), "/", hex));
  EXPECT_EQ(*ReadFile(store->BlobPath(sha)), data);
  EXPECT_EQ(ReadAll(*store, sha), data);
  EXPECT_EQ(CountFiles(dir + "/tmp"), 0);
}

TEST(FileCodeStoreTest, EmptyBlob) {
  auto store = NewStore(TempDir());
  ASSERT_TRUE(WriteBlob(*store, "", Sha256Of("")).ok());
  EXPECT_EQ(ReadAll(*store, Sha256Of("")), "");
}

TEST(FileCodeStoreTest, DigestMismatchLeavesNothingBehind) {
  const std::string dir = TempDir();
  auto store = NewStore(dir);
  const std::string claimed = Sha256Of("expected");
  EXPECT_EQ(WriteBlob(*store, "tampered", claimed).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_FALSE(*store->HasBlob(claimed));
  EXPECT_EQ(CountFiles(dir + "/tmp"), 0);
  const std::string hex = ToHex(claimed);
  EXPECT_EQ(CountFiles(dir + "/blobs/" + hex.substr(0, 2)), 0);
}

TEST(FileCodeStoreTest, AbandonedWriterLeavesNothingBehind) {
  const std::string dir = TempDir();
  auto store = NewStore(dir);
  const std::string sha = Sha256Of("abc");
  {
    auto writer = store->NewBlobWriter(sha);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("ab").ok());
    EXPECT_EQ(CountFiles(dir + "/tmp"), 1);
  }
  EXPECT_FALSE(*store->HasBlob(sha));
  EXPECT_EQ(CountFiles(dir + "/tmp"), 0);
}

TEST(FileCodeStoreTest, CreateClearsStaleTempFilesAndKeepsData) {
  const std::string dir = TempDir();
  const std::string sha = Sha256Of("kept");
  {
    auto store = NewStore(dir);
    ASSERT_TRUE(WriteBlob(*store, "kept", sha).ok());
    ASSERT_TRUE(
        store->PutTree(sync::TreeId(OneFileTree("kept")), OneFileTree("kept"))
            .ok());
  }
  ASSERT_TRUE(WriteFileAtomically(dir + "/tmp/blob.crashed", "partial").ok());
  auto store = NewStore(dir);
  EXPECT_EQ(CountFiles(dir + "/tmp"), 0);
  EXPECT_TRUE(*store->HasBlob(sha));
  EXPECT_TRUE(*store->HasRevision(sync::TreeId(OneFileTree("kept"))));
}

TEST(FileCodeStoreTest, TreesRoundTrip) {
  const std::string dir = TempDir();
  auto store = NewStore(dir);
  const Tree tree = OneFileTree("x");
  const std::string revision = sync::TreeId(tree);
  EXPECT_FALSE(*store->HasRevision(revision));
  EXPECT_EQ(store->GetTree(revision).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->PutTree(revision, tree).ok());
  ASSERT_TRUE(store->PutTree(revision, tree).ok());  // Idempotent.
  EXPECT_TRUE(*store->HasRevision(revision));
  absl::StatusOr<Tree> got = store->GetTree(revision);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->SerializeAsString(), tree.SerializeAsString());
  EXPECT_TRUE(ReadFile(absl::StrCat(dir, "/trees/", revision, ".pb")).ok());
}

TEST(FileCodeStoreTest, RejectsMalformedKeysAndMismatchedTrees) {
  auto store = NewStore(TempDir());
  EXPECT_EQ(store->HasBlob("short").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->NewBlobWriter("short").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->OpenBlob(Sha256Of("none")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->GetTree("../../etc/passwd").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->HasRevision("ABC").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store->PutTree(sync::TreeId(OneFileTree("a")), OneFileTree("b")).code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(FileCodeStoreTest, CorruptTreeRecordIsDataLoss) {
  const std::string dir = TempDir();
  auto store = NewStore(dir);
  const Tree tree = OneFileTree("x");
  const std::string revision = sync::TreeId(tree);
  ASSERT_TRUE(store->PutTree(revision, tree).ok());
  ASSERT_TRUE(WriteFileAtomically(absl::StrCat(dir, "/trees/", revision, ".pb"),
                                  OneFileTree("y").SerializeAsString())
                  .ok());
  EXPECT_EQ(store->GetTree(revision).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(FileCodeStoreTest, ConcurrentWritersOfSameAndDistinctBlobs) {
  const std::string dir = TempDir();
  auto store = NewStore(dir);
  const std::string shared(100 * 1000, 's');
  constexpr int kThreads = 8;
  std::vector<absl::Status> results(2 * kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      results[2 * i] = WriteBlob(*store, shared, Sha256Of(shared), 1000);
      const std::string own = absl::StrCat("blob ", i);
      results[2 * i + 1] = WriteBlob(*store, own, Sha256Of(own));
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& status : results) EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(ReadAll(*store, Sha256Of(shared)), shared);
  for (int i = 0; i < kThreads; ++i) {
    const std::string own = absl::StrCat("blob ", i);
    EXPECT_EQ(ReadAll(*store, Sha256Of(own)), own);
  }
  EXPECT_EQ(CountFiles(dir + "/tmp"), 0);
}

TEST(FileCodeStoreTest, StagedBlobsAppearOnlyWhenPublished) {
  const std::string dir = TempDir();
  auto store = NewStore(dir);
  std::vector<std::unique_ptr<BlobWriter>> staged;
  for (const std::string data : {"one", "two", "three"}) {
    auto writer = store->NewBlobWriter(Sha256Of(data));
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(data).ok());
    ASSERT_TRUE((*writer)->Stage().ok());
    EXPECT_FALSE(*store->HasBlob(Sha256Of(data)));
    staged.push_back(*std::move(writer));
  }
  EXPECT_EQ(CountFiles(dir + "/tmp"), 3);
  ASSERT_TRUE(store->PublishBlobs(std::move(staged)).ok());
  EXPECT_EQ(CountFiles(dir + "/tmp"), 0);
  EXPECT_EQ(ReadAll(*store, Sha256Of("two")), "two");
  // A mismatch is caught at Stage; dropped staged writers leave nothing.
  auto bad = store->NewBlobWriter(Sha256Of("four"));
  ASSERT_TRUE((*bad)->Append("FOUR").ok());
  EXPECT_EQ((*bad)->Stage().code(), absl::StatusCode::kDataLoss);
  {
    auto dropped = store->NewBlobWriter(Sha256Of("five"));
    ASSERT_TRUE((*dropped)->Append("five").ok());
    ASSERT_TRUE((*dropped)->Stage().ok());
  }
  EXPECT_EQ(CountFiles(dir + "/tmp"), 0);
  EXPECT_FALSE(*store->HasBlob(Sha256Of("five")));
  // Only staged writers may be published.
  std::vector<std::unique_ptr<BlobWriter>> unstaged;
  unstaged.push_back(*store->NewBlobWriter(Sha256Of("six")));
  EXPECT_EQ(store->PublishBlobs(std::move(unstaged)).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(FileCodeStoreTest, ReadAtReadsAnywhere) {
  auto store = NewStore(TempDir());
  const std::string data = "0123456789";
  ASSERT_TRUE(WriteBlob(*store, data, Sha256Of(data)).ok());
  auto reader = store->OpenBlob(Sha256Of(data));
  ASSERT_TRUE(reader.ok());
  char buf[4];
  absl::StatusOr<size_t> n = (*reader)->ReadAt(7, absl::MakeSpan(buf, 4));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "789");
  EXPECT_EQ(*(*reader)->ReadAt(10, absl::MakeSpan(buf, 4)), 0u);
  // The sequential position is independent.
  std::string head;
  ASSERT_TRUE((*reader)->Read(3, &head).ok());
  EXPECT_EQ(head, "012");
}

TEST(FileCodeStoreTest, SignaturesAndDeltasAreKept) {
  const std::string dir = TempDir();
  auto store = NewStore(dir);
  const std::string a = Sha256Of("a");
  const std::string b = Sha256Of("b");
  EXPECT_EQ(store->GetSignature(a).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->PutSignature(a, "signature").ok());
  EXPECT_EQ(*store->GetSignature(a), "signature");

  EXPECT_EQ(store->OpenDelta(b, a).status().code(),
            absl::StatusCode::kNotFound);
  {
    auto dropped = store->NewDeltaWriter(b, a);
    ASSERT_TRUE(dropped.ok());
    ASSERT_TRUE((*dropped)->Append("partial").ok());
  }
  EXPECT_EQ(store->OpenDelta(b, a).status().code(),
            absl::StatusCode::kNotFound);
  auto writer = store->NewDeltaWriter(b, a);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("del").ok());
  ASSERT_TRUE((*writer)->Append("ta").ok());
  EXPECT_EQ((*writer)->size(), 5u);
  ASSERT_TRUE((*writer)->Commit().ok());
  auto reader = store->OpenDelta(b, a);
  ASSERT_TRUE(reader.ok());
  std::string delta;
  ASSERT_TRUE((*reader)->Read(100, &delta).ok());
  EXPECT_EQ(delta, "delta");
  EXPECT_EQ(CountFiles(dir + "/tmp"), 0);
  EXPECT_EQ(store->NewDeltaWriter("short", a).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Two revisions sharing a blob, with signatures and a delta between them.
struct TwoRevisions {
  std::string old_revision, new_revision;
  std::string only_old, shared, only_new;  // Blob digests.
};

TwoRevisions StoreTwoRevisions(CodeStore& store) {
  TwoRevisions r;
  r.only_old = Sha256Of("old");
  r.shared = Sha256Of("shared");
  r.only_new = Sha256Of("new");
  for (const char* data : {"old", "shared", "new"}) {
    EXPECT_TRUE(WriteBlob(store, data, Sha256Of(data)).ok());
  }
  const auto tree = [](absl::string_view a, absl::string_view b) {
    Tree t;
    for (absl::string_view data : {a, b}) {
      TreeEntry* entry = t.add_entries();
      entry->set_path(absl::StrCat(data, ".py"));
      entry->set_kind(TreeEntry::KIND_FILE);
      entry->set_mode(0644);
      entry->set_size(data.size());
      entry->set_sha256(Sha256Of(data));
    }
    return t;
  };
  const Tree old_tree = tree("old", "shared");
  const Tree new_tree = tree("new", "shared");
  r.old_revision = sync::TreeId(old_tree);
  r.new_revision = sync::TreeId(new_tree);
  EXPECT_TRUE(store.PutTree(r.old_revision, old_tree).ok());
  EXPECT_TRUE(store.PutTree(r.new_revision, new_tree).ok());
  EXPECT_TRUE(store.PutSignature(r.only_old, "sig").ok());
  EXPECT_TRUE(store.PutSignature(r.shared, "sig").ok());
  for (const std::string* base : {&r.only_old, &r.shared}) {
    auto writer = store.NewDeltaWriter(r.only_new, *base);
    EXPECT_TRUE(writer.ok() && (*writer)->Append("d").ok() &&
                (*writer)->Commit().ok());
  }
  return r;
}

TEST(FileCodeStoreTest, GarbageIsWhatNoKeptOrRecentRevisionHolds) {
  auto store = NewStore(TempDir());
  const TwoRevisions r = StoreTwoRevisions(*store);

  // Everything is recent: nothing goes.
  absl::StatusOr<GarbageStats> stats =
      store->CollectGarbage({r.new_revision}, absl::Now() - absl::Hours(1));
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->trees + stats->blobs + stats->derived, 0);

  stats = store->CollectGarbage({r.new_revision}, absl::Now() + absl::Hours(1));
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->trees, 1);
  EXPECT_EQ(stats->blobs, 1);
  EXPECT_EQ(stats->derived, 2);  // The old blob's signature and delta base.
  // The blob's 3 bytes, the 3-byte signature, the 1-byte delta, the tree.
  EXPECT_GT(stats->bytes, 7u);
  EXPECT_FALSE(*store->HasRevision(r.old_revision));
  EXPECT_TRUE(*store->HasRevision(r.new_revision));
  EXPECT_FALSE(*store->HasBlob(r.only_old));
  EXPECT_TRUE(*store->HasBlob(r.shared));
  EXPECT_TRUE(*store->HasBlob(r.only_new));
  EXPECT_TRUE(store->GetSignature(r.shared).ok());
  EXPECT_TRUE(absl::IsNotFound(store->GetSignature(r.only_old).status()));
  EXPECT_TRUE(store->OpenDelta(r.only_new, r.shared).ok());
  EXPECT_TRUE(
      absl::IsNotFound(store->OpenDelta(r.only_new, r.only_old).status()));
}

TEST(FileCodeStoreTest, AFoundBlobCountsAsStoredAgain) {
  const std::string dir = TempDir();
  auto store = NewStore(dir);
  const std::string loose = Sha256Of("loose");
  ASSERT_TRUE(WriteBlob(*store, "loose", loose).ok());
  // Stored long ago...
  const timespec long_ago[2] = {{1, 0}, {1, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, store->BlobPath(loose).c_str(), long_ago, 0),
            0);
  // ...and just found by a sync that will put a tree holding it.
  ASSERT_TRUE(*store->HasBlob(loose));
  absl::StatusOr<GarbageStats> stats =
      store->CollectGarbage({}, absl::Now() - absl::Minutes(1));
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->blobs, 0);
  EXPECT_TRUE(*store->HasBlob(loose));
}

}  // namespace
}  // namespace tether::controlplane
