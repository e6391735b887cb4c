#ifndef TETHER_COMMON_STATUS_CONTEXT_H_
#define TETHER_COMMON_STATUS_CONTEXT_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tether {

/// `status` with "<context>: " before its message and the same code, so an
/// error says where it happened ("applying Deployment/web: ...").
inline absl::Status WithContext(absl::string_view context,
                                const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(context, ": ", status.message()));
}

}  // namespace tether

#endif  // TETHER_COMMON_STATUS_CONTEXT_H_
