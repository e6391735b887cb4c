#ifndef TETHER_TESTS_FAKE_KUBE_APISERVER_LABEL_SELECTOR_H_
#define TETHER_TESTS_FAKE_KUBE_APISERVER_LABEL_SELECTOR_H_

// The string form of Kubernetes label selectors, as sent in ?labelSelector=:
// comma-ANDed terms of `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
// `k` (exists) and `!k` (does not exist).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tether::fake_kube {

class LabelSelector {
 public:
  static absl::StatusOr<LabelSelector> Parse(const std::string& text);
  // `labels` is metadata.labels (may be null or absent).
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

}  // namespace tether::fake_kube

#endif  // TETHER_TESTS_FAKE_KUBE_APISERVER_LABEL_SELECTOR_H_
