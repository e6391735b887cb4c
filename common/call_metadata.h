#ifndef TETHER_COMMON_CALL_METADATA_H_
#define TETHER_COMMON_CALL_METADATA_H_

// gRPC metadata of the ControlPlane `Call` that tetherd and clients share.

namespace tether {

/// Trailing metadata of a call that woke its service from zero: how long the
/// call waited for the wake-up, in whole milliseconds.
inline constexpr char kWokeAfterMetadata[] = "tether-woke-after-ms";

}  // namespace tether

#endif  // TETHER_COMMON_CALL_METADATA_H_
