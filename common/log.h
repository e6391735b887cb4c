#ifndef TETHER_COMMON_LOG_H_
#define TETHER_COMMON_LOG_H_

// Minimal logging: Abseil 20220623 (Debian bookworm) predates absl/log.
// TETHER_LOG(INFO) << "..."; writes one timestamped line to stderr.
// TETHER_CHECK(cond) << "..."; aborts with the message when cond is false
// (broken invariants and start-up misconfiguration only).

#include <optional>
#include <sstream>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tether {

enum class LogSeverity { kInfo, kWarning, kError, kFatal };

/// Accumulates one log line and writes it to stderr on destruction.
/// Not shared between threads; each statement makes its own.
class LogMessage {
 public:
  LogMessage(LogSeverity severity, const char* file, int line);
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  ~LogMessage();

  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  std::ostringstream stream_;
};

/// When a line LogMessage wrote was stamped ("I1203 12:34:56.123456 ...":
/// severity, month, day and local time, no year), taking the year that puts
/// it no more than a day after `now`; nullopt when `line` does not start
/// with such a stamp. Thread-safe.
std::optional<absl::Time> LogLineTime(absl::string_view line, absl::Time now);

// Lets `cond ? (void)0 : Voidify() & LogMessage(...).stream() << ...` parse.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace tether

#define TETHER_LOG_INFO ::tether::LogSeverity::kInfo
#define TETHER_LOG_WARNING ::tether::LogSeverity::kWarning
#define TETHER_LOG_ERROR ::tether::LogSeverity::kError
#define TETHER_LOG_FATAL ::tether::LogSeverity::kFatal

#define TETHER_LOG(severity) \
  ::tether::LogMessage(TETHER_LOG_##severity, __FILE__, __LINE__).stream()

#define TETHER_CHECK(cond)                                                \
  (cond) ? (void)0                                                        \
         : ::tether::LogVoidify() &                                       \
               ::tether::LogMessage(TETHER_LOG_FATAL, __FILE__, __LINE__) \
                       .stream()                                          \
                   << "Check failed: " #cond " "

#endif  // TETHER_COMMON_LOG_H_
