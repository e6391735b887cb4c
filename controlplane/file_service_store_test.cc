#include "controlplane/file_service_store.h"

#include <stdlib.h>
#include <unistd.h>

#include "common/files.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

std::string TempDir() {
  std::string tmpl = std::string(getenv("TEST_TMPDIR")) + "/store.XXXXXX";
  return mkdtemp(tmpl.data());
}

tether::v1::ServiceStatus Record(const std::string& name, int64_t generation) {
  tether::v1::ServiceStatus record;
  record.set_name(name);
  record.set_generation(generation);
  record.set_revision("abc");
  return record;
}

TEST(FileServiceStoreTest, PutLoadDeleteAcrossInstances) {
  const std::string dir = TempDir();
  {
    auto store = FileServiceStore::Create({dir});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Put(Record("b", 1)).ok());
    ASSERT_TRUE((*store)->Put(Record("a", 1)).ok());
    ASSERT_TRUE((*store)->Put(Record("a", 2)).ok());
  }
  auto store = FileServiceStore::Create({dir});
  ASSERT_TRUE(store.ok());
  auto records = (*store)->LoadAll();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].name(), "a");
  EXPECT_EQ((*records)[0].generation(), 2);
  EXPECT_EQ((*records)[1].name(), "b");
  ASSERT_TRUE((*store)->Delete("a").ok());
  ASSERT_TRUE((*store)->Delete("a").ok());
  EXPECT_EQ((*store)->LoadAll()->size(), 1u);
}

TEST(FileServiceStoreTest, RemovesTemporariesOfInterruptedWrites) {
  const std::string dir = TempDir();
  auto store = FileServiceStore::Create({dir});
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Put(Record("a", 1)).ok());
  // What a kill -9 between write and rename leaves behind.
  ASSERT_TRUE(WriteFileAtomically(dir + "/a.pb.tmp.123", "garbage").ok());
  auto records = (*store)->LoadAll();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].generation(), 1);
  EXPECT_NE(access((dir + "/a.pb.tmp.123").c_str(), F_OK), 0);
}

TEST(FileServiceStoreTest, CorruptRecordIsDataLoss) {
  const std::string dir = TempDir();
  auto store = FileServiceStore::Create({dir});
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/x.pb", "\xff\xff\xff").ok());
  EXPECT_EQ((*store)->LoadAll().status().code(), absl::StatusCode::kDataLoss);
}

TEST(FileServiceStoreTest, RejectsNamesThatEscapeTheDirectory) {
  auto store = FileServiceStore::Create({TempDir()});
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->Put(Record("../x", 1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store)->Put(Record("", 1)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FileServiceStoreTest, ActivityIsStoredApartFromRecords) {
  const std::string dir = TempDir();
  auto store = FileServiceStore::Create({dir});
  ASSERT_TRUE(store.ok());
  auto empty = (*store)->LoadActivity();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->last_activity_size(), 0);
  tether::v1::ActivityLog log;
  (*log.mutable_last_activity())["a"].set_seconds(1800000000);
  ASSERT_TRUE((*store)->PutActivity(log).ok());
  ASSERT_TRUE((*store)->Put(Record("a", 1)).ok());
  auto restarted = FileServiceStore::Create({dir});
  auto loaded = (*restarted)->LoadActivity();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->last_activity().at("a").seconds(), 1800000000);
  // The activity file is not taken for a record.
  EXPECT_EQ((*restarted)->LoadAll()->size(), 1u);
}

TEST(FileServiceStoreTest, CorruptActivityIsDataLoss) {
  const std::string dir = TempDir();
  auto store = FileServiceStore::Create({dir});
  ASSERT_TRUE(WriteFileAtomically(dir + "/activity.bin", "\xff\xff").ok());
  EXPECT_EQ((*store)->LoadActivity().status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace tether::controlplane
