#ifndef TETHER_CONTROLPLANE_RECORDING_AGENT_CONNECTION_H_
#define TETHER_CONTROLPLANE_RECORDING_AGENT_CONNECTION_H_

#include <vector>

#include "controlplane/service_state.h"

namespace tether::controlplane {

/// An AgentConnection for tests: keeps every command sent, in order. Not
/// thread-safe (the ServiceManager calls it under its lock).
class RecordingAgentConnection final : public AgentConnection {
 public:
  void Send(const tether::v1::AgentCommand& command) override {
    commands.push_back(command);
  }
  std::vector<tether::v1::AgentCommand> commands;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_RECORDING_AGENT_CONNECTION_H_
