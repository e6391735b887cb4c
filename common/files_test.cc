#include "common/files.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <string>

#include "gtest/gtest.h"

namespace tether {
namespace {

std::string TempDir() {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/files_test.XXXXXX";
  return mkdtemp(tmpl.data());
}

TEST(FilesTest, AtomicWriteReplacesContentsAndLeavesNoTemp) {
  const std::string dir = TempDir();
  const std::string path = dir + "/state.pb";
  ASSERT_TRUE(WriteFileAtomically(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two").ok());
  EXPECT_EQ(*ReadFile(path), "two");
  struct stat st;
  EXPECT_NE(stat((path + ".tmp." + std::to_string(getpid())).c_str(), &st), 0);
}

TEST(FilesTest, ReadMissingFileIsNotFound) {
  EXPECT_EQ(ReadFile(TempDir() + "/nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(FilesTest, ReadFileTailReadsTheEnd) {
  const std::string dir = TempDir();
  const std::string path = dir + "/tail";
  ASSERT_TRUE(WriteFileAtomically(path, "0123456789").ok());
  EXPECT_EQ(ReadFileTail(path, 4).value(), "6789");
  EXPECT_EQ(ReadFileTail(path, 100).value(), "0123456789");
  EXPECT_EQ(ReadFileTail(path, 0).value(), "");
  EXPECT_EQ(ReadFileTail(dir + "/missing", 4).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(FilesTest, MakeDirsAndRemoveAll) {
  const std::string dir = TempDir() + "/a/b/c";
  ASSERT_TRUE(MakeDirs(dir).ok());
  ASSERT_TRUE(MakeDirs(dir).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/f", "x").ok());
  const std::string top = dir.substr(0, dir.size() - 4);
  ASSERT_TRUE(RemoveAll(top).ok());
  struct stat st;
  EXPECT_NE(stat(top.c_str(), &st), 0);
  EXPECT_TRUE(RemoveAll(top).ok());
}

TEST(FilesTest, WriteIntoMissingDirectoryFailsWithNotFound) {
  EXPECT_EQ(WriteFileAtomically(TempDir() + "/no/such/file", "x").code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tether
