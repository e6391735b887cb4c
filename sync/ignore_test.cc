#include "sync/ignore.h"

#include "gtest/gtest.h"

namespace tether::sync {
namespace {

TEST(IgnoreTest, AlwaysIgnoresGitPycacheAndPyc) {
  IgnoreMatcher matcher;
  EXPECT_TRUE(matcher.IsIgnored(".git", true));
  EXPECT_TRUE(matcher.IsIgnored("sub/.git", false));  // Worktree file.
  EXPECT_TRUE(matcher.IsIgnored("pkg/__pycache__", true));
  EXPECT_TRUE(matcher.IsIgnored("pkg/mod.pyc", false));
  EXPECT_FALSE(matcher.IsIgnored("pkg/mod.py", false));
  EXPECT_FALSE(matcher.IsIgnored(".gitignore", false));
}

TEST(IgnoreTest, AlwaysIgnoredCannotBeNegated) {
  IgnoreMatcher matcher;
  matcher.AddRules("", "!*.pyc\n!.git\n");
  EXPECT_TRUE(matcher.IsIgnored("a.pyc", false));
  EXPECT_TRUE(matcher.IsIgnored(".git", true));
}

TEST(IgnoreTest, CommentsBlankLinesAndEscapes) {
  IgnoreMatcher matcher;
  matcher.AddRules("", "# comment\n\n\\#hash\n\\!bang\r\ntrail   \n");
  EXPECT_FALSE(matcher.IsIgnored("# comment", false));
  EXPECT_TRUE(matcher.IsIgnored("#hash", false));
  EXPECT_TRUE(matcher.IsIgnored("!bang", false));
  EXPECT_TRUE(matcher.IsIgnored("trail", false));
}

TEST(IgnoreTest, UnanchoredMatchesAtAnyDepth) {
  IgnoreMatcher matcher;
  matcher.AddRules("", "*.log\nbuild\n");
  EXPECT_TRUE(matcher.IsIgnored("x.log", false));
  EXPECT_TRUE(matcher.IsIgnored("a/b/x.log", false));
  EXPECT_TRUE(matcher.IsIgnored("a/build", true));
  EXPECT_TRUE(matcher.IsIgnored("build", false));
  EXPECT_FALSE(matcher.IsIgnored("a/build.py", false));
}

TEST(IgnoreTest, LeadingOrMiddleSlashAnchors) {
  IgnoreMatcher matcher;
  matcher.AddRules("", "/top.txt\ndocs/*.md\n");
  EXPECT_TRUE(matcher.IsIgnored("top.txt", false));
  EXPECT_FALSE(matcher.IsIgnored("a/top.txt", false));
  EXPECT_TRUE(matcher.IsIgnored("docs/x.md", false));
  EXPECT_FALSE(matcher.IsIgnored("a/docs/x.md", false));
  // `*` does not cross '/'.
  EXPECT_FALSE(matcher.IsIgnored("docs/sub/x.md", false));
}

TEST(IgnoreTest, TrailingSlashMatchesDirectoriesOnly) {
  IgnoreMatcher matcher;
  matcher.AddRules("", "data/\n");
  EXPECT_TRUE(matcher.IsIgnored("data", true));
  EXPECT_TRUE(matcher.IsIgnored("x/data", true));
  EXPECT_FALSE(matcher.IsIgnored("data", false));
}

TEST(IgnoreTest, NegationLastMatchWins) {
  IgnoreMatcher matcher;
  matcher.AddRules("", "*.txt\n!keep.txt\n");
  EXPECT_TRUE(matcher.IsIgnored("a.txt", false));
  EXPECT_FALSE(matcher.IsIgnored("keep.txt", false));
  EXPECT_FALSE(matcher.IsIgnored("d/keep.txt", false));
}

TEST(IgnoreTest, DoubleStar) {
  IgnoreMatcher matcher;
  matcher.AddRules("", "**/cache\na/**/z\nout/**\n");
  EXPECT_TRUE(matcher.IsIgnored("cache", true));
  EXPECT_TRUE(matcher.IsIgnored("x/y/cache", false));
  EXPECT_TRUE(matcher.IsIgnored("a/z", false));
  EXPECT_TRUE(matcher.IsIgnored("a/b/c/z", false));
  EXPECT_FALSE(matcher.IsIgnored("b/a/z", false));
  EXPECT_TRUE(matcher.IsIgnored("out/f", false));
  EXPECT_TRUE(matcher.IsIgnored("out/d/f", false));
  // "out/**" is what is inside, not the directory itself.
  EXPECT_FALSE(matcher.IsIgnored("out", true));
}

TEST(IgnoreTest, QuestionMarkAndCharacterClasses) {
  IgnoreMatcher matcher;
  matcher.AddRules("", "file?.txt\n[abc].bin\n[!0-9]x\n");
  EXPECT_TRUE(matcher.IsIgnored("file1.txt", false));
  EXPECT_FALSE(matcher.IsIgnored("file12.txt", false));
  EXPECT_TRUE(matcher.IsIgnored("b.bin", false));
  EXPECT_FALSE(matcher.IsIgnored("d.bin", false));
  EXPECT_TRUE(matcher.IsIgnored("ax", false));
  EXPECT_FALSE(matcher.IsIgnored("1x", false));
}

TEST(IgnoreTest, NestedFilesAreRelativeAndOverrideParents) {
  IgnoreMatcher matcher;
  matcher.AddRules("", "*.csv\n");
  matcher.AddRules("sub", "/local.txt\n!keep.csv\n");
  EXPECT_TRUE(matcher.IsIgnored("sub/local.txt", false));
  EXPECT_FALSE(matcher.IsIgnored("local.txt", false));
  EXPECT_FALSE(matcher.IsIgnored("sub/deeper/local.txt", false));
  EXPECT_TRUE(matcher.IsIgnored("keep.csv", false));
  EXPECT_FALSE(matcher.IsIgnored("sub/keep.csv", false));
  EXPECT_TRUE(matcher.IsIgnored("sub/other.csv", false));
  // A sibling with a common prefix is not under "sub".
  EXPECT_FALSE(matcher.IsIgnored("subway/local.txt", false));
}

TEST(IgnoreTest, LaterFileInSameDirectoryWins) {
  IgnoreMatcher matcher;
  matcher.AddRules("", "secret.env\n");   // .gitignore
  matcher.AddRules("", "!secret.env\n");  // .tetherignore
  EXPECT_FALSE(matcher.IsIgnored("secret.env", false));
}

}  // namespace
}  // namespace tether::sync
