#ifndef TETHER_CONTROLPLANE_FAKE_BACKEND_H_
#define TETHER_CONTROLPLANE_FAKE_BACKEND_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "controlplane/backend.h"

namespace tether::controlplane {

/// Backend for tests: records what it was asked and starts nothing; tests
/// play the replicas' part by calling the listener themselves.
/// Thread-safe.
class FakeBackend final : public Backend {
 public:
  absl::Status Apply(const tether::v1::ServiceSpec& spec,
                     const std::string& token) override {
    absl::MutexLock lock(&mu_);
    if (!fail_with_.ok()) return fail_with_;
    applied_.push_back(spec);
    tokens_[spec.name()] = token;
    replicas_[spec.name()] = std::max(1, spec.compute().replicas());
    return absl::OkStatus();
  }
  absl::Status Delete(const std::string& service) override {
    absl::MutexLock lock(&mu_);
    deleted_.push_back(service);
    replicas_.erase(service);
    return absl::OkStatus();
  }
  std::vector<std::string> Replicas(const std::string& service) const override {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> names;
    auto it = replicas_.find(service);
    for (int i = 0; it != replicas_.end() && i < it->second; ++i) {
      names.push_back(absl::StrCat(service, "-", i));
    }
    return names;
  }

  void set_fail_with(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_with_ = std::move(status);
  }
  std::vector<tether::v1::ServiceSpec> applied() const {
    absl::MutexLock lock(&mu_);
    return applied_;
  }
  std::vector<std::string> deleted() const {
    absl::MutexLock lock(&mu_);
    return deleted_;
  }
  std::string token(const std::string& service) const {
    absl::MutexLock lock(&mu_);
    auto it = tokens_.find(service);
    return it == tokens_.end() ? "" : it->second;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Status fail_with_ ABSL_GUARDED_BY(mu_);
  std::vector<tether::v1::ServiceSpec> applied_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> deleted_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> tokens_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> replicas_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_FAKE_BACKEND_H_
