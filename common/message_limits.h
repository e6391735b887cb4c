#ifndef TETHER_COMMON_MESSAGE_LIMITS_H_
#define TETHER_COMMON_MESSAGE_LIMITS_H_

#include <cstdint>

namespace tether {

/// gRPC's message size limit for calls carrying up to `max_payload_bytes` of
/// payload: the payload plus 1 MiB for the envelope (the servers enforce the
/// real payload limit with a clear message), capped at INT32_MAX because
/// gRPC takes an int. Every server and channel on a call's path uses this,
/// so a payload one hop accepts is never refused by the next.
int MaxMessageBytes(int64_t max_payload_bytes);

}  // namespace tether

#endif  // TETHER_COMMON_MESSAGE_LIMITS_H_
