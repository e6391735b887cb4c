#include "agent/log_book.h"

#include <string>

#include "gtest/gtest.h"

namespace tether::agent {
namespace {

tether::v1::LogLine Line(const std::string& text, int64_t seconds = 100) {
  tether::v1::LogLine line;
  line.set_text(text);
  line.mutable_time()->set_seconds(seconds);
  return line;
}

TEST(LogBookTest, ReadsFromACursorInOrder) {
  LogBook book({});
  for (int i = 0; i < 5; ++i) book.Append(Line(std::to_string(i)));
  LogBook::Batch batch = book.Read(book.CursorAt(absl::InfinitePast()), 3);
  ASSERT_EQ(batch.lines.size(), 3u);
  EXPECT_EQ(batch.lines[0].text(), "0");
  EXPECT_EQ(batch.dropped, 0u);
  batch = book.Read(batch.next, 10);
  ASSERT_EQ(batch.lines.size(), 2u);
  EXPECT_EQ(batch.lines[1].text(), "4");
  EXPECT_TRUE(book.Read(batch.next, 10).lines.empty());
}

TEST(LogBookTest, KeepsTheNewestAndCountsWhatItDropped) {
  LogBook book({/*max_lines=*/3, /*max_bytes=*/1 << 20});
  for (int i = 0; i < 5; ++i) book.Append(Line(std::to_string(i)));
  const LogBook::Batch batch = book.Read(0, 10);
  EXPECT_EQ(batch.dropped, 2u);
  ASSERT_EQ(batch.lines.size(), 3u);
  EXPECT_EQ(batch.lines[0].text(), "2");
}

TEST(LogBookTest, BytesAreBoundedToo) {
  LogBook book({/*max_lines=*/1000, /*max_bytes=*/300});
  for (int i = 0; i < 10; ++i) book.Append(Line(std::string(100, 'x')));
  const LogBook::Batch batch = book.Read(0, 100);
  EXPECT_LE(batch.lines.size(), 3u);
  EXPECT_EQ(batch.dropped + batch.lines.size(), 10u);
}

TEST(LogBookTest, CursorAtFindsTheFirstLineNotBefore) {
  LogBook book({});
  book.Append(Line("old", 100));
  book.Append(Line("new", 200));
  const LogBook::Batch batch =
      book.Read(book.CursorAt(absl::FromUnixSeconds(150)), 10);
  ASSERT_EQ(batch.lines.size(), 1u);
  EXPECT_EQ(batch.lines[0].text(), "new");
}

TEST(LogBookTest, WakesFollowersOnTheNextLine) {
  LogBook book({});
  book.Append(Line("a"));
  int woken = 0;
  // A line is there already: at once.
  book.WakeAt(0, [&] { ++woken; });
  EXPECT_EQ(woken, 1);
  book.WakeAt(1, [&] { ++woken; });
  EXPECT_EQ(woken, 1);
  book.Append(Line("b"));
  EXPECT_EQ(woken, 2);
  const uint64_t id = book.WakeAt(2, [&] { ++woken; });
  book.CancelWake(id);
  book.Append(Line("c"));
  EXPECT_EQ(woken, 2);
}

}  // namespace
}  // namespace tether::agent
