#ifndef TETHER_KUBE_JSON_FIELDS_H_
#define TETHER_KUBE_JSON_FIELDS_H_

// Reading fields of API objects that may lack them or hold another type:
// nlohmann's const operator[] and value() throw instead.

#include <string>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// `object[key]` when `object` is an object holding `key`, else null.
const nlohmann::json& Field(const nlohmann::json& object,
                            absl::string_view key);

/// Field as a string; "" when absent or not a string.
std::string StringField(const nlohmann::json& object, absl::string_view key);

}  // namespace tether::kube

#endif  // TETHER_KUBE_JSON_FIELDS_H_
