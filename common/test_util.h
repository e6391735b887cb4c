#ifndef TETHER_COMMON_TEST_UTIL_H_
#define TETHER_COMMON_TEST_UTIL_H_

// Waiting on real process events in tests, without fixed sleeps, and
// finding the real tools tests drive.

#include <functional>
#include <string>

#include "absl/time/time.h"

namespace tether::testing {

/// Polls `condition` every few milliseconds until it holds or `timeout`
/// passes: only for waiting on real process events (a restart, an exit).
bool WaitFor(const std::function<bool()>& condition,
             absl::Duration timeout = absl::Seconds(60));

/// A loopback TCP port that was free a moment ago (bound, read back and
/// released), for servers that cannot be told to pick port 0; 0 on error.
int UnusedLoopbackPort();

/// kubectl from PATH (Bazel's test PATH included) or where tools/setup and
/// Google's packages put it; empty when it is not installed.
std::string FindKubectl();

/// Runs deploy/make_certs.sh (the test's data needs //deploy:make_certs):
/// a CA, tetherd's, the agents' and a client's certificate in `dir`; run
/// again, new leaves from the same CA. False, said on stderr, on error.
bool MakeCertificates(const std::string& dir);

/// Makes a FIFO at `path` (fails the test on error).
void MakeFifo(const std::string& path);

/// Opens the FIFO for writing once some process has it open for reading
/// (e.g. a worker's call has reached that point), polling up to `timeout`.
/// Returns the fd, or -1.
int OpenFifoWhenReaderArrives(const std::string& path,
                              absl::Duration timeout = absl::Seconds(60));

}  // namespace tether::testing

#endif  // TETHER_COMMON_TEST_UTIL_H_
