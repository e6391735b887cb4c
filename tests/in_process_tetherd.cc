#include "tests/in_process_tetherd.h"

#include <utility>

#include "common/status_macros.h"

namespace tether::testing {

absl::StatusOr<std::unique_ptr<InProcessTetherd>> InProcessTetherd::Start(
    const std::string& state_dir, controlplane::Tetherd::Options options) {
  options.listen_address = "127.0.0.1:0";
  options.state_dir = state_dir;
  ASSIGN_OR_RETURN(std::unique_ptr<controlplane::Tetherd> tetherd,
                   controlplane::Tetherd::Create(std::move(options)));
  return std::unique_ptr<InProcessTetherd>(
      new InProcessTetherd(state_dir, std::move(tetherd)));
}

InProcessTetherd::InProcessTetherd(
    std::string state_dir, std::unique_ptr<controlplane::Tetherd> tetherd)
    : TetherdClient(std::move(state_dir)), tetherd_(std::move(tetherd)) {
  Connect(tetherd_->address());
}

}  // namespace tether::testing
