#include "common/serving_process.h"

#include "absl/synchronization/mutex.h"

namespace tether {

void ConfigureServingProcess() {
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
}

}  // namespace tether
