#ifndef TETHER_CONTROLPLANE_SERVICE_STORE_H_
#define TETHER_CONTROLPLANE_SERVICE_STORE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tether/v1/control_plane.pb.h"

namespace tether::controlplane {

/// Durable service records: what was deployed (spec, revision, generation,
/// token, last phase, scale), and the services' last activity. Live replica
/// state is not part of a record. Implementations are thread-safe.
class ServiceStore {
 public:
  virtual ~ServiceStore() = default;

  /// Creates or replaces the record named `record.name()`, atomically: after
  /// a crash the store holds the old record or the new one.
  virtual absl::Status Put(const tether::v1::ServiceStatus& record) = 0;

  /// Removes a record. OK when there is none.
  virtual absl::Status Delete(const std::string& name) = 0;

  /// Every record, sorted by name.
  virtual absl::StatusOr<std::vector<tether::v1::ServiceStatus>> LoadAll() = 0;

  /// Replaces the stored last activity of every service, atomically. Kept
  /// apart from the records: it changes often and all services are written
  /// in one go.
  virtual absl::Status PutActivity(const tether::v1::ActivityLog& log) = 0;
  /// What PutActivity stored last; empty when nothing was.
  virtual absl::StatusOr<tether::v1::ActivityLog> LoadActivity() = 0;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_SERVICE_STORE_H_
