#ifndef TETHER_TOOLS_CLI_DEPLOYER_H_
#define TETHER_TOOLS_CLI_DEPLOYER_H_

// Upload a code directory and deploy a spec at the resulting revision: the
// path `tether deploy` and `tether dev` share.

#include <functional>
#include <ostream>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sync/uploader.h"
#include "tether/v1/control_plane.pb.h"
#include "tether/v1/service.pb.h"
#include "tools/cli/client.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace tether::cli {

/// Where UploadAndDeploy narrates.
struct DeployOutput {
  /// "synced DIR: revision R, N files, sent M new (S) in T" and
  /// "service NAME ready at revision R (N replicas) in T".
  std::ostream* lines = nullptr;
  /// One line per DeployEvent: FormatDeployEvent, or compact proto3 JSON
  /// with `json_events`.
  std::ostream* events = nullptr;
  bool json_events = false;
};

/// "synced CODE_DIR: revision R, N files, sent M new (S) in T": what
/// `tether deploy` and `tether sync` print after an upload.
std::string FormatSynced(const std::string& code_dir,
                         const sync::UploadResult& upload, absl::Duration took);

/// Thread-safe: Cancel may be called from any thread while another thread
/// uploads or deploys.
class Deployer {
 public:
  /// `conn` must outlive the Deployer; `now` times the narration.
  /// `upload` is the base for every UploadTree call (index cache settings;
  /// tests point the cache at a temp dir); `decorate` and `endpoint` are
  /// set from `conn`.
  Deployer(const Connection& conn, std::function<absl::Time()> now,
           sync::UploadOptions upload = {});

  /// UploadTree(code_dir) with the connection's credentials, so only what
  /// changed since the last upload is read and sent. Errors are
  /// UploadTree's with the message prefixed "uploading CODE_DIR: ".
  absl::StatusOr<sync::UploadResult> Upload(const std::string& code_dir);

  /// Streams Deploy(spec, revision), handing each event to `on_event` (may
  /// be empty), and returns the RPC's status: FAILED_PRECONDITION with the
  /// remote traceback when the code fails to load, INVALID_ARGUMENT naming
  /// the field, ... (docs/DESIGN.md), CANCELLED after Cancel,
  /// DEADLINE_EXCEEDED when it has not ended within `timeout` (the deploy
  /// goes on in tetherd; the message says how to follow it).
  absl::Status Deploy(
      const tether::v1::ServiceSpec& spec, const std::string& revision,
      const std::function<void(const tether::v1::DeployEvent&)>& on_event,
      absl::Duration timeout = absl::InfiniteDuration());

  /// Upload, then Deploy, printing what `tether deploy` prints to `output`;
  /// event times count from `start`. Returns the revision deployed. Errors
  /// as Upload and Deploy, or ToJson's when an event cannot be printed.
  absl::StatusOr<std::string> UploadAndDeploy(
      const tether::v1::ServiceSpec& spec, const std::string& code_dir,
      absl::Time start, const DeployOutput& output,
      absl::Duration timeout = absl::InfiniteDuration());

  /// Ends the Deploy in flight with CANCELLED and makes later ones fail at
  /// once. Uploads run to completion: they are short, and UploadTree owns
  /// its calls' lifetimes.
  void Cancel();

 private:
  const Connection& conn_;
  const std::function<absl::Time()> now_;
  const sync::UploadOptions upload_;
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // The Deploy call in flight, for Cancel.
  grpc::ClientContext* active_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_DEPLOYER_H_
