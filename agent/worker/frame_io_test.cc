#include "agent/worker/frame_io.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace tether::agent {
namespace {

class FrameIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0);
  }
  void TearDown() override {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  void CloseWriter() {
    close(fds_[1]);
    fds_[1] = -1;
  }
  int reader_fd() const { return fds_[0]; }
  int writer_fd() const { return fds_[1]; }

  int fds_[2] = {-1, -1};
};

TEST(FrameHeaderTest, IsLittleEndian) {
  char header[kFrameHeaderBytes];
  EncodeFrameHeader(0x01020304, header);
  EXPECT_EQ(std::string(header, 4), std::string("\x04\x03\x02\x01", 4));
}

TEST_F(FrameIoTest, RoundTripsFramesIncludingEmptyOnes) {
  ASSERT_TRUE(WriteFrame(writer_fd(), "hello").ok());
  ASSERT_TRUE(WriteFrame(writer_fd(), "").ok());
  ASSERT_TRUE(WriteFrame(writer_fd(), std::string("a\0b", 3)).ok());
  CloseWriter();
  FrameReader reader(reader_fd());
  absl::string_view frame;
  ASSERT_TRUE(reader.Read(&frame).ok());
  EXPECT_EQ(frame, "hello");
  ASSERT_TRUE(reader.Read(&frame).ok());
  EXPECT_EQ(frame, "");
  ASSERT_TRUE(reader.Read(&frame).ok());
  EXPECT_EQ(frame, std::string("a\0b", 3));
  EXPECT_TRUE(absl::IsOutOfRange(reader.Read(&frame)));
}

TEST_F(FrameIoTest, ManySmallFramesAreBufferedByOneFill) {
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(WriteFrame(writer_fd(), std::to_string(i)).ok());
  }
  FrameReader reader(reader_fd());
  ASSERT_TRUE(reader.Fill().ok());
  absl::string_view frame;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<bool> next = reader.Next(&frame);
    ASSERT_TRUE(next.ok());
    ASSERT_TRUE(*next) << i;
    EXPECT_EQ(frame, std::to_string(i));
  }
  absl::StatusOr<bool> next = reader.Next(&frame);
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(*next);
}

TEST_F(FrameIoTest, LargeFrameArrivingInPiecesFromAnotherThread) {
  const std::string big(5 << 20, 'x');
  std::thread writer([&] {
    // Header alone first, then the body byte ranges: the reader sees partial
    // frames.
    char header[kFrameHeaderBytes];
    EncodeFrameHeader(static_cast<uint32_t>(big.size()), header);
    ASSERT_TRUE(WriteAll(writer_fd(), absl::string_view(header, 2)).ok());
    ASSERT_TRUE(WriteAll(writer_fd(), absl::string_view(header + 2, 2)).ok());
    ASSERT_TRUE(WriteAll(writer_fd(), big).ok());
    ASSERT_TRUE(WriteFrame(writer_fd(), "after").ok());
  });
  FrameReader reader(reader_fd());
  absl::string_view frame;
  ASSERT_TRUE(reader.Read(&frame).ok());
  EXPECT_EQ(frame.size(), big.size());
  EXPECT_EQ(frame, big);
  ASSERT_TRUE(reader.Read(&frame).ok());
  EXPECT_EQ(frame, "after");
  writer.join();
}

TEST_F(FrameIoTest, TornFrameIsDataLoss) {
  char header[kFrameHeaderBytes];
  EncodeFrameHeader(10, header);
  ASSERT_TRUE(WriteAll(writer_fd(), absl::string_view(header, 4)).ok());
  ASSERT_TRUE(WriteAll(writer_fd(), "abc").ok());
  CloseWriter();
  FrameReader reader(reader_fd());
  absl::string_view frame;
  EXPECT_TRUE(absl::IsDataLoss(reader.Read(&frame)));
}

TEST_F(FrameIoTest, TornHeaderIsDataLoss) {
  ASSERT_TRUE(WriteAll(writer_fd(), "\x01\x00").ok());
  CloseWriter();
  FrameReader reader(reader_fd());
  absl::string_view frame;
  EXPECT_TRUE(absl::IsDataLoss(reader.Read(&frame)));
}

TEST_F(FrameIoTest, OversizedFramesAreRefused) {
  EXPECT_TRUE(absl::IsResourceExhausted(
      WriteFrame(writer_fd(), std::string(100, 'x'), /*max_frame_bytes=*/99)));
  ASSERT_TRUE(WriteFrame(writer_fd(), std::string(100, 'x')).ok());
  FrameReader reader(reader_fd(), /*max_frame_bytes=*/99);
  absl::string_view frame;
  EXPECT_TRUE(absl::IsResourceExhausted(reader.Read(&frame)));
}

TEST_F(FrameIoTest, WritingToAClosedPeerIsAnErrorNotSigpipe) {
  close(fds_[0]);
  fds_[0] = -1;
  const absl::Status status = WriteFrame(writer_fd(), "anyone?");
  EXPECT_FALSE(status.ok());
}

TEST(FrameIoPipeTest, WorksOnPipesToo) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_TRUE(WriteFrame(fds[1], "through a pipe").ok());
  close(fds[1]);
  FrameReader reader(fds[0]);
  absl::string_view frame;
  ASSERT_TRUE(reader.Read(&frame).ok());
  EXPECT_EQ(frame, "through a pipe");
  EXPECT_TRUE(absl::IsOutOfRange(reader.Read(&frame)));
  close(fds[0]);
}

}  // namespace
}  // namespace tether::agent
