#ifndef TETHER_COMMON_REVISION_ID_H_
#define TETHER_COMMON_REVISION_ID_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tether {

/// The first 12 characters of a revision id (like a short git hash): what
/// logs, deploy events and the CLI show. Shorter ids come back whole.
/// Thread-safe.
std::string ShortRevision(absl::string_view revision);

}  // namespace tether

#endif  // TETHER_COMMON_REVISION_ID_H_
