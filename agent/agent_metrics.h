#ifndef TETHER_AGENT_AGENT_METRICS_H_
#define TETHER_AGENT_AGENT_METRICS_H_

#include <array>
#include <atomic>
#include <memory>

#include "absl/time/time.h"
#include "common/clock.h"
#include "grpcpp/support/status_code_enum.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace tether::agent {

/// The agent's Prometheus metrics, served at its HTTP `/metrics`:
///
///   tether_agent_calls_total{outcome}           Invoke calls by status
///                                               ("ok", "invalid_argument")
///   tether_agent_call_duration_seconds          Invoke latency
///   tether_agent_calls_in_flight                Invoke calls running
///   tether_agent_syncs_total{outcome}           code pulls ("ok"/"failed")
///   tether_agent_reloads_total{outcome}         revision loads
///                                               ("ok"/"failed")
///   tether_agent_reload_duration_seconds        revision load time
///
/// Cheap on the call path: label children are looked up once and kept, so a
/// call costs a few atomic adds. Thread-safe.
class AgentMetrics final {
 public:
  /// `clock` times calls and reloads; it must outlive this.
  explicit AgentMetrics(Clock* clock = Clock::Real());
  ~AgentMetrics();

  AgentMetrics(const AgentMetrics&) = delete;
  AgentMetrics& operator=(const AgentMetrics&) = delete;

  /// An Invoke call began; pass the result to CallFinished.
  absl::Time CallStarted();
  /// The call begun at `started` ended with `code`.
  void CallFinished(absl::Time started, grpc::StatusCode code);

  /// A code pull ended.
  void SyncEnded(bool ok);
  /// When a reload (starting workers on a revision) begins.
  absl::Time ReloadStarted() const { return clock_->Now(); }
  /// The reload begun at `started` ended.
  void ReloadEnded(absl::Time started, bool ok);

  /// What `/metrics` serves.
  const prometheus::Registry& registry() const { return *registry_; }

 private:
  // grpc::StatusCode 0..16.
  static constexpr int kCodes = 17;

  Clock* const clock_;
  const std::unique_ptr<prometheus::Registry> registry_;
  // Owned by registry_; set once in the constructor.
  prometheus::Family<prometheus::Counter>* calls_;
  // calls_ children by status code, added on first use.
  std::array<std::atomic<prometheus::Counter*>, kCodes> calls_by_code_{};
  prometheus::Histogram* call_duration_;
  prometheus::Gauge* in_flight_;
  prometheus::Counter* syncs_ok_;
  prometheus::Counter* syncs_failed_;
  prometheus::Counter* reloads_ok_;
  prometheus::Counter* reloads_failed_;
  prometheus::Histogram* reload_duration_;
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_AGENT_METRICS_H_
