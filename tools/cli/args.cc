#include "tools/cli/args.h"

#include <algorithm>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/diagnostics.h"

namespace tether::cli {
namespace {

const FlagSpec* FindLong(const CommandSpec& spec, absl::string_view name) {
  for (const FlagSpec& flag : spec.flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

const FlagSpec* FindShort(const CommandSpec& spec, char name) {
  for (const FlagSpec& flag : spec.flags) {
    if (flag.short_name != '\0' && flag.short_name == name) return &flag;
  }
  return nullptr;
}

absl::Status UnknownFlag(const CommandSpec& spec, absl::string_view given,
                         absl::string_view name) {
  std::vector<std::string> names;
  for (const FlagSpec& flag : spec.flags) names.push_back(flag.name);
  const std::string suggestion = ClosestMatch(name, names);
  if (!suggestion.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown flag ", given, " (did you mean --", suggestion, "?)"));
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown flag ", given));
}

std::string FlagLabel(const FlagSpec& flag) {
  std::string label = flag.short_name != '\0'
                          ? absl::StrCat("-", std::string(1, flag.short_name),
                                         ", --", flag.name)
                          : absl::StrCat("    --", flag.name);
  if (!flag.value_name.empty()) absl::StrAppend(&label, " ", flag.value_name);
  return label;
}

}  // namespace

std::string ParsedArgs::Get(absl::string_view flag,
                            absl::string_view fallback) const {
  auto it = values_.find(flag);
  return it == values_.end() ? std::string(fallback) : it->second.back();
}

std::vector<std::string> ParsedArgs::GetAll(absl::string_view flag) const {
  auto it = values_.find(flag);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string ParsedArgs::Positional(size_t index,
                                   absl::string_view fallback) const {
  return index < positionals_.size() ? positionals_[index]
                                     : std::string(fallback);
}

absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec& spec,
                                     const std::vector<std::string>& args) {
  ParsedArgs parsed;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    // "-3" is a number, not a flag, unless a flag is named after a digit
    // (argparse's rule): `tether scale hello -1` names N in its error.
    const bool negative_number = arg.size() > 1 && arg[0] == '-' &&
                                 absl::ascii_isdigit(arg[1]) &&
                                 FindShort(spec, arg[1]) == nullptr;
    if (flags_done || arg == "-" || arg.empty() || arg[0] != '-' ||
        negative_number) {
      parsed.positionals_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      parsed.help_ = true;
      return parsed;
    }
    const FlagSpec* flag = nullptr;
    std::string given;  // How the user spelled the flag, for messages.
    std::optional<std::string> inline_value;
    if (absl::StartsWith(arg, "--")) {
      const size_t eq = arg.find('=');
      const std::string name =
          arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      given = absl::StrCat("--", name);
      if (eq != std::string::npos) inline_value = arg.substr(eq + 1);
      flag = FindLong(spec, name);
      if (flag == nullptr) return UnknownFlag(spec, given, name);
    } else {
      given = arg.substr(0, 2);
      flag = FindShort(spec, arg[1]);
      if (flag == nullptr) return UnknownFlag(spec, given, arg.substr(1));
      if (arg.size() > 2) {
        // -ojson and -o=json.
        inline_value = arg.substr(arg[2] == '=' ? 3 : 2);
      }
    }
    const std::string long_name = absl::StrCat("--", flag->name);
    std::string value;
    if (flag->value_name.empty()) {
      if (inline_value.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag ", long_name, " takes no value"));
      }
    } else if (inline_value.has_value()) {
      value = *inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("flag ", long_name, " needs a value (", long_name, " ",
                       flag->value_name, ")"));
    }
    std::vector<std::string>& values = parsed.values_[flag->name];
    if (!values.empty() && !flag->repeated) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag ", long_name, " given twice"));
    }
    values.push_back(std::move(value));
  }
  size_t required = 0;
  for (const PositionalSpec& positional : spec.positionals) {
    if (!positional.optional) ++required;
  }
  if (parsed.positionals_.size() < required) {
    return absl::InvalidArgumentError(absl::StrCat(
        "missing argument ", spec.positionals[parsed.positionals_.size()].name,
        " (usage: ", UsageLine(spec), ")"));
  }
  if (parsed.positionals_.size() > spec.positionals.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument ",
                     Quote(parsed.positionals_[spec.positionals.size()]),
                     " (usage: ", UsageLine(spec), ")"));
  }
  return parsed;
}

std::string UsageLine(const CommandSpec& spec) {
  std::string line = absl::StrCat("tether ", spec.name);
  for (const PositionalSpec& positional : spec.positionals) {
    absl::StrAppend(&line, positional.optional ? " [" : " ", positional.name,
                    positional.optional ? "]" : "");
  }
  if (!spec.flags.empty()) absl::StrAppend(&line, " [flags]");
  return line;
}

std::string FormatUsage(const CommandSpec& spec) {
  std::string out =
      absl::StrCat("Usage: ", UsageLine(spec), "\n\n", spec.summary, "\n");
  if (!spec.description.empty()) absl::StrAppend(&out, "\n", spec.description);
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  std::vector<std::string> labels;
  size_t width = std::string("-h, --help").size();
  for (const FlagSpec& flag : spec.flags) {
    labels.push_back(FlagLabel(flag));
    width = std::max(width, labels.back().size());
  }
  absl::StrAppend(&out, "\nFlags:\n");
  for (size_t i = 0; i < spec.flags.size(); ++i) {
    // Continuation lines of a help text line up under its first line.
    const std::string help = absl::StrReplaceAll(
        spec.flags[i].help, {{"\n", "\n" + std::string(width + 4, ' ')}});
    absl::StrAppend(&out, "  ", labels[i],
                    std::string(width - labels[i].size() + 2, ' '), help, "\n");
  }
  absl::StrAppend(&out, "  -h, --help", std::string(width - 10 + 2, ' '),
                  "show this help\n");
  return out;
}

}  // namespace tether::cli
