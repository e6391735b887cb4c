#include "common/command_flag.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tether {

std::string EncodeCommand(const std::vector<std::string>& command) {
  return nlohmann::json(command).dump();
}

absl::StatusOr<std::vector<std::string>> DecodeCommand(absl::string_view flag,
                                                       absl::string_view text) {
  std::vector<std::string> words;
  if (text.empty()) return words;
  const nlohmann::json command =
      nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (command.is_array()) {
    for (const nlohmann::json& word : command) {
      const auto* value = word.get_ptr<const std::string*>();
      if (value == nullptr) break;
      words.push_back(*value);
    }
  }
  if (words.empty() || words.size() != command.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag,
                     " must be a non-empty JSON list of strings, like "
                     "[\"sh\", \"-c\", \"kill -HUP 1\"]; got ",
                     text));
  }
  return words;
}

}  // namespace tether
