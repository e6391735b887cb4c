#ifndef TETHER_COMMON_SERVING_PROCESS_H_
#define TETHER_COMMON_SERVING_PROCESS_H_

namespace tether {

/// Process-wide settings for long-running servers (tetherd, the agent),
/// called once at the start of main, before threads exist.
///
/// Debian builds Abseil without NDEBUG, so every absl::Mutex, gRPC 1.51's
/// own locks included, runs deadlock detection: ~15% of tetherd's and ~12%
/// of the agent's instructions per call under callgrind. Optimized builds
/// turn it off; debug builds and tests keep it.
void ConfigureServingProcess();

/// Blocks SIGTERM and SIGINT in the calling thread and every thread it
/// starts afterwards, so that WaitForShutdownSignal alone receives them.
/// Call before threads exist.
void BlockShutdownSignals();

/// Waits until SIGTERM or SIGINT arrives (after BlockShutdownSignals) and
/// returns its number.
int WaitForShutdownSignal();

}  // namespace tether

#endif  // TETHER_COMMON_SERVING_PROCESS_H_
