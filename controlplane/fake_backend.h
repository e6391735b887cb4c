#ifndef TETHER_CONTROLPLANE_FAKE_BACKEND_H_
#define TETHER_CONTROLPLANE_FAKE_BACKEND_H_

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/proto_time.h"
#include "controlplane/backend.h"
#include "servicespec/validate.h"

namespace tether::controlplane {

/// Backend for tests: records what it was asked and starts nothing; tests
/// play the replicas' part by calling the listener themselves, and set what
/// ReplicaLogs answers (and when: HoldReplicaLogs). Thread-safe.
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
  absl::Status Delete(const tether::v1::ServiceSpec& spec) override {
    absl::MutexLock lock(&mu_);
    deleted_.push_back(spec.name());
    replicas_.erase(spec.name());
    return absl::OkStatus();
  }
  std::vector<std::string> Replicas(const std::string& service) const override {
    absl::MutexLock lock(&mu_);
    auto it = replicas_.find(service);
    return it == replicas_.end() ? std::vector<std::string>() : it->second;
  }

  /// Filters what set_replica_logs gave by `since` and `max_lines`, as the
  /// contract says; empty for a replica given nothing.
  absl::StatusOr<std::vector<tether::v1::LogLine>> ReplicaLogs(
      const std::string& service, const std::string& replica, absl::Time since,
      size_t max_lines) const override {
    absl::MutexLock lock(&mu_);
    replica_log_reads_.push_back(absl::StrCat(service, "/", replica));
    mu_.Await(absl::Condition(
        +[](const bool* held) { return !*held; }, &hold_replica_logs_));
    auto names = replicas_.find(service);
    if (names == replicas_.end() ||
        std::find(names->second.begin(), names->second.end(), replica) ==
            names->second.end()) {
      return absl::NotFoundError(absl::StrCat("no replica ", replica));
    }
    auto it = replica_logs_.find(absl::StrCat(service, "/", replica));
    if (it == replica_logs_.end()) return std::vector<tether::v1::LogLine>();
    if (!it->second.ok()) return it->second.status();
    std::vector<tether::v1::LogLine> lines;
    for (const tether::v1::LogLine& line : *it->second) {
      if (FromProtoTimestamp(line.time()) >= since) lines.push_back(line);
    }
    if (lines.size() > max_lines) {
      lines.erase(lines.begin(), lines.end() - max_lines);
    }
    return lines;
  }

  /// What ReplicaLogs answers for `replica` of `service`.
  void set_replica_logs(
      const std::string& service, const std::string& replica,
      absl::StatusOr<std::vector<tether::v1::LogLine>> lines) {
    absl::MutexLock lock(&mu_);
    replica_logs_[absl::StrCat(service, "/", replica)] = std::move(lines);
  }
  /// While held, ReplicaLogs calls wait.
  void HoldReplicaLogs(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_replica_logs_ = hold;
  }
  /// "service/replica" of every ReplicaLogs call so far, in order.
  std::vector<std::string> replica_log_reads() const {
    absl::MutexLock lock(&mu_);
    return replica_log_reads_;
  }
  /// Blocks until ReplicaLogs was called `n` times (held ones included).
  void AwaitReplicaLogReads(size_t n) const {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return replica_log_reads_.size() >= n;
    };
    mu_.Await(absl::Condition(&reached));
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
  // By "service/replica".
  std::map<std::string, absl::StatusOr<std::vector<tether::v1::LogLine>>>
      replica_logs_ ABSL_GUARDED_BY(mu_);
  bool hold_replica_logs_ ABSL_GUARDED_BY(mu_) = false;
  mutable std::vector<std::string> replica_log_reads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_FAKE_BACKEND_H_
