#ifndef TETHER_CONTROLPLANE_FILE_SERVICE_STORE_H_
#define TETHER_CONTROLPLANE_FILE_SERVICE_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "controlplane/service_store.h"

namespace tether::controlplane {

/// One binary proto file per service, `<dir>/<name>.pb`, each written with
/// write-fsync-rename. Thread-safe.
class FileServiceStore final : public ServiceStore {
 public:
  struct Options {
    /// Directory for the records; created when missing.
    std::string dir;
  };

  static absl::StatusOr<std::unique_ptr<FileServiceStore>> Create(
      Options options);

  absl::Status Put(const tether::v1::ServiceStatus& record) override;
  absl::Status Delete(const std::string& name) override;
  absl::StatusOr<std::vector<tether::v1::ServiceStatus>> LoadAll() override;
  /// `<dir>/activity.bin` (not a `.pb` record file).
  absl::Status PutActivity(const tether::v1::ActivityLog& log) override;
  absl::StatusOr<tether::v1::ActivityLog> LoadActivity() override;

 private:
  explicit FileServiceStore(Options options) : options_(std::move(options)) {}
  std::string PathFor(const std::string& name) const;

  const Options options_;
  // Serializes writers so two Puts of one name cannot race on the rename.
  absl::Mutex mu_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_FILE_SERVICE_STORE_H_
