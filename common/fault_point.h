#ifndef TETHER_COMMON_FAULT_POINT_H_
#define TETHER_COMMON_FAULT_POINT_H_

// Crash points for fault tests (tests/fault_integration_test.cc): a process
// SIGKILLs itself at a named point of its work, so a test can kill it at an
// exact step without sleeps or races. Compiled into every build; costs one
// cached getenv and a string compare per point passed.
//
//   TETHER_FAULT_POINT=<name>           dies at <name>, every time;
//   TETHER_FAULT_POINT=<name>:<marker>  dies at <name> only while file
//                                       <marker> does not exist, creating
//                                       it (O_EXCL): once, even across the
//                                       restarts and children that inherit
//                                       the variable. A test creates the
//                                       marker first to hold the point and
//                                       removes it to arm it.
//
// Children inherit the variable (tetherd → agents → workers), so one
// setting reaches the process that owns the point. Points are named by what
// has just happened ("deploy.record.stored"); docs/DESIGN.md lists them.

#include "absl/strings/string_view.h"

namespace tether {

/// SIGKILLs this process when TETHER_FAULT_POINT names `name` (see above);
/// otherwise does nothing. Thread-safe.
void FaultPoint(absl::string_view name);

}  // namespace tether

#endif  // TETHER_COMMON_FAULT_POINT_H_
