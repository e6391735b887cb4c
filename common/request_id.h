#ifndef TETHER_COMMON_REQUEST_ID_H_
#define TETHER_COMMON_REQUEST_ID_H_

#include <string>

namespace tether {

/// A new call's request id: 16 random lowercase hex digits. Cheap (it runs
/// on every call that comes without one). Thread-safe.
std::string NewRequestId();

}  // namespace tether

#endif  // TETHER_COMMON_REQUEST_ID_H_
