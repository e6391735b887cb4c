#ifndef TETHER_TOOLS_CLI_INJECT_COMMAND_H_
#define TETHER_TOOLS_CLI_INJECT_COMMAND_H_

// `tether inject -f manifest.yaml`: what tether-injector would do to the
// pods of a manifest (sidecar/injector.h, the webhook's own code), for
// review and for clusters without the webhook.

#include "tools/cli/command.h"

namespace tether::cli {

/// tether inject -f FILE [--agent-image IMAGE] [--tetherd-address HOST:PORT]
///   [--no-native-sidecars] [-o json]
Command InjectCommand();

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_INJECT_COMMAND_H_
