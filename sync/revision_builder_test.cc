#include "sync/revision_builder.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sync/delta_encoder.h"
#include "sync/tree.h"

namespace tether::sync {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using ::tether::v1::BlobChunk;
using ::tether::v1::DeltaChunk;
using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

std::string TempDir() {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/revision_builder_test.XXXXXX";
  return mkdtemp(tmpl.data());
}

void AddFile(Tree& tree, const std::string& path, const std::string& data,
             uint32_t mode = 0644) {
  TreeEntry* entry = tree.add_entries();
  entry->set_path(path);
  entry->set_kind(TreeEntry::KIND_FILE);
  entry->set_mode(mode);
  entry->set_size(data.size());
  entry->set_sha256(Sha256Of(data));
}

void AddLink(Tree& tree, const std::string& path, const std::string& target) {
  TreeEntry* entry = tree.add_entries();
  entry->set_path(path);
  entry->set_kind(TreeEntry::KIND_SYMLINK);
  entry->set_link_target(target);
}

BlobChunk Chunk(const std::string& blob, uint64_t offset,
                const std::string& data) {
  BlobChunk chunk;
  chunk.set_sha256(Sha256Of(blob));
  chunk.set_offset(offset);
  chunk.set_data(data);
  return chunk;
}

// Sends `blob` whole, in pieces of `piece` bytes.
absl::Status SendBlob(RevisionBuilder& builder, const std::string& blob,
                      size_t piece = 4) {
  size_t offset = 0;
  do {
    RETURN_IF_ERROR(
        builder.AddChunk(Chunk(blob, offset, blob.substr(offset, piece))));
    offset += piece;
  } while (offset < blob.size());
  return absl::OkStatus();
}

ino_t Inode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

mode_t Mode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  return names;
}

class RevisionBuilderTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<RevisionBuilder>> Builder(const Tree& tree) {
    RevisionBuilder::Options options;
    options.workdir = workdir_;
    options.revision = TreeId(tree);
    return RevisionBuilder::Create(options, tree);
  }

  // Builds `tree` sending `blobs`; returns the revision dir.
  std::string Build(const Tree& tree, const std::vector<std::string>& blobs) {
    auto builder = Builder(tree);
    EXPECT_TRUE(builder.ok()) << builder.status();
    if (!builder.ok()) return "";
    for (const std::string& blob : blobs) {
      EXPECT_TRUE(SendBlob(**builder, blob).ok());
    }
    absl::StatusOr<std::string> dir = (*builder)->Finish();
    EXPECT_TRUE(dir.ok()) << dir.status();
    return dir.ok() ? *dir : "";
  }

  std::string workdir_ = TempDir();
};

Tree FirstTree() {
  Tree tree;
  AddFile(tree, "a.py", "print('a')\n");
  AddFile(tree, "bin/run", "#!/bin/sh\n", 0755);
  AddFile(tree, "copy.py", "print('a')\n");
  AddFile(tree, "empty", "");
  AddLink(tree, "lib/link", "../a.py");
  return tree;
}

