#include "controlplane/code/code_collector.h"

#include <utility>

#include "common/log.h"

namespace tether::controlplane {

CodeCollector::CodeCollector(Options options) : options_(std::move(options)) {
  TETHER_CHECK(options_.store != nullptr && options_.live_revisions)
      << "CodeCollector needs a store and live_revisions";
  if (options_.interval > absl::ZeroDuration()) {
    thread_ = std::thread([this] { Loop(); });
  }
}

CodeCollector::~CodeCollector() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<GarbageStats> CodeCollector::RunOnce() {
  return options_.store->CollectGarbage(options_.live_revisions(),
                                        options_.clock->Now() - options_.grace);
}

void CodeCollector::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (options_.clock->AwaitWithDeadline(
              &mu_, absl::Condition(&stopping_),
              options_.clock->Now() + options_.interval)) {
        return;
      }
    }
    absl::StatusOr<GarbageStats> stats = RunOnce();
    if (!stats.ok()) {
      TETHER_LOG(WARNING) << "code store collection failed: " << stats.status();
    } else if (stats->trees + stats->blobs + stats->derived > 0) {
      TETHER_LOG(INFO) << "code store: removed " << stats->trees
                       << " revision(s), " << stats->blobs << " blob(s), "
                       << stats->derived << " derived file(s), " << stats->bytes
                       << " bytes";
    }
  }
}

}  // namespace tether::controlplane
