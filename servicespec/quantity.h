#ifndef TETHER_SERVICESPEC_QUANTITY_H_
#define TETHER_SERVICESPEC_QUANTITY_H_

// Kubernetes resource quantities ("500m", "2", "1.5Gi", "1e3"), as written in
// Compute.cpus and Compute.memory.

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::servicespec {

/// A non-negative quantity, held exactly in milli-units.
///
/// Like Kubernetes, precision finer than a milli-unit is rounded up ("1n" and
/// "0.0001" are 1m), so a quantity that is not zero never becomes zero.
class Quantity {
 public:
  /// Largest accepted value, in milli-units (INT64_MAX: about 9.2e15 units,
  /// i.e. 8 PiB of memory or 9.2 quadrillion CPUs).
  static constexpr int64_t kMaxMilliValue = INT64_MAX;

  Quantity() = default;
  static Quantity FromMilli(int64_t milli) { return Quantity(milli); }

  /// The value in thousandths of a unit ("1.5" → 1500, "250m" → 250).
  int64_t MilliValue() const { return milli_; }
  /// The value in whole units (bytes for memory, CPUs for cpu), rounded up as
  /// Kubernetes does ("1.5" → 2, "1Ki" → 1024).
  int64_t Value() const { return milli_ / 1000 + (milli_ % 1000 != 0 ? 1 : 0); }
  /// True for a whole number of units ("1Ki", "2"; not "0.5", "100m").
  bool IsWhole() const { return milli_ % 1000 == 0; }
  bool IsZero() const { return milli_ == 0; }

  friend bool operator==(Quantity a, Quantity b) {
    return a.milli_ == b.milli_;
  }
  friend bool operator!=(Quantity a, Quantity b) {
    return a.milli_ != b.milli_;
  }

 private:
  explicit Quantity(int64_t milli) : milli_(milli) {}
  int64_t milli_ = 0;
};

/// Parses a Kubernetes quantity: a decimal number ("2", "0.5", ".5", "2.")
/// with an optional '+' sign and one optional suffix:
///  - decimal SI: n, u, m, k, M, G, T, P, E (10^-9 .. 10^18);
///  - binary SI: Ki, Mi, Gi, Ti, Pi, Ei (2^10 .. 2^60);
///  - decimal exponent: e or E with a signed integer ("1e3", "5E-1").
/// Errors are INVALID_ARGUMENT and quote the input: empty text, negative
/// values ("\"-1Gi\" is negative"), unknown suffixes (with a hint for the
/// common "GB"/"gi" mistakes), malformed numbers, and values above
/// Quantity::kMaxMilliValue milli-units. Messages carry no field name; callers
/// prefix it. Thread-safe.
absl::StatusOr<Quantity> ParseQuantity(absl::string_view text);

}  // namespace tether::servicespec

#endif  // TETHER_SERVICESPEC_QUANTITY_H_
