#include "common/request_id.h"

#include <cstdint>

#include "absl/random/random.h"

namespace tether {

std::string NewRequestId() {
  static thread_local absl::BitGen gen;
  uint64_t value = absl::Uniform<uint64_t>(gen);
  // Formatted by hand: StrFormat would parse its format string each call.
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i) {
    id[i] = "0123456789abcdef"[value & 0xf];
    value >>= 4;
  }
  return id;
}

}  // namespace tether
