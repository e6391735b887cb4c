#ifndef TETHER_SYNC_IGNORE_H_
#define TETHER_SYNC_IGNORE_H_

// Which paths of a working directory stay out of a code revision:
// `.gitignore` and `.tetherignore` rules plus names that are never code.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tether::sync {

/// True for names every revision drops whatever the ignore files say:
/// `.git` (directory, or file in worktrees), `__pycache__`, `*.pyc`.
bool IsAlwaysIgnored(absl::string_view name);

/// Gitignore-style rules from the ignore files of one tree.
///
/// Supported syntax, per file: blank lines and `#` comments, `\#` and `\!`
/// escapes, trailing spaces (unless escaped) and CR dropped, `!` negation,
/// trailing `/` (directories only), a `/` at the start or in the middle
/// anchors the pattern to the file's directory (otherwise it matches at any
/// depth below it), and per component `*`, `?`, `[...]` via fnmatch(3)
/// plus `**` (leading `**/`: any depth; `/**/`: zero or more directories;
/// trailing `/**`: everything inside).
///
/// Precedence follows git: deeper files beat shallower ones, within a
/// directory `.tetherignore` beats `.gitignore`, and within a file the last
/// matching rule wins. As in git, nothing below an ignored directory can be
/// re-included, because the walker never descends into it.
///
/// Thread-compatible: concurrent IsIgnored calls are safe, AddRules needs
/// exclusive access.
class IgnoreMatcher {
 public:
  IgnoreMatcher() = default;

  /// Adds the rules of one ignore file that lives in directory `dir`
  /// (relative to the root, '/' separators, "" for the root). Call for a
  /// directory before its subdirectories, `.gitignore` before
  /// `.tetherignore`: later rules take precedence.
  void AddRules(absl::string_view dir, absl::string_view contents);

  /// Whether `path` (relative to the root, '/' separators) is ignored.
  /// `is_dir` is false for symlinks, even to directories, as in git.
  bool IsIgnored(absl::string_view path, bool is_dir) const;

 private:
  struct Rule {
    // Pattern components; "**" is the any-depth wildcard.
    std::vector<std::string> segments;
    bool negate = false;
    bool dir_only = false;
  };
  struct RuleSet {
    std::string dir;
    std::vector<Rule> rules;
  };

  // In AddRules order, so ancestors come before descendants.
  std::vector<RuleSet> rule_sets_;
};

}  // namespace tether::sync

#endif  // TETHER_SYNC_IGNORE_H_
