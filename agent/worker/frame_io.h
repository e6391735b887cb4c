#ifndef TETHER_AGENT_WORKER_FRAME_IO_H_
#define TETHER_AGENT_WORKER_FRAME_IO_H_

// Length-prefixed frames over a stream fd (the agent <-> worker socketpair):
// a 4-byte little-endian payload length, then the payload. The Python runner
// (agent/python/_tether_runner/frame_io.py) speaks the same framing.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::agent {

inline constexpr size_t kFrameHeaderBytes = 4;

/// Frames larger than this are refused unless a caller picks another limit.
inline constexpr uint32_t kDefaultMaxFrameBytes = 64u << 20;

/// The smallest frame limit a worker accepts: room for a load request.
inline constexpr uint32_t kMinMaxFrameBytes = 4096;

/// INVALID_ARGUMENT naming `max_frame_bytes` when it is below
/// kMinMaxFrameBytes.
absl::Status CheckMaxFrameBytes(size_t max_frame_bytes);

/// Stores `payload_size` as the 4-byte little-endian frame header.
void EncodeFrameHeader(uint32_t payload_size, char header[kFrameHeaderBytes]);

/// Writes one frame, blocking until every byte is written; retries on EINTR
/// and short writes. Uses MSG_NOSIGNAL on sockets, so a dead peer yields an
/// EPIPE status instead of SIGPIPE. RESOURCE_EXHAUSTED (nothing written) when
/// the payload exceeds `max_frame_bytes`. Not synchronized: concurrent
/// writers to one fd must serialize themselves.
absl::Status WriteFrame(int fd, absl::string_view payload,
                        uint32_t max_frame_bytes = kDefaultMaxFrameBytes);

/// Writes all of `bytes` (already framed), blocking, with WriteFrame's error
/// handling.
absl::Status WriteAll(int fd, absl::string_view bytes);

/// Reads frames from a stream fd through one buffer, so a burst of small
/// frames costs one read(2). Either call Read (blocking), or drive it from a
/// poll loop with Fill + Next. Not thread-safe; one reader per fd.
class FrameReader {
 public:
  explicit FrameReader(int fd,
                       uint32_t max_frame_bytes = kDefaultMaxFrameBytes);
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  /// Blocks until one whole frame is buffered and points `frame` at its
  /// payload, valid until the next call on this reader. Errors:
  /// OUT_OF_RANGE on end of stream at a frame boundary (a clean close),
  /// DATA_LOSS on end of stream inside a frame (a torn frame),
  /// RESOURCE_EXHAUSTED when a header announces more than the maximum, or
  /// the read(2) error.
  absl::Status Read(absl::string_view* frame);

  /// Takes the next frame from the buffer without reading the fd: true and
  /// `frame` (valid until the next Fill/Read) when a whole frame is
  /// buffered, false when more bytes are needed. RESOURCE_EXHAUSTED as Read.
  absl::StatusOr<bool> Next(absl::string_view* frame);

  /// One read(2) into the buffer (retrying EINTR); blocks only if the fd is
  /// blocking and has nothing to read. End-of-stream errors as Read.
  absl::Status Fill();

 private:
  size_t buffered() const { return end_ - begin_; }

  const int fd_;
  const uint32_t max_frame_bytes_;
  // buffer_[begin_, end_) holds bytes read but not yet returned as frames.
  std::string buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_WORKER_FRAME_IO_H_
