#ifndef TETHER_CONTROLPLANE_CONTROL_PLANE_METRICS_H_
#define TETHER_CONTROLPLANE_CONTROL_PLANE_METRICS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace tether::controlplane {

/// tetherd's Prometheus metrics, served at its HTTP `/metrics`:
///
///   tether_calls_total{service,outcome}        Call and CallStream RPCs by
///                                              status ("ok", "not_found",
///                                              ...); direct calls are the
///                                              agents' to count
///   tether_call_duration_seconds{service}      their latency (a stream's:
///                                              until its last event)
///   tether_calls_in_flight{service}            those running
///   tether_deploys_total{outcome}              deploys clients asked for,
///                                              ended: "ok", "failed",
///                                              "aborted" (superseded or
///                                              deleted); wake-ups are
///                                              tether_wakeups_total
///   tether_ttl_actions_total{action}           "scale_to_zero", "delete"
///   tether_wakeups_total{outcome}              "ok", "failed"
///   tether_wake_duration_seconds               scale-from-zero time
///   tether_attached_agents                     live Attach streams
///   tether_otlp_reports_total{result}          "accepted", "rejected"
///   tether_otlp_data_points_rejected_total
///
/// The `service` label only takes names of services that exist
/// (ServiceAdded, until ServiceDeleted removes their series): calls naming
/// anything else are counted under service="" so a caller cannot grow the
/// series without bound. Thread-safe.
class ControlPlaneMetrics final {
 public:
  /// `clock` times calls; it must outlive this.
  explicit ControlPlaneMetrics(Clock* clock = Clock::Real());
  ~ControlPlaneMetrics();

  ControlPlaneMetrics(const ControlPlaneMetrics&) = delete;
  ControlPlaneMetrics& operator=(const ControlPlaneMetrics&) = delete;

  /// `service` exists: its calls get their own series. Idempotent.
  void ServiceAdded(const std::string& service);
  /// `service` was deleted: its per-service series are removed (a call in
  /// flight across the delete is not counted).
  void ServiceDeleted(const std::string& service);

  /// When a call began and which series it went to.
  struct CallStart {
    absl::Time time;
    // Counted under its service's name (else under "").
    bool known_service = false;
  };
  /// A Call or CallStream RPC for `service` began; pass the result to
  /// CallFinished.
  CallStart CallStarted(const std::string& service);
  /// The call `start` ended with `code`.
  void CallFinished(const std::string& service, CallStart start,
                    absl::StatusCode code);

  /// A deploy ended with `status` (OK; ABORTED when superseded or the
  /// service was deleted; anything else failed).
  void DeployEnded(const absl::Status& status);
  /// The TTL controller acted on a service: "scale_to_zero" or "delete".
  void TtlAction(std::string_view action);
  /// A scale-from-zero wake-up ended after `duration`.
  void WakeEnded(bool ok, absl::Duration duration);
  /// An agent's Attach stream passed its hello / ended after that.
  void AgentAttached();
  void AgentDetached();
  /// An OTLP export was accepted or rejected; `rejected_points` of its data
  /// points were rejected (a partial success has some).
  void OtlpReport(bool accepted, int64_t rejected_points);

  /// What `/metrics` serves.
  const prometheus::Registry& registry() const { return *registry_; }

 private:
  // grpc and absl status codes 0..16.
  static constexpr int kCodes = 17;
  // One service's children of the per-service families.
  struct ServiceSeries {
    std::string name;
    // calls_ children by code, added on first use.
    std::array<prometheus::Counter*, kCodes> calls{};
    prometheus::Histogram* duration = nullptr;
    prometheus::Gauge* in_flight = nullptr;
  };

  ServiceSeries& SeriesLocked(const std::string& service)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveSeries(ServiceSeries& series);

  Clock* const clock_;
  const std::unique_ptr<prometheus::Registry> registry_;
  // Families and fixed children, owned by registry_; set in the constructor.
  prometheus::Family<prometheus::Counter>* calls_;
  prometheus::Family<prometheus::Histogram>* call_duration_;
  prometheus::Family<prometheus::Gauge>* in_flight_;
  prometheus::Counter* deploys_ok_;
  prometheus::Counter* deploys_failed_;
  prometheus::Counter* deploys_aborted_;
  prometheus::Family<prometheus::Counter>* ttl_actions_;
  prometheus::Counter* wakeups_ok_;
  prometheus::Counter* wakeups_failed_;
  prometheus::Histogram* wake_duration_;
  prometheus::Gauge* attached_agents_;
  prometheus::Counter* otlp_accepted_;
  prometheus::Counter* otlp_rejected_;
  prometheus::Counter* otlp_points_rejected_;

  absl::Mutex mu_;
  // Existing services, and "" for calls to any other name.
  absl::flat_hash_map<std::string, std::unique_ptr<ServiceSeries>> services_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_CONTROL_PLANE_METRICS_H_
