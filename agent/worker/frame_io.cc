#include "agent/worker/frame_io.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace tether::agent {
namespace {

// Below this the buffer is not worth compacting or shrinking.
constexpr size_t kMinBufferBytes = 64 * 1024;

uint32_t DecodeFrameHeader(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | static_cast<uint32_t>(u[1]) << 8 |
         static_cast<uint32_t>(u[2]) << 16 | static_cast<uint32_t>(u[3]) << 24;
}

// sendmsg with MSG_NOSIGNAL so a dead peer is an error, not a SIGPIPE that
// would kill the agent; writev for fds that are not sockets (pipes in tests).
ssize_t WriteVec(int fd, struct iovec* iov, int iovcnt, bool* not_socket) {
  if (!*not_socket) {
    struct msghdr msg = {};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(iovcnt);
    const ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n >= 0 || errno != ENOTSOCK) return n;
    *not_socket = true;
  }
  return writev(fd, iov, iovcnt);
}

absl::Status WriteVecFully(int fd, struct iovec* iov, int iovcnt) {
  bool not_socket = false;
  while (iovcnt > 0) {
    ssize_t n = WriteVec(fd, iov, iovcnt, &not_socket);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", absl::StrCat("fd ", fd));
    }
    // Skip what was written, possibly ending inside an iovec.
    while (iovcnt > 0 && static_cast<size_t>(n) >= iov->iov_len) {
      n -= static_cast<ssize_t>(iov->iov_len);
      ++iov;
      --iovcnt;
    }
    if (iovcnt > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + n;
      iov->iov_len -= static_cast<size_t>(n);
    }
  }
  return absl::OkStatus();
}

absl::Status TooLarge(uint32_t size, uint32_t max) {
  return absl::ResourceExhaustedError(absl::StrCat(
      "incoming frame of ", size, " bytes exceeds the maximum ", max));
}

}  // namespace

absl::Status CheckMaxFrameBytes(size_t max_frame_bytes) {
  if (max_frame_bytes >= kMinMaxFrameBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("max_frame_bytes must be at least ", kMinMaxFrameBytes,
                   ", not ", max_frame_bytes));
}

void EncodeFrameHeader(uint32_t payload_size, char header[kFrameHeaderBytes]) {
  header[0] = static_cast<char>(payload_size & 0xff);
  header[1] = static_cast<char>((payload_size >> 8) & 0xff);
  header[2] = static_cast<char>((payload_size >> 16) & 0xff);
  header[3] = static_cast<char>((payload_size >> 24) & 0xff);
}

absl::Status WriteFrame(int fd, absl::string_view payload,
                        uint32_t max_frame_bytes) {
  if (payload.size() > max_frame_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("frame of ", payload.size(), " bytes exceeds the maximum ",
                     max_frame_bytes));
  }
  char header[kFrameHeaderBytes];
  EncodeFrameHeader(static_cast<uint32_t>(payload.size()), header);
  struct iovec iov[2];
  iov[0].iov_base = header;
  iov[0].iov_len = sizeof(header);
  iov[1].iov_base = const_cast<char*>(payload.data());
  iov[1].iov_len = payload.size();
  return WriteVecFully(fd, iov, payload.empty() ? 1 : 2);
}

absl::Status WriteAll(int fd, absl::string_view bytes) {
  struct iovec iov;
  iov.iov_base = const_cast<char*>(bytes.data());
  iov.iov_len = bytes.size();
  return WriteVecFully(fd, &iov, bytes.empty() ? 0 : 1);
}

FrameReader::FrameReader(int fd, uint32_t max_frame_bytes)
    : fd_(fd), max_frame_bytes_(max_frame_bytes) {}

absl::StatusOr<bool> FrameReader::Next(absl::string_view* frame) {
  if (buffered() < kFrameHeaderBytes) return false;
  const uint32_t size = DecodeFrameHeader(buffer_.data() + begin_);
  if (size > max_frame_bytes_) return TooLarge(size, max_frame_bytes_);
  if (buffered() < kFrameHeaderBytes + size) return false;
  *frame = absl::string_view(buffer_.data() + begin_ + kFrameHeaderBytes, size);
  begin_ += kFrameHeaderBytes + size;
  return true;
}

absl::Status FrameReader::Fill() {
  // Make room: move the unread tail to the front, then grow so that a whole
  // announced frame fits (one read can then complete it).
  if (begin_ > 0) {
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (begin_ >= buffer_.size() / 2 || buffer_.size() - end_ < 4096) {
      std::memmove(&buffer_[0], buffer_.data() + begin_, buffered());
      end_ -= begin_;
      begin_ = 0;
    }
  }
  size_t want = kMinBufferBytes;
  if (buffered() >= kFrameHeaderBytes) {
    const uint32_t size = DecodeFrameHeader(buffer_.data() + begin_);
    if (size > max_frame_bytes_) return TooLarge(size, max_frame_bytes_);
    want = std::max(want, begin_ + kFrameHeaderBytes + size);
  }
  if (buffer_.size() < want || buffer_.size() - end_ < 1024) {
    buffer_.resize(std::max(want, end_ + kMinBufferBytes));
  } else if (begin_ == 0 && end_ == 0 && buffer_.size() > 4 * kMinBufferBytes) {
    // Give back the memory of a past large frame.
    std::string().swap(buffer_);
    buffer_.resize(kMinBufferBytes);
  }
  while (true) {
    const ssize_t n = read(fd_, &buffer_[end_], buffer_.size() - end_);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return absl::OkStatus();
    }
    if (n == 0) {
      if (buffered() == 0) return absl::OutOfRangeError("end of stream");
      return absl::DataLossError(absl::StrCat("end of stream inside a frame (",
                                              buffered(), " bytes buffered)"));
    }
    if (errno == EINTR) continue;
    return ErrnoStatus(errno, "read", absl::StrCat("fd ", fd_));
  }
}

absl::Status FrameReader::Read(absl::string_view* frame) {
  while (true) {
    ASSIGN_OR_RETURN(const bool got, Next(frame));
    if (got) return absl::OkStatus();
    RETURN_IF_ERROR(Fill());
  }
}

}  // namespace tether::agent
