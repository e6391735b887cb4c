#ifndef TETHER_TOOLS_CLI_APPLY_COMMAND_H_
#define TETHER_TOOLS_CLI_APPLY_COMMAND_H_

// `tether apply -f manifest.yaml`: a workload the team already has
// (Deployment, StatefulSet, Job, CronJob) deployed through Tether, with the
// agent injected (ServiceSpec.workload), so calls, sync, reload and the TTL
// work on it.

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "tether/v1/service.pb.h"
#include "tools/cli/command.h"

namespace tether::cli {

/// tether apply -f MANIFEST [--service NAME] [--callable MODULE:NAME]
///     [--ttl DURATION] [--code DIR] [-o json] [connection flags]
Command ApplyCommand();

/// The ServiceSpec for `workload` (one object of the manifest): its name,
/// callable or app, TTL and replicas from the flags, else from the pod
/// template's tether.dev/ annotations (sidecar/README.md), else from the
/// object. INVALID_ARGUMENT naming the flag, annotation or field.
absl::StatusOr<tether::v1::ServiceSpec> WorkloadServiceSpec(
    const nlohmann::json& workload, const ParsedArgs& args);

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_APPLY_COMMAND_H_
