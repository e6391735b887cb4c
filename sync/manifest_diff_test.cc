#include "sync/manifest_diff.h"

#include <string>

#include "common/sha256.h"
#include "gtest/gtest.h"
#include "sync/tree.h"

namespace tether::sync {
namespace {

using ::tether::v1::ManifestDiff;
using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

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

Tree Base() {
  Tree tree;
  AddFile(tree, "a.py", "a");
  AddFile(tree, "b/c.py", "c");
  AddLink(tree, "b/link", "c.py");
  AddFile(tree, "d.py", "d");
  AddFile(tree, "e.sh", "e", 0755);
  return tree;
}

Tree Changed() {
  Tree tree;
  AddFile(tree, "a.py", "a");
  AddFile(tree, "aa.py", "new");         // Added.
  AddFile(tree, "b/c.py", "c, edited");  // Edited.
  AddLink(tree, "b/link", "c.py");
  // d.py removed.
  AddFile(tree, "e.sh", "e", 0644);  // Mode change.
  return tree;
}

const std::string kBaseRevision(64, 'b');

TEST(ManifestDiffTest, CarriesOnlyChangesAndRoundTrips) {
  const ManifestDiff diff = MakeManifestDiff(kBaseRevision, Base(), Changed());
  EXPECT_EQ(diff.base_revision(), kBaseRevision);
  ASSERT_EQ(diff.upserts_size(), 3);
  EXPECT_EQ(diff.upserts(0).path(), "aa.py");
  EXPECT_EQ(diff.upserts(1).path(), "b/c.py");
  EXPECT_EQ(diff.upserts(2).path(), "e.sh");
  ASSERT_EQ(diff.removed_size(), 1);
  EXPECT_EQ(diff.removed(0), "d.py");
  EXPECT_EQ(diff.revision(), TreeId(Changed()));
  absl::StatusOr<Tree> tree = ApplyManifestDiff(Base(), diff, {});
  ASSERT_TRUE(tree.ok()) << tree.status();
  EXPECT_EQ(tree->SerializeAsString(), Changed().SerializeAsString());
}

TEST(ManifestDiffTest, NoChangeIsAnEmptyDiff) {
  const ManifestDiff diff = MakeManifestDiff(kBaseRevision, Base(), Base());
  EXPECT_EQ(diff.upserts_size(), 0);
  EXPECT_EQ(diff.removed_size(), 0);
  absl::StatusOr<Tree> tree = ApplyManifestDiff(Base(), diff, {});
  ASSERT_TRUE(tree.ok()) << tree.status();
  EXPECT_EQ(TreeId(*tree), TreeId(Base()));
}

TEST(ManifestDiffTest, FromAndToEmptyTrees) {
  for (const auto& [from, to] :
       std::vector<std::pair<Tree, Tree>>{{Tree(), Base()}, {Base(), Tree()}}) {
    absl::StatusOr<Tree> tree =
        ApplyManifestDiff(from, MakeManifestDiff(kBaseRevision, from, to), {});
    ASSERT_TRUE(tree.ok()) << tree.status();
    EXPECT_EQ(TreeId(*tree), TreeId(to));
  }
}

TEST(ManifestDiffTest, WrongClaimedRevisionIsRejected) {
  ManifestDiff diff = MakeManifestDiff(kBaseRevision, Base(), Changed());
  diff.set_revision(TreeId(Base()));
  absl::StatusOr<Tree> tree = ApplyManifestDiff(Base(), diff, {});
  EXPECT_EQ(tree.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tree.status().message().find("claimed"), std::string::npos);
}

TEST(ManifestDiffTest, MalformedDiffsAreRejected) {
  const ManifestDiff good = MakeManifestDiff(kBaseRevision, Base(), Changed());
  std::vector<std::pair<std::string, ManifestDiff>> cases;
  {
    ManifestDiff diff = good;
    diff.add_removed("zzz.py");
    cases.emplace_back("removal of a path the base lacks", diff);
  }
  {
    ManifestDiff diff = good;
    diff.mutable_removed()->Clear();
    diff.add_removed("b/c.py");
    cases.emplace_back("removed and upserted", diff);
  }
  {
    ManifestDiff diff = good;
    diff.mutable_upserts()->SwapElements(0, 1);
    cases.emplace_back("unsorted upserts", diff);
  }
  {
    ManifestDiff diff = good;
    *diff.add_upserts() = diff.upserts(2);
    cases.emplace_back("duplicate upserts", diff);
  }
  {
    ManifestDiff diff = good;
    diff.add_removed("d.py");
    cases.emplace_back("duplicate removals", diff);
  }
  {
    // "a.py/x" below the file "a.py": ValidateTree's job, on the result.
    ManifestDiff diff;
    diff.set_base_revision(kBaseRevision);
    Tree extra;
    AddFile(extra, "a.py/x", "x");
    *diff.add_upserts() = extra.entries(0);
    cases.emplace_back("result is not a valid tree", diff);
  }
  {
    ManifestDiff diff;
    Tree extra;
    AddFile(extra, "../escape", "x");
    *diff.add_upserts() = extra.entries(0);
    cases.emplace_back("escaping path", diff);
  }
  for (const auto& [name, diff] : cases) {
    absl::StatusOr<Tree> tree = ApplyManifestDiff(Base(), diff, {});
    EXPECT_EQ(tree.status().code(), absl::StatusCode::kInvalidArgument)
        << name << ": " << tree.status();
  }
}

TEST(ManifestDiffTest, LimitsApplyToTheResult) {
  TreeLimits limits;
  limits.max_entries = 4;
  absl::StatusOr<Tree> tree = ApplyManifestDiff(
      Base(), MakeManifestDiff(kBaseRevision, Base(), Base()), limits);
  EXPECT_EQ(tree.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether::sync
