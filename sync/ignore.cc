#include "sync/ignore.h"

#include <fnmatch.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace tether::sync {
namespace {

constexpr absl::string_view kAnyDepth = "**";

// `segments[i..]` against `path[j..]`, where "**" spans directories.
bool MatchSegments(const std::vector<std::string>& segments, size_t i,
                   const std::vector<std::string>& path, size_t j) {
  if (i == segments.size()) return j == path.size();
  if (segments[i] == kAnyDepth) {
    // A trailing "/**" means "everything inside", not the directory itself.
    if (i + 1 == segments.size()) return j < path.size();
    for (size_t k = j; k <= path.size(); ++k) {
      if (MatchSegments(segments, i + 1, path, k)) return true;
    }
    return false;
  }
  if (j == path.size()) return false;
  // No FNM_PERIOD: in gitignore `*` matches leading dots too.
  if (fnmatch(segments[i].c_str(), path[j].c_str(), 0) != 0) return false;
  return MatchSegments(segments, i + 1, path, j + 1);
}

}  // namespace

bool IsAlwaysIgnored(absl::string_view name) {
  return name == ".git" || name == "__pycache__" ||
         absl::EndsWith(name, ".pyc");
}

void IgnoreMatcher::AddRules(absl::string_view dir,
                             absl::string_view contents) {
  RuleSet set;
  set.dir = std::string(dir);
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
    // Trailing spaces are dropped unless escaped ("\ " stays for fnmatch).
    while (absl::EndsWith(line, " ") &&
           !(line.size() >= 2 && line[line.size() - 2] == '\\')) {
      line.remove_suffix(1);
    }
    if (line.empty() || line[0] == '#') continue;
    Rule rule;
    if (line[0] == '!') {
      rule.negate = true;
      line.remove_prefix(1);
    } else if (absl::StartsWith(line, "\\!") || absl::StartsWith(line, "\\#")) {
      line.remove_prefix(1);
    }
    while (absl::EndsWith(line, "/")) {
      rule.dir_only = true;
      line.remove_suffix(1);
    }
    if (line.empty()) continue;
    // A slash anywhere but the end anchors the pattern to `dir`.
    const bool anchored = absl::StrContains(line, '/');
    if (!anchored) rule.segments.push_back(std::string(kAnyDepth));
    for (absl::string_view segment :
         absl::StrSplit(line, '/', absl::SkipEmpty())) {
      rule.segments.push_back(std::string(segment));
    }
    if (rule.segments.empty()) continue;
    set.rules.push_back(std::move(rule));
  }
  if (!set.rules.empty()) rule_sets_.push_back(std::move(set));
}

bool IgnoreMatcher::IsIgnored(absl::string_view path, bool is_dir) const {
  std::vector<std::string> segments = absl::StrSplit(path, '/');
  if (!segments.empty() && IsAlwaysIgnored(segments.back())) return true;
  // Latest applicable rule wins: walk sets and rules backwards.
  for (auto set = rule_sets_.rbegin(); set != rule_sets_.rend(); ++set) {
    size_t skip = 0;
    if (!set->dir.empty()) {
      if (!absl::StartsWith(path, set->dir) || path.size() <= set->dir.size() ||
          path[set->dir.size()] != '/') {
        continue;
      }
      skip = std::count(set->dir.begin(), set->dir.end(), '/') + 1;
    }
    const std::vector<std::string> relative(segments.begin() + skip,
                                            segments.end());
    for (auto rule = set->rules.rbegin(); rule != set->rules.rend(); ++rule) {
      if (rule->dir_only && !is_dir) continue;
      if (MatchSegments(rule->segments, 0, relative, 0)) return !rule->negate;
    }
  }
  return false;
}

}  // namespace tether::sync
