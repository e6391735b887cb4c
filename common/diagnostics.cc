#include "common/diagnostics.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace tether {
namespace {

// Lowercase without '_' and '-': "allowed-serialization",
// "AllowedSerialization" and "allowed_serialization" all mean the same field.
std::string Fold(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '_' || c == '-') continue;
    out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

std::string Quote(absl::string_view text, size_t max_chars) {
  bool truncated = false;
  if (text.size() > max_chars) {
    size_t cut = max_chars > 3 ? max_chars - 3 : max_chars;
    // Do not cut a UTF-8 sequence in half.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    text = text.substr(0, cut);
    truncated = true;
  }
  std::string out = "\"";
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20 || u == 0x7F) {
          out += absl::StrFormat("\\x%02x", u);
        } else {
          out.push_back(c);
        }
    }
  }
  if (truncated) out += "...";
  out += "\"";
  return out;
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  const size_t n = a.size();
  const size_t m = b.size();
  // Three rows suffice for the transposition rule.
  std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::string ClosestMatch(absl::string_view word,
                         const std::vector<std::string>& candidates) {
  const std::string folded = Fold(word);
  for (const std::string& candidate : candidates) {
    if (!folded.empty() && Fold(candidate) == folded) return candidate;
  }
  const std::string lower = absl::AsciiStrToLower(word);
  const size_t limit =
      std::min<size_t>(3, std::max<size_t>(1, word.size() / 3));
  std::string best;
  size_t best_distance = limit + 1;
  for (const std::string& candidate : candidates) {
    const size_t d = EditDistance(lower, absl::AsciiStrToLower(candidate));
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

}  // namespace tether
