#ifndef TETHER_KUBE_MANIFEST_VALIDATOR_H_
#define TETHER_KUBE_MANIFEST_VALIDATOR_H_

// Runs kube/validate_manifests.py, the strict check of the Kubernetes object
// model that rendered and injected manifests go through, from C++ tests.

#include <string>
#include <vector>

namespace tether::kube {

struct ValidatorRun {
  /// The script's exit code: 0 when every file is valid; -1 when it could
  /// not run.
  int exit_code = -1;
  /// What it printed (stdout and stderr): the problems found.
  std::string output;
};

/// Validates the manifest `files` (YAML or JSON). Needs
/// `//kube:validate_manifests.py` in the test's data.
ValidatorRun ValidateManifests(const std::vector<std::string>& files);

}  // namespace tether::kube

#endif  // TETHER_KUBE_MANIFEST_VALIDATOR_H_
