#ifndef TETHER_CONTROLPLANE_FAKE_SERVICE_STORE_H_
#define TETHER_CONTROLPLANE_FAKE_SERVICE_STORE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "controlplane/service_store.h"

namespace tether::controlplane {

/// In-memory ServiceStore for tests; `set_fail_writes` makes Put/Delete fail
/// so tests can check that a failed write changes nothing. Thread-safe.
class FakeServiceStore final : public ServiceStore {
 public:
  absl::Status Put(const tether::v1::ServiceStatus& record) override {
    absl::MutexLock lock(&mu_);
    if (fail_writes_) return absl::UnavailableError("fake store: writes fail");
    records_[record.name()] = record;
    return absl::OkStatus();
  }
  absl::Status Delete(const std::string& name) override {
    absl::MutexLock lock(&mu_);
    if (fail_writes_) return absl::UnavailableError("fake store: writes fail");
    records_.erase(name);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<tether::v1::ServiceStatus>> LoadAll() override {
    absl::MutexLock lock(&mu_);
    std::vector<tether::v1::ServiceStatus> out;
    for (const auto& [name, record] : records_) out.push_back(record);
    return out;
  }
  absl::Status PutActivity(const tether::v1::ActivityLog& log) override {
    absl::MutexLock lock(&mu_);
    if (fail_writes_) return absl::UnavailableError("fake store: writes fail");
    activity_ = log;
    return absl::OkStatus();
  }
  absl::StatusOr<tether::v1::ActivityLog> LoadActivity() override {
    absl::MutexLock lock(&mu_);
    return activity_;
  }
  void set_fail_writes(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_writes_ = fail;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, tether::v1::ServiceStatus> records_
      ABSL_GUARDED_BY(mu_);
  tether::v1::ActivityLog activity_ ABSL_GUARDED_BY(mu_);
  bool fail_writes_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_FAKE_SERVICE_STORE_H_
