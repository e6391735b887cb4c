#ifndef TETHER_CONTROLPLANE_FAKE_BACKEND_H_
#define TETHER_CONTROLPLANE_FAKE_BACKEND_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "controlplane/backend.h"
#include "servicespec/validate.h"

namespace tether::controlplane {

/// Backend for tests: records what it was asked and starts nothing; tests
/// play the replicas' part by calling the listener themselves.
/// Thread-safe.
class FakeBackend final : public Backend {
 public:
  absl::Status Validate(const tether::v1::ServiceSpec& spec) const override {
    absl::MutexLock lock(&mu_);
    return invalid_;
  }
  absl::Status Apply(const tether::v1::ServiceSpec& spec,
                     const std::string& token) override {
    absl::MutexLock lock(&mu_);
    if (!fail_with_.ok()) return fail_with_;
    applied_.push_back(spec);
    tokens_[spec.name()] = token;
    std::vector<std::string>& names = replicas_[spec.name()];
    if (!replicas_appear_later_) {
      names.clear();
      for (int i = 0; i < servicespec::InitialReplicas(spec.compute()); ++i) {
        names.push_back(absl::StrCat(spec.name(), "-", i));
      }
    }
    return absl::OkStatus();
  }
  absl::Status Scale(const tether::v1::ServiceSpec& spec,
                     const std::string& token, int32_t replicas) override {
    absl::MutexLock lock(&mu_);
    if (!fail_with_.ok()) return fail_with_;
    scaled_.emplace_back(spec.name(), replicas);
    tokens_[spec.name()] = token;
    std::vector<std::string>& names = replicas_[spec.name()];
    if (replicas == 0) {
      names.clear();
    } else if (!replicas_appear_later_) {
      names.clear();
      for (int i = 0; i < replicas; ++i) {
        names.push_back(absl::StrCat(spec.name(), "-", i));
      }
    }
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
    auto it = replicas_.find(service);
    return it == replicas_.end() ? std::vector<std::string>() : it->second;
  }

  /// Like Kubernetes: Apply creates no replicas; the test adds and removes
  /// them (as pods come and go) with set_replicas.
  void set_replicas_appear_later(bool later) {
    absl::MutexLock lock(&mu_);
    replicas_appear_later_ = later;
  }
  void set_replicas(const std::string& service,
                    std::vector<std::string> names) {
    absl::MutexLock lock(&mu_);
    replicas_[service] = std::move(names);
  }

  void set_invalid(absl::Status status) {
    absl::MutexLock lock(&mu_);
    invalid_ = std::move(status);
  }
  void set_fail_with(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_with_ = std::move(status);
  }
  std::vector<tether::v1::ServiceSpec> applied() const {
    absl::MutexLock lock(&mu_);
    return applied_;
  }
  /// (service, replicas) of every Scale, in order.
  std::vector<std::pair<std::string, int32_t>> scaled() const {
    absl::MutexLock lock(&mu_);
    return scaled_;
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
  absl::Status invalid_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_with_ ABSL_GUARDED_BY(mu_);
  std::vector<tether::v1::ServiceSpec> applied_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> deleted_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, int32_t>> scaled_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> tokens_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::string>> replicas_
      ABSL_GUARDED_BY(mu_);
  bool replicas_appear_later_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_FAKE_BACKEND_H_
