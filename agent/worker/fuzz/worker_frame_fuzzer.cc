// libFuzzer target for what the agent reads from a worker process, which
// runs user code and so is not trusted: the byte stream on the socketpair,
// cut into frames by FrameReader, each parsed as a WorkerResponse as
// WorkerProcess::Dispatch does. The contract under test: no crash, no
// sanitizer report; FrameReader returns exactly the frames a plain decoder
// of the stream finds, whatever the read boundaries, then ends with the
// right error (clean end, torn frame or frame too large); a parsed
// response survives a serialization round trip.
//
// Input: one byte choosing the write size (1..256), then the stream.
//
// Built and run outside Bazel by tools/fuzz (clang-14);
// //agent/worker/fuzz:worker_frame_fuzzer_seed_test replays the seeds under
// Bazel.

#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "agent/worker/frame_io.h"
#include "tether/v1/worker.pb.h"

namespace {

using ::tether::agent::FrameReader;
using ::tether::agent::kFrameHeaderBytes;
using ::tether::agent::kMinMaxFrameBytes;

void Check(bool ok) {
  if (!ok) abort();
}

// The frames of `stream` and the status that ends them, decoded directly.
absl::StatusCode Decode(absl::string_view stream,
                        std::vector<absl::string_view>* frames) {
  while (stream.size() >= kFrameHeaderBytes) {
    uint32_t size = 0;
    for (int i = 3; i >= 0; --i) {
      size = (size << 8) | static_cast<unsigned char>(stream[i]);
    }
    if (size > kMinMaxFrameBytes) return absl::StatusCode::kResourceExhausted;
    if (stream.size() - kFrameHeaderBytes < size) break;
    frames->push_back(stream.substr(kFrameHeaderBytes, size));
    stream.remove_prefix(kFrameHeaderBytes + size);
  }
  return stream.empty() ? absl::StatusCode::kOutOfRange
                        : absl::StatusCode::kDataLoss;
}

void CheckResponse(absl::string_view frame) {
  tether::v1::WorkerResponse response;
  if (!response.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    return;
  }
  const std::string bytes = response.SerializeAsString();
  tether::v1::WorkerResponse again;
  Check(again.ParseFromString(bytes));
  Check(again.SerializeAsString() == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t write_size = data[0] + 1;
  const absl::string_view stream(reinterpret_cast<const char*>(data) + 1,
                                 size - 1);
  std::vector<absl::string_view> expected;
  const absl::StatusCode expected_end = Decode(stream, &expected);

  int fds[2];
  Check(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  FrameReader reader(fds[0], kMinMaxFrameBytes);
  std::vector<std::string> frames;
  absl::Status status;
  // Interleave writes of `write_size` with one Fill each, so frames arrive
  // torn at every boundary; each Fill has at least the new bytes to read.
  for (size_t offset = 0; status.ok() && offset < stream.size();
       offset += write_size) {
    const absl::string_view chunk = stream.substr(offset, write_size);
    Check(write(fds[1], chunk.data(), chunk.size()) ==
          static_cast<ssize_t>(chunk.size()));
    status = reader.Fill();
    absl::string_view frame;
    while (status.ok()) {
      absl::StatusOr<bool> got = reader.Next(&frame);
      if (!got.ok()) status = got.status();
      if (!got.ok() || !*got) break;
      frames.emplace_back(frame);
    }
  }
  shutdown(fds[1], SHUT_WR);
  absl::string_view frame;
  while (status.ok()) {
    status = reader.Read(&frame);
    if (status.ok()) frames.emplace_back(frame);
  }
  close(fds[0]);
  close(fds[1]);

  Check(status.code() == expected_end);
  Check(frames.size() == expected.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    Check(frames[i] == expected[i]);
    CheckResponse(frames[i]);
  }
  return 0;
}
