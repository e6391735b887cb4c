#ifndef TETHER_SIDECAR_TEST_CONFIG_H_
#define TETHER_SIDECAR_TEST_CONFIG_H_

// The injector settings the sidecar tests share: what deploy/ would set.

#include "sidecar/injector.h"

namespace tether::sidecar {

inline InjectorConfig TestInjectorConfig() {
  InjectorConfig config;
  config.agent_image = "ghcr.io/tether/agent:1";
  config.tetherd_address = "tetherd.tether-system.svc:7700";
  return config;
}

}  // namespace tether::sidecar

#endif  // TETHER_SIDECAR_TEST_CONFIG_H_
