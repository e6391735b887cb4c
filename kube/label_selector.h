#ifndef TETHER_KUBE_LABEL_SELECTOR_H_
#define TETHER_KUBE_LABEL_SELECTOR_H_

// The string form of Kubernetes label selectors, as sent in ?labelSelector=:
// comma-ANDed terms of `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
// `k` (exists) and `!k` (does not exist). One parser for the fake API server
// (tests/fake_kube_apiserver), FakeKubeClient and the Informer's option check.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// A parsed selector; the empty selector matches everything. Immutable after
/// Parse, so thread-safe.
class LabelSelector {
 public:
  /// INVALID_ARGUMENT naming the bad term when `text` is malformed.
  static absl::StatusOr<LabelSelector> Parse(absl::string_view text);
  /// `labels` is metadata.labels (may be null or absent).
  bool Matches(const nlohmann::json& labels) const;

 private:
  enum class Op { kEq, kNotEq, kIn, kNotIn, kExists, kNotExists };
  struct Term {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Term> terms_;
};

}  // namespace tether::kube

#endif  // TETHER_KUBE_LABEL_SELECTOR_H_
