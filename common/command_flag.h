#ifndef TETHER_COMMON_COMMAND_FLAG_H_
#define TETHER_COMMON_COMMAND_FLAG_H_

// How a command (exec form) travels as one flag value: a JSON list of
// strings, so arguments may hold spaces, commas and quotes. Backends and
// the injector write it (tether-agent --app_command, --reload_command), the
// agent reads it.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether {

/// `command` as a JSON list: ["sh","-c","kill -HUP 1"].
std::string EncodeCommand(const std::vector<std::string>& command);

/// The command in `text`; empty text is no command. INVALID_ARGUMENT
/// naming `--flag` unless `text` is a non-empty JSON list of strings.
/// Thread-safe.
absl::StatusOr<std::vector<std::string>> DecodeCommand(absl::string_view flag,
                                                       absl::string_view text);

}  // namespace tether

#endif  // TETHER_COMMON_COMMAND_FLAG_H_
