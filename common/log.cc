#include "common/log.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tether {
namespace {

// LogMessage's stamp after the severity letter, and its length.
constexpr char kStampFormat[] = "%m%d %H:%M:%E6S";
constexpr size_t kStampLength = sizeof("0102 15:04:05.000000") - 1;

char SeverityLetter(LogSeverity severity) {
  switch (severity) {
    case LogSeverity::kInfo:
      return 'I';
    case LogSeverity::kWarning:
      return 'W';
    case LogSeverity::kError:
      return 'E';
    case LogSeverity::kFatal:
      return 'F';
  }
  return '?';
}

}  // namespace

LogMessage::LogMessage(LogSeverity severity, const char* file, int line)
    : severity_(severity) {
  const char* base = file;
  for (const char* p = file; *p != '\0'; ++p) {
    if (*p == '/') base = p + 1;
  }
  stream_ << SeverityLetter(severity)
          << absl::FormatTime(kStampFormat, absl::Now(), absl::LocalTimeZone())
          << ' ' << getpid() << ' ' << base << ':' << line << "] ";
}

std::optional<absl::Time> LogLineTime(absl::string_view line, absl::Time now) {
  if (line.size() < 1 + kStampLength ||
      absl::string_view("IWEF").find(line[0]) == absl::string_view::npos) {
    return std::nullopt;
  }
  const absl::TimeZone zone = absl::LocalTimeZone();
  const int64_t year = absl::ToCivilYear(now, zone).year();
  const absl::string_view stamp = line.substr(1, kStampLength);
  absl::Time time;
  const std::string format = absl::StrCat("%Y ", kStampFormat);
  if (!absl::ParseTime(format, absl::StrCat(year, " ", stamp), zone, &time,
                       nullptr)) {
    return std::nullopt;
  }
  // Written in December, read in January.
  if (time > now + absl::Hours(24)) {
    absl::ParseTime(format, absl::StrCat(year - 1, " ", stamp), zone, &time,
                    nullptr);
  }
  return time;
}

LogMessage::~LogMessage() {
  stream_ << '\n';
  const std::string line = stream_.str();
  // One write per line so lines from concurrent threads do not interleave.
  (void)!write(STDERR_FILENO, line.data(), line.size());
  if (severity_ == LogSeverity::kFatal) std::abort();
}

}  // namespace tether
