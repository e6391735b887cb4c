#ifndef TETHER_TOOLS_CLI_ARGS_H_
#define TETHER_TOOLS_CLI_ARGS_H_

// Subcommand argument parsing for the `tether` CLI. Hand-rolled because
// absl flags are process-global and do not do per-subcommand flag sets.

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::cli {

struct FlagSpec {
  /// Long name without dashes: "endpoint" is given as --endpoint.
  std::string name;
  /// Optional one-letter alias: 'f' is given as -f.
  char short_name = '\0';
  /// Placeholder for the value in help ("FILE"); empty for boolean flags,
  /// which take no value.
  std::string value_name;
  std::string help;
  /// May be given more than once; ParsedArgs::GetAll has every value.
  bool repeated = false;
};

struct PositionalSpec {
  /// Placeholder in help and errors: "SERVICE".
  std::string name;
  bool optional = false;
};

struct CommandSpec {
  /// As typed after `tether`: "deploy".
  std::string name;
  /// One line for `tether --help`.
  std::string summary;
  /// Optional paragraph for `tether <name> --help`.
  std::string description;
  /// Required ones first.
  std::vector<PositionalSpec> positionals;
  std::vector<FlagSpec> flags;
};

/// The outcome of parsing one command line. Immutable after parsing.
class ParsedArgs {
 public:
  /// True when --help or -h was given; nothing else was checked then.
  bool help() const { return help_; }
  /// Whether the flag (long name) was given.
  bool Has(absl::string_view flag) const { return values_.contains(flag); }
  /// The value of a flag that takes one, or `fallback` when absent (the
  /// last value of a repeated flag).
  std::string Get(absl::string_view flag,
                  absl::string_view fallback = "") const;
  /// Every value of a flag in the order given; empty when absent.
  std::vector<std::string> GetAll(absl::string_view flag) const;
  /// Positional arguments in order (between min and max of the spec).
  const std::vector<std::string>& positionals() const { return positionals_; }
  /// The positional at `index`, or `fallback` when it was not given.
  std::string Positional(size_t index, absl::string_view fallback = "") const;

 private:
  friend absl::StatusOr<ParsedArgs> ParseArgs(
      const CommandSpec& spec, const std::vector<std::string>& args);
  bool help_ = false;
  absl::flat_hash_map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positionals_;
};

/// Parses `args` (what follows the command name) against `spec`.
/// Accepted forms: --name value, --name=value, -x value, -xvalue, -x=value,
/// boolean --name, "--" ending flags, and "-" as a positional (stdin).
/// Flags and positionals may be interleaved.
/// INVALID_ARGUMENT naming the flag or argument: unknown flags (with a
/// suggestion), missing or unexpected values, flags given twice, missing or
/// extra positionals.
absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec& spec,
                                     const std::vector<std::string>& args);

/// `tether <name> --help` text: usage line, description, positionals and an
/// aligned flag table.
std::string FormatUsage(const CommandSpec& spec);

/// The usage line alone: "tether call SERVICE [METHOD] [flags]".
std::string UsageLine(const CommandSpec& spec);

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_ARGS_H_
