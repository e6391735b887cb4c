#ifndef TETHER_TOOLS_CLI_MANIFESTS_H_
#define TETHER_TOOLS_CLI_MANIFESTS_H_

// What the offline manifest commands (`render`, `inject`) share: the cluster
// settings they assume unless told, and how they print objects.

#include <ostream>
#include <vector>

#include "nlohmann/json.hpp"

namespace tether::cli {

/// Where deploy/ installs tetherd and which image carries the agent bundle.
inline constexpr char kDefaultTetherdAddress[] =
    "tetherd.tether-system.svc:7700";
inline constexpr char kDefaultAgentImage[] = "tether-agent:latest";

/// Prints `objects` as YAML documents (each after "---"; strings quoted so
/// "1" or "true" stay strings), or with `json` as one JSON `List`.
void PrintManifests(const std::vector<nlohmann::json>& objects, bool json,
                    std::ostream& out);

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_MANIFESTS_H_