TEST_F(RevisionBuilderTest, NoCurrentRevisionAtFirst) {
  EXPECT_EQ(CurrentRevision(workdir_).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(HaveDigests(workdir_).empty());
}

TEST_F(RevisionBuilderTest, BuildsTreeAndSwitchesCurrent) {
  const Tree tree = FirstTree();
  const std::string revision = TreeId(tree);
  const std::string dir = Build(tree, {"print('a')\n", "#!/bin/sh\n", ""});
  EXPECT_EQ(dir, RevisionDir(workdir_, revision));
  EXPECT_EQ(*ReadFile(dir + "/a.py"), "print('a')\n");
  EXPECT_EQ(*ReadFile(dir + "/copy.py"), "print('a')\n");
  EXPECT_EQ(*ReadFile(dir + "/empty"), "");
  EXPECT_EQ(*ReadFile(dir + "/lib/link"), "print('a')\n");
  EXPECT_EQ(Inode(dir + "/a.py"), Inode(dir + "/copy.py"));
  EXPECT_EQ(Mode(dir + "/bin/run"), 0555u);
  EXPECT_EQ(Mode(dir + "/a.py"), 0444u);
  EXPECT_EQ(*CurrentRevision(workdir_), revision);
  EXPECT_EQ(*ReadFile(workdir_ + "/current/a.py"), "print('a')\n");
  EXPECT_TRUE(RevisionExists(workdir_, revision));
  EXPECT_THAT(List(workdir_ + "/revs"),
              UnorderedElementsAre(revision, revision + ".tree.pb"));
  // What the agent scans back is the tree it was sent.
  EXPECT_EQ(TreeId(*ScanTree(dir, {})), revision);
}

TEST_F(RevisionBuilderTest, NextRevisionLinksUnchangedFiles) {
  const std::string first =
      Build(FirstTree(), {"print('a')\n", "#!/bin/sh\n", ""});
  EXPECT_THAT(HaveDigests(workdir_),
              UnorderedElementsAre(Sha256Of("print('a')\n"),
                                   Sha256Of("#!/bin/sh\n"), Sha256Of("")));
  Tree tree;
  AddFile(tree, "a.py", "print('a')\n");
  AddFile(tree, "a_exec.py", "print('a')\n", 0755);  // Mode differs: copy.
  AddFile(tree, "bin/run", "#!/bin/sh\necho new\n", 0755);
  AddFile(tree, "moved/empty", "");
  const std::string second = Build(tree, {"#!/bin/sh\necho new\n"});
  EXPECT_EQ(Inode(second + "/a.py"), Inode(first + "/a.py"));
  EXPECT_EQ(Inode(second + "/moved/empty"), Inode(first + "/empty"));
  EXPECT_NE(Inode(second + "/a_exec.py"), Inode(first + "/a.py"));
  EXPECT_EQ(*ReadFile(second + "/a_exec.py"), "print('a')\n");
  EXPECT_EQ(Mode(second + "/a_exec.py"), 0555u);
  EXPECT_EQ(*ReadFile(second + "/bin/run"), "#!/bin/sh\necho new\n");
  EXPECT_EQ(*ReadFile(first + "/bin/run"), "#!/bin/sh\n");
  EXPECT_EQ(*CurrentRevision(workdir_), TreeId(tree));
}

TEST_F(RevisionBuilderTest, InvalidTreeWritesNothing) {
  Tree tree;
  AddFile(tree, "../evil", "x");
  auto builder = Builder(tree);
  EXPECT_EQ(builder.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(builder.status().message(), HasSubstr("../evil"));
  EXPECT_TRUE(List(workdir_).empty());
}

TEST_F(RevisionBuilderTest, TreeNotMatchingRevisionIsDataLoss) {
  RevisionBuilder::Options options;
  options.workdir = workdir_;
  options.revision = TreeId(Tree());
  EXPECT_EQ(RevisionBuilder::Create(options, FirstTree()).status().code(),
            absl::StatusCode::kDataLoss);
  options.revision = "not-hex";
  EXPECT_EQ(RevisionBuilder::Create(options, FirstTree()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RevisionBuilderTest, CorruptBlobIsDataLossAndNothingSwitches) {
  const std::string first =
      Build(FirstTree(), {"print('a')\n", "#!/bin/sh\n", ""});
  Tree tree;
  AddFile(tree, "new.py", "new");
  {
    auto builder = Builder(tree);
    ASSERT_TRUE(builder.ok());
    const absl::Status status = (*builder)->AddChunk(Chunk("new", 0, "NEW"));
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(status.message(), HasSubstr("new.py"));
    EXPECT_EQ((*builder)->Finish().status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_EQ(*CurrentRevision(workdir_), TreeId(FirstTree()));
  EXPECT_THAT(List(workdir_ + "/revs"),
              UnorderedElementsAre(TreeId(FirstTree()),
                                   TreeId(FirstTree()) + ".tree.pb"));
}

TEST_F(RevisionBuilderTest, MissingBytesFailFinishNamingPath) {
  Tree tree;
  AddFile(tree, "a.py", "a");
  AddFile(tree, "b.py", "b");
  auto builder = Builder(tree);
  ASSERT_TRUE(builder.ok());
  ASSERT_TRUE(SendBlob(**builder, "a").ok());
  absl::StatusOr<std::string> dir = (*builder)->Finish();
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(dir.status().message(), HasSubstr("b.py"));
  builder->reset();
  EXPECT_TRUE(List(workdir_ + "/revs").empty());
  EXPECT_EQ(CurrentRevision(workdir_).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RevisionBuilderTest, IncompleteBlobFailsFinish) {
  Tree tree;
  AddFile(tree, "a.py", "abcdef");
  auto builder = Builder(tree);
  ASSERT_TRUE(builder.ok());
  ASSERT_TRUE((*builder)->AddChunk(Chunk("abcdef", 0, "abc")).ok());
  EXPECT_EQ((*builder)->Finish().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(RevisionBuilderTest, ProtocolErrorsAreInvalidArgument) {
  Tree tree;
  AddFile(tree, "a.py", "abcdef");
  AddFile(tree, "b.py", "b");
  struct Case {
    std::string name;
    std::vector<BlobChunk> chunks;
  };
  const std::vector<Case> cases = {
      {"unknown blob", {Chunk("zzz", 0, "zzz")}},
      {"not from zero", {Chunk("abcdef", 3, "def")}},
      {"gap", {Chunk("abcdef", 0, "ab"), Chunk("abcdef", 3, "def")}},
      {"interleaved", {Chunk("abcdef", 0, "ab"), Chunk("b", 0, "b")}},
      {"too long", {Chunk("b", 0, "bb")}},
      {"twice", {Chunk("b", 0, "b"), Chunk("b", 0, "b")}},
      {"oversized chunk", {Chunk("abcdef", 0, std::string(5 << 20, 'x'))}},
  };
  for (const Case& c : cases) {
    auto builder = Builder(tree);
    ASSERT_TRUE(builder.ok());
    absl::Status status;
    for (const BlobChunk& chunk : c.chunks) {
      status = (*builder)->AddChunk(chunk);
      if (!status.ok()) break;
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
  }
}

TEST_F(RevisionBuilderTest, RemovesStaleStagingDirs) {
  Tree tree;
  AddFile(tree, "a.py", "a");
  const std::string stale =
      absl::StrCat(workdir_, "/revs/", TreeId(tree), ".staging-999999");
  ASSERT_TRUE(MakeDirs(stale + "/half").ok());
  ASSERT_TRUE(WriteFileAtomically(stale + "/half/file", "x").ok());
  Build(tree, {"a"});
  EXPECT_THAT(List(workdir_ + "/revs"),
              UnorderedElementsAre(TreeId(tree), TreeId(tree) + ".tree.pb"));
}

TEST_F(RevisionBuilderTest, PruneKeepsCurrentAndKeptRevisionsOnly) {
  Tree one, two, three;
  AddFile(one, "a.py", "1");
  AddFile(two, "a.py", "2");
  AddFile(three, "a.py", "3");
  Build(one, {"1"});
  Build(two, {"2"});
  Build(three, {"3"});
  const std::string staging =
      absl::StrCat(workdir_, "/revs/", TreeId(one), ".staging-999999");
  ASSERT_TRUE(MakeDirs(staging).ok());
  // What a crash in an earlier prune left.
  const std::string trash =
      absl::StrCat(workdir_, "/revs/", TreeId(one), "0.trash");
  ASSERT_TRUE(MakeDirs(trash + "/sub").ok());

  ASSERT_TRUE(PruneRevisions(workdir_, {TreeId(two)}).ok());
  EXPECT_THAT(List(workdir_ + "/revs"),
              UnorderedElementsAre(TreeId(two), TreeId(two) + ".tree.pb",
                                   TreeId(three), TreeId(three) + ".tree.pb",
                                   TreeId(one) + ".staging-999999"));
  EXPECT_FALSE(RevisionExists(workdir_, TreeId(one)));
  EXPECT_EQ(*CurrentRevision(workdir_), TreeId(three));
  // A pruned revision builds again from scratch.
  EXPECT_TRUE(Builder(one).ok());
}

TEST_F(RevisionBuilderTest, BuiltRevisionIsAlreadyExistsAndSwitchable) {
  Build(FirstTree(), {"print('a')\n", "#!/bin/sh\n", ""});
  Tree other;
  AddFile(other, "o.py", "o");
  Build(other, {"o"});
  EXPECT_EQ(Builder(FirstTree()).status().code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(SwitchCurrent(workdir_, TreeId(FirstTree())).ok());
  EXPECT_EQ(*CurrentRevision(workdir_), TreeId(FirstTree()));
  EXPECT_EQ(SwitchCurrent(workdir_, std::string(64, 'f')).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RevisionBuilderTest, ChangedLinkSourceIsAborted) {
  const std::string first =
      Build(FirstTree(), {"print('a')\n", "#!/bin/sh\n", ""});
  Tree tree;
  AddFile(tree, "a.py", "print('a')\n");
  auto builder = Builder(tree);
  ASSERT_TRUE(builder.ok());
  // User code rewrote the file after the pull announced it as `have`.
  ASSERT_EQ(chmod((first + "/a.py").c_str(), 0644), 0);
  ASSERT_TRUE(WriteFileAtomically(first + "/a.py", "edited").ok());
  EXPECT_EQ((*builder)->Finish().status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(*CurrentRevision(workdir_), TreeId(FirstTree()));
}

TEST_F(RevisionBuilderTest, HaveSkipsDamagedFiles) {
  const std::string first =
      Build(FirstTree(), {"print('a')\n", "#!/bin/sh\n", ""});
  ASSERT_EQ(unlink((first + "/bin/run").c_str()), 0);
  EXPECT_THAT(HaveDigests(workdir_),
              UnorderedElementsAre(Sha256Of("print('a')\n"), Sha256Of("")));
}

// ---- Deltas ------------------------------------------------------------

DeltaChunk Delta(const std::string& target, const std::string& base,
                 uint64_t offset, const std::string& data, bool last) {
  DeltaChunk delta;
  delta.set_sha256(Sha256Of(target));
  delta.set_base_sha256(Sha256Of(base));
  delta.set_offset(offset);
  delta.set_data(data);
  delta.set_last(last);
  return delta;
}

// The current revision holds big.bin = old_; the next one edits it.
class RevisionBuilderDeltaTest : public RevisionBuilderTest {
 protected:
  void SetUp() override {
    old_ = std::string(20'000, 'o');
    for (size_t i = 0; i < old_.size(); i += 7) old_[i] = static_cast<char>(i);
    new_ = old_;
    new_.replace(10'000, 3, "NEW");
    AddFile(first_, "big.bin", old_);
    AddFile(first_, "keep.py", "keep");
    first_dir_ = Build(first_, {old_, "keep"});
    ASSERT_FALSE(first_dir_.empty());
    AddFile(next_, "big.bin", new_);
    AddFile(next_, "keep.py", "keep");
  }

  std::string GoodDelta() const {
    return absl::StrCat(DeltaHeader(), CopyCommand(0, 10'000), LiteralHeader(3),
                        "NEW", CopyCommand(10'003, old_.size() - 10'003),
                        DeltaEnd());
  }

  Tree first_;
  Tree next_;
  std::string first_dir_;
  std::string old_;
  std::string new_;
};

TEST_F(RevisionBuilderDeltaTest, PatchesTheCurrentFileIntoStaging) {
  auto builder = Builder(next_);
  ASSERT_TRUE(builder.ok()) << builder.status();
  const std::string delta = GoodDelta();
  ASSERT_TRUE((*builder)
                  ->AddDelta(Delta(new_, old_, 0, delta.substr(0, 5), false))
                  .ok());
  ASSERT_TRUE(
      (*builder)->AddDelta(Delta(new_, old_, 5, delta.substr(5), true)).ok());
  absl::StatusOr<std::string> dir = (*builder)->Finish();
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(*ReadFile(*dir + "/big.bin"), new_);
  EXPECT_EQ(*ReadFile(first_dir_ + "/big.bin"), old_);  // Untouched.
  EXPECT_EQ(Inode(*dir + "/keep.py"), Inode(first_dir_ + "/keep.py"));
  EXPECT_EQ(Mode(*dir + "/big.bin"), 0444u);
  EXPECT_EQ(*CurrentRevision(workdir_), TreeId(next_));
}

TEST_F(RevisionBuilderDeltaTest, WrongResultIsDataLossAndNothingSwitches) {
  for (const std::string& delta :
       {absl::StrCat(DeltaHeader(), CopyCommand(0, old_.size() - 3),
                     LiteralHeader(3), "NEW", DeltaEnd()),  // Wrong bytes.
        absl::StrCat(DeltaHeader(), CopyCommand(0, 10), DeltaEnd()),  // Size.
        std::string("rs\x02\x36\x99junk")}) {  // Corrupt.
    auto builder = Builder(next_);
    ASSERT_TRUE(builder.ok()) << builder.status();
    const absl::Status status =
        (*builder)->AddDelta(Delta(new_, old_, 0, delta, true));
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_THAT(status.message(), HasSubstr("big.bin"));
    EXPECT_FALSE((*builder)->Finish().ok());
    builder->reset();
    EXPECT_EQ(*CurrentRevision(workdir_), TreeId(first_));
    EXPECT_FALSE(RevisionExists(workdir_, TreeId(next_)));
    EXPECT_THAT(
        List(workdir_ + "/revs"),
        UnorderedElementsAre(TreeId(first_), TreeId(first_) + ".tree.pb"));
  }
}

TEST_F(RevisionBuilderDeltaTest, UnknownBaseIsFailedPrecondition) {
  auto builder = Builder(next_);
  ASSERT_TRUE(builder.ok());
  EXPECT_EQ((*builder)
                ->AddDelta(Delta(new_, "not held", 0, GoodDelta(), true))
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(RevisionBuilderDeltaTest, OrderingRulesApply) {
  {
    auto builder = Builder(next_);
    ASSERT_TRUE(builder.ok());
    EXPECT_EQ((*builder)->AddDelta(Delta(new_, old_, 3, "x", true)).code(),
              absl::StatusCode::kInvalidArgument);
  }
  {
    auto builder = Builder(next_);
    ASSERT_TRUE(builder.ok());
    ASSERT_TRUE(
        (*builder)
            ->AddDelta(Delta(new_, old_, 0, GoodDelta().substr(0, 4), false))
            .ok());
    EXPECT_EQ((*builder)->AddChunk(Chunk(new_, 0, new_)).code(),
              absl::StatusCode::kInvalidArgument);
  }
  {
    auto builder = Builder(next_);
    ASSERT_TRUE(builder.ok());
    ASSERT_TRUE(
        (*builder)->AddDelta(Delta(new_, old_, 0, GoodDelta(), true)).ok());
    EXPECT_EQ(
        (*builder)->AddDelta(Delta(new_, old_, 0, GoodDelta(), true)).code(),
        absl::StatusCode::kInvalidArgument);  // Sent twice.
  }
}

}  // namespace
}  // namespace tether::sync
