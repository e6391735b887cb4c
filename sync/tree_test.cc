#include "sync/tree.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::sync {
namespace {

using ::testing::HasSubstr;
using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

std::string TempDir() {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/tree_test.XXXXXX";
  return mkdtemp(tmpl.data());
}

void Write(const std::string& root, const std::string& rel,
           const std::string& contents, mode_t mode = 0644) {
  const std::string path = root + "/" + rel;
  ASSERT_TRUE(MakeDirs(path.substr(0, path.rfind('/'))).ok());
  ASSERT_TRUE(WriteFileAtomically(path, contents).ok());
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

void Link(const std::string& root, const std::string& rel,
          const std::string& target) {
  const std::string path = root + "/" + rel;
  ASSERT_TRUE(MakeDirs(path.substr(0, path.rfind('/'))).ok());
  ASSERT_EQ(symlink(target.c_str(), path.c_str()), 0);
}

std::vector<std::string> Paths(const Tree& tree) {
  std::vector<std::string> paths;
  for (const TreeEntry& entry : tree.entries()) paths.push_back(entry.path());
  return paths;
}

TreeEntry File(const std::string& path, const std::string& contents,
               uint32_t mode = 0644) {
  TreeEntry entry;
  entry.set_path(path);
  entry.set_kind(TreeEntry::KIND_FILE);
  entry.set_mode(mode);
  entry.set_size(contents.size());
  entry.set_sha256(Sha256Of(contents));
  return entry;
}

TreeEntry Symlink(const std::string& path, const std::string& target) {
  TreeEntry entry;
  entry.set_path(path);
  entry.set_kind(TreeEntry::KIND_SYMLINK);
  entry.set_link_target(target);
  return entry;
}

Tree MakeTree(std::vector<TreeEntry> entries) {
  Tree tree;
  for (TreeEntry& entry : entries) *tree.add_entries() = std::move(entry);
  return tree;
}

TEST(ScanTreeTest, SortedEntriesWithModesSizesAndDigests) {
  const std::string root = TempDir();
  Write(root, "b.txt", "bee");
  Write(root, "a/run.sh", "#!/bin/sh\n", 0700);
  Write(root, "a-b", "");
  Write(root, "a/z/deep.py", "x = 1\n", 0640);
  absl::StatusOr<Tree> tree = ScanTree(root, {});
  ASSERT_TRUE(tree.ok()) << tree.status();
  // Bytewise order: '-' sorts before '/'.
  EXPECT_THAT(Paths(*tree), ::testing::ElementsAre("a-b", "a/run.sh",
                                                   "a/z/deep.py", "b.txt"));
  const TreeEntry& run = tree->entries(1);
  EXPECT_EQ(run.kind(), TreeEntry::KIND_FILE);
  EXPECT_EQ(run.mode(), 0755u);
  EXPECT_EQ(run.size(), 10u);
  EXPECT_EQ(run.sha256(), Sha256Of("#!/bin/sh\n"));
  EXPECT_EQ(tree->entries(2).mode(), 0644u);
  EXPECT_EQ(tree->entries(0).size(), 0u);
  EXPECT_EQ(tree->entries(0).sha256(), Sha256Of(""));
}

TEST(ScanTreeTest, SkipsAlwaysIgnoredAndIgnoreFileRules) {
  const std::string root = TempDir();
  Write(root, ".git/HEAD", "ref");
  Write(root, "pkg/__pycache__/m.cpython-311.pyc", "x");
  Write(root, "pkg/m.pyc", "x");
  Write(root, "pkg/m.py", "x");
  Write(root, ".gitignore", "*.log\ndata/\n");
  Write(root, "app.log", "x");
  Write(root, "data/big.bin", "x");
  Write(root, "pkg/.tetherignore", "/local.cfg\n!keep.log\n");
  Write(root, "pkg/local.cfg", "x");
  Write(root, "pkg/keep.log", "x");
  Write(root, "local.cfg", "x");
  absl::StatusOr<Tree> tree = ScanTree(root, {});
  ASSERT_TRUE(tree.ok()) << tree.status();
  EXPECT_THAT(Paths(*tree), ::testing::ElementsAre(".gitignore", "local.cfg",
                                                   "pkg/.tetherignore",
                                                   "pkg/keep.log", "pkg/m.py"));
}

TEST(ScanTreeTest, RecordsRelativeSymlinksWithoutFollowing) {
  const std::string root = TempDir();
  Write(root, "lib/util.py", "u");
  Link(root, "util.py", "lib/util.py");
  Link(root, "lib/self", "..");
  Link(root, "dangling", "nowhere");
  absl::StatusOr<Tree> tree = ScanTree(root, {});
  ASSERT_TRUE(tree.ok()) << tree.status();
  EXPECT_THAT(Paths(*tree), ::testing::ElementsAre("dangling", "lib/self",
                                                   "lib/util.py", "util.py"));
  const TreeEntry& link = tree->entries(3);
  EXPECT_EQ(link.kind(), TreeEntry::KIND_SYMLINK);
  EXPECT_EQ(link.link_target(), "lib/util.py");
  EXPECT_TRUE(link.sha256().empty());
  EXPECT_EQ(link.mode(), 0u);
}

TEST(ScanTreeTest, RejectsAbsoluteAndEscapingSymlinks) {
  const std::string absolute = TempDir();
  Link(absolute, "etc", "/etc/passwd");
  absl::StatusOr<Tree> tree = ScanTree(absolute, {});
  EXPECT_EQ(tree.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tree.status().message(), HasSubstr("\"etc\""));

  const std::string escaping = TempDir();
  Link(escaping, "sub/out", "../../x");
  tree = ScanTree(escaping, {});
  EXPECT_EQ(tree.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tree.status().message(), HasSubstr("\"sub/out\""));
}

TEST(ScanTreeTest, IgnoredBadSymlinkIsFine) {
  const std::string root = TempDir();
  Link(root, "venv-python", "/usr/bin/python3");
  Write(root, ".tetherignore", "venv-python\n");
  EXPECT_TRUE(ScanTree(root, {}).ok());
}

TEST(ScanTreeTest, RejectsFifo) {
  const std::string root = TempDir();
  ASSERT_EQ(mkfifo((root + "/pipe").c_str(), 0644), 0);
  absl::StatusOr<Tree> tree = ScanTree(root, {});
  EXPECT_EQ(tree.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tree.status().message(), HasSubstr("\"pipe\""));
}

TEST(ScanTreeTest, EnforcesLimits) {
  const std::string root = TempDir();
  Write(root, "a", "12345");
  Write(root, "b", "123");
  ScanOptions options;
  options.limits.max_file_bytes = 4;
  absl::StatusOr<Tree> tree = ScanTree(root, options);
  EXPECT_EQ(tree.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tree.status().message(), HasSubstr("\"a\""));

  options = {};
  options.limits.max_total_bytes = 7;
  EXPECT_EQ(ScanTree(root, options).status().code(),
            absl::StatusCode::kInvalidArgument);

  options = {};
  options.limits.max_entries = 1;
  EXPECT_EQ(ScanTree(root, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ScanTreeTest, MissingRootIsNotFound) {
  EXPECT_EQ(ScanTree(TempDir() + "/nope", {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(TreeIdTest, MatchesDocumentedEncoding) {
  std::string expected(std::string("tether.tree.v1") + '\0');
  expected += std::string("\0\0\0\0\0\0\0\1", 8);  // One entry.
  expected += std::string("\0\0\0\0\0\0\0\3", 8) + "a.x";
  expected += '\1';                                // KIND_FILE.
  expected += std::string("\0\0\x01\xed", 4);      // 0755.
  expected += std::string("\0\0\0\0\0\0\0\2", 8);  // Size.
  expected += std::string("\0\0\0\0\0\0\0\x20", 8) + Sha256Of("hi");
  expected += std::string(8, '\0');  // No link target.
  EXPECT_EQ(TreeId(MakeTree({File("a.x", "hi", 0755)})),
            ToHex(Sha256Of(expected)));
  EXPECT_EQ(TreeId(Tree()), ToHex(Sha256Of(std::string("tether.tree.v1") +
                                           '\0' + std::string(8, '\0'))));
}

TEST(TreeIdTest, ChangesWithAnyField) {
  const std::string base = TreeId(MakeTree({File("a", "x")}));
  EXPECT_TRUE(IsRevisionId(base));
  EXPECT_EQ(base, TreeId(MakeTree({File("a", "x")})));
  EXPECT_NE(base, TreeId(MakeTree({File("b", "x")})));
  EXPECT_NE(base, TreeId(MakeTree({File("a", "y")})));
  EXPECT_NE(base, TreeId(MakeTree({File("a", "x", 0755)})));
  EXPECT_NE(base, TreeId(MakeTree({Symlink("a", "x")})));
  // Length prefixes keep field boundaries apart.
  EXPECT_NE(TreeId(MakeTree({Symlink("ab", "c")})),
            TreeId(MakeTree({Symlink("a", "bc")})));
}

TEST(IsRevisionIdTest, OnlyLowercaseHexOfRightLength) {
  EXPECT_TRUE(IsRevisionId(std::string(64, 'a')));
  EXPECT_FALSE(IsRevisionId(std::string(64, 'A')));
  EXPECT_FALSE(IsRevisionId(std::string(63, 'a')));
  EXPECT_FALSE(IsRevisionId("../../etc"));
}

TEST(ValidateTreeTest, AcceptsGoodTree) {
  Tree tree = MakeTree({File("a.py", "a"), Symlink("b", "sub/c.py"),
                        Symlink("l", "sub"), File("sub/c.py", "c", 0755),
                        Symlink("sub/up", "../a.py"), Symlink("top", ".")});
  EXPECT_TRUE(ValidateTree(tree, {}).ok()) << ValidateTree(tree, {});
  EXPECT_TRUE(ValidateTree(Tree(), {}).ok());
}

struct BadTree {
  std::string name;
  Tree tree;
  std::string path;  // Must appear in the error.
};

TEST(ValidateTreeTest, RejectsBadTreesNamingThePath) {
  TreeEntry bad_digest = File("f", "x");
  bad_digest.set_sha256("short");
  TreeEntry bad_mode = File("f", "x", 0600);
  TreeEntry file_with_target = File("f", "x");
  file_with_target.set_link_target("y");
  TreeEntry link_with_mode = Symlink("l", "x");
  link_with_mode.set_mode(0777);
  TreeEntry unknown_kind = File("f", "x");
  unknown_kind.set_kind(TreeEntry::KIND_UNSPECIFIED);
  TreeEntry wrong_size = File("g", "x");
  wrong_size.set_size(5);
  const std::vector<BadTree> cases = {
      {"empty path", MakeTree({File("", "x")}), "\"\""},
      {"absolute", MakeTree({File("/etc/passwd", "x")}), "/etc/passwd"},
      {"dotdot", MakeTree({File("a/../b", "x")}), "a/../b"},
      {"dot", MakeTree({File("./b", "x")}), "./b"},
      {"empty component", MakeTree({File("a//b", "x")}), "a//b"},
      {"trailing slash", MakeTree({File("a/", "x")}), "a/"},
      {"backslash", MakeTree({File("a\\..\\b", "x")}), "a\\..\\b"},
      {"nul", MakeTree({File(std::string("a\0b", 3), "x")}), "a"},
      {"not utf8", MakeTree({File("caf\xe9", "x")}), "caf"},
      {"unsorted", MakeTree({File("b", "x"), File("a", "x")}), "\"a\""},
      {"duplicate", MakeTree({File("a", "x"), File("a", "y")}), "\"a\""},
      {"bad digest", MakeTree({bad_digest}), "\"f\""},
      {"bad mode", MakeTree({bad_mode}), "\"f\""},
      {"file with target", MakeTree({file_with_target}), "\"f\""},
      {"link with mode", MakeTree({link_with_mode}), "\"l\""},
      {"unknown kind", MakeTree({unknown_kind}), "\"f\""},
      {"digest sizes differ", MakeTree({File("f", "x"), wrong_size}), "\"g\""},
      {"below file", MakeTree({File("a", "x"), File("a/b", "y")}), "a/b"},
      {"below symlink", MakeTree({Symlink("a", "d"), File("a/b", "y")}), "a/b"},
      {"absolute target", MakeTree({Symlink("l", "/etc")}), "\"l\""},
      {"empty target", MakeTree({Symlink("l", "")}), "\"l\""},
      {"escaping target", MakeTree({Symlink("d/l", "../../x")}), "d/l"},
      {"escape through link",
       MakeTree({Symlink("s", "."), Symlink("t", "s/s/..")}), "\"t\""},
      {"escape via link to parent",
       MakeTree({Symlink("a/up", ".."), Symlink("b", "a/up/a/up/..")}),
       "\"b\""},
      {"loop", MakeTree({Symlink("x", "y"), Symlink("y", "x")}), "\""},
  };
  for (const BadTree& c : cases) {
    const absl::Status status = ValidateTree(c.tree, {});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(status.message(), HasSubstr(c.path)) << c.name;
  }
}

TEST(ValidateTreeTest, EnforcesLimits) {
  const Tree tree = MakeTree({File("a", "1234"), File("b", "1234")});
  TreeLimits limits;
  limits.max_entries = 1;
  EXPECT_EQ(ValidateTree(tree, limits).code(),
            absl::StatusCode::kInvalidArgument);
  limits = {};
  limits.max_file_bytes = 3;
  EXPECT_THAT(ValidateTree(tree, limits).message(), HasSubstr("\"a\""));
  limits = {};
  limits.max_total_bytes = 7;
  EXPECT_THAT(ValidateTree(tree, limits).message(), HasSubstr("\"b\""));
  limits = {};
  limits.max_path_bytes = 0;
  EXPECT_EQ(ValidateTree(tree, limits).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether::sync
