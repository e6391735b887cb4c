#include "common/revision_id.h"

namespace tether {

std::string ShortRevision(absl::string_view revision) {
  return std::string(revision.substr(0, 12));
}

}  // namespace tether
