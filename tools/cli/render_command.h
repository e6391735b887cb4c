#ifndef TETHER_TOOLS_CLI_RENDER_COMMAND_H_
#define TETHER_TOOLS_CLI_RENDER_COMMAND_H_

// `tether render -f service.yaml`: the Kubernetes manifests a service would
// get, for review and GitOps, without contacting tetherd.

#include "tools/cli/command.h"

namespace tether::cli {

/// tether render -f FILE [--code DIR] [--namespace NS] [--agent-image IMAGE]
///   [--tetherd-address HOST:PORT] [--token-secret NAME]
///   [--pod-template FILE]... [-o json]
Command RenderCommand();

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_RENDER_COMMAND_H_
