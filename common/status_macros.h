#ifndef TETHER_COMMON_STATUS_MACROS_H_
#define TETHER_COMMON_STATUS_MACROS_H_

// Early returns for absl::Status / absl::StatusOr, as in Abseil's and
// TensorFlow's internal macros (Abseil does not ship them publicly).
//
//   RETURN_IF_ERROR(store->Put(record));
//   ASSIGN_OR_RETURN(std::string text, ReadFile(path));
//   ASSIGN_OR_RETURN(auto tree, ScanTree(root));

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

/// Returns the status of `expr` from the enclosing function unless it is OK.
#define RETURN_IF_ERROR(expr)                                           \
  do {                                                                  \
    if (::absl::Status tether_status_ = (expr); !tether_status_.ok()) { \
      return tether_status_;                                            \
    }                                                                   \
  } while (false)

/// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status unless it
/// is OK, else moves the value into `lhs` (a declaration or an lvalue).
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  TETHER_ASSIGN_OR_RETURN_IMPL_(     \
      TETHER_STATUS_MACROS_CONCAT_(tether_statusor_, __LINE__), lhs, rexpr)

#define TETHER_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = *std::move(statusor)

#define TETHER_STATUS_MACROS_CONCAT_INNER_(x, y) x##y
#define TETHER_STATUS_MACROS_CONCAT_(x, y) \
  TETHER_STATUS_MACROS_CONCAT_INNER_(x, y)

#endif  // TETHER_COMMON_STATUS_MACROS_H_
