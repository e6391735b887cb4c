#include "tools/bench/proc_stats.h"

#include <unistd.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"

namespace tether::bench {

double CpuSeconds(pid_t pid) {
  auto stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok() || stat->rfind(')') == std::string::npos) return 0;
  // utime and stime are the 12th and 13th fields after the command name.
  std::vector<std::string> fields =
      absl::StrSplit(stat->substr(stat->rfind(')') + 2), ' ');
  if (fields.size() < 13) return 0;
  double ticks = 0;
  for (int i : {11, 12}) {
    double v = 0;
    if (absl::SimpleAtod(fields[i], &v)) ticks += v;
  }
  return ticks / sysconf(_SC_CLK_TCK);
}

int64_t StatusNumber(pid_t pid, absl::string_view field) {
  auto status = ReadFile(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return 0;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (!absl::ConsumePrefix(&line, field) ||
        !absl::ConsumePrefix(&line, ":")) {
      continue;
    }
    line = absl::StripLeadingAsciiWhitespace(line);
    int64_t number = 0;
    return absl::SimpleAtoi(line.substr(0, line.find(' ')), &number) ? number
                                                                     : 0;
  }
  return 0;
}

pid_t PidIn(const std::string& file) {
  auto text = ReadFile(file);
  int pid = 0;
  return text.ok() && absl::SimpleAtoi(*text, &pid) ? pid : 0;
}

}  // namespace tether::bench
