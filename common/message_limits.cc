#include "common/message_limits.h"

#include <algorithm>
#include <cstdint>

namespace tether {

int MaxMessageBytes(int64_t max_payload_bytes) {
  return static_cast<int>(
      std::min<int64_t>(max_payload_bytes + (1 << 20), INT32_MAX));
}

}  // namespace tether
