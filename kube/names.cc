#include "kube/names.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace tether::kube {
namespace {

bool IsAlnum(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c));
}

// The name part of a qualified name, and a non-empty label value.
bool IsQualifiedNamePart(absl::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return IsAlnum(c) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

bool IsDnsSubdomain(absl::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (absl::string_view part : absl::StrSplit(s, '.')) {
    if (part.empty() || part.front() == '-' || part.back() == '-') return false;
    for (char c : part) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (!absl::ascii_islower(u) && !absl::ascii_isdigit(u) && c != '-') {
        return false;
      }
    }
  }
  return true;
}

bool IsDnsLabel(absl::string_view s) {
  return s.size() <= 63 && !absl::StrContains(s, '.') && IsDnsSubdomain(s);
}

bool IsQualifiedName(absl::string_view s) {
  const size_t slash = s.find('/');
  if (slash == absl::string_view::npos) return IsQualifiedNamePart(s);
  return IsDnsSubdomain(s.substr(0, slash)) &&
         IsQualifiedNamePart(s.substr(slash + 1));
}

bool IsLabelValue(absl::string_view s) {
  return s.empty() || IsQualifiedNamePart(s);
}

bool IsConfigKey(absl::string_view s) {
  return !s.empty() && s.size() <= 253 && s != "." && s != ".." &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return IsAlnum(c) || c == '-' || c == '_' || c == '.';
         });
}

}  // namespace tether::kube
