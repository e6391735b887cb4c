#ifndef TETHER_COMMON_DIAGNOSTICS_H_
#define TETHER_COMMON_DIAGNOSTICS_H_

// Text helpers for error messages that users act on: quoting what they wrote
// and suggesting what they probably meant.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tether {

/// `text` in double quotes with '"', '\\' and control characters escaped, cut
/// to about `max_chars` with "..." so a pasted blob does not flood the message.
std::string Quote(absl::string_view text, size_t max_chars = 64);

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions)
/// between `a` and `b`, compared byte by byte.
size_t EditDistance(absl::string_view a, absl::string_view b);

/// The candidate closest to `word` when it is close enough to be a likely typo:
/// equal ignoring case, '_' and '-', or within an edit distance of
/// max(1, |word| / 3) (at most 3) ignoring case. Ties go to the earlier
/// candidate. Empty when nothing is close.
std::string ClosestMatch(absl::string_view word,
                         const std::vector<std::string>& candidates);

}  // namespace tether

#endif  // TETHER_COMMON_DIAGNOSTICS_H_
