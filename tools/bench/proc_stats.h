#ifndef TETHER_TOOLS_BENCH_PROC_STATS_H_
#define TETHER_TOOLS_BENCH_PROC_STATS_H_

// What the benchmarks read about processes from /proc.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace tether::bench {

/// CPU seconds (user + system) `pid` has used so far; 0 if it is gone.
double CpuSeconds(pid_t pid);

/// The number on the `field` line of /proc/PID/status: KiB for sizes
/// ("VmRSS", "VmHWM"), a count for "Threads". 0 if the process is gone.
int64_t StatusNumber(pid_t pid, absl::string_view field);

/// The pid in a pid file (tetherd.pid, agent.pid); 0 if unreadable.
pid_t PidIn(const std::string& file);

}  // namespace tether::bench

#endif  // TETHER_TOOLS_BENCH_PROC_STATS_H_
