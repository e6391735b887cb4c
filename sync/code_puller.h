#ifndef TETHER_SYNC_CODE_PULLER_H_
#define TETHER_SYNC_CODE_PULLER_H_

// The agent side of AgentGateway.PullCode: fetch a revision into the agent's
// work directory (layout in sync/revision_builder.h).

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "tether/v1/agent.grpc.pb.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace tether::sync {

/// Makes `revision` current in `workdir` and returns its directory.
/// Without an RPC when it is already current or already built; otherwise
/// pulls it, announcing the current revision (`base_revision`) and its
/// digests (`have`), so the tree travels as a diff against the current one,
/// only new blobs travel, changed files as deltas against their current
/// versions, and builds it with RevisionBuilder. If
/// a file to reuse or patch changed on disk meanwhile (ABORTED, or
/// DATA_LOSS from a delta), pulls once more with an empty `have`.
///
/// `decorate` (may be empty) adds metadata (authorization) and a deadline
/// to the call. Errors: INVALID_ARGUMENT for a malformed revision or tree,
/// the RPC's status (e.g. NOT_FOUND for an unknown revision), DATA_LOSS for
/// corrupt bytes, INTERNAL when the server breaks the protocol, filesystem
/// errors. On error the previous current revision stays.
///
/// Not safe to run concurrently for the same workdir.
absl::StatusOr<std::string> PullRevision(
    tether::v1::AgentGateway::StubInterface& stub, const std::string& workdir,
    const std::string& revision,
    const std::function<void(grpc::ClientContext&)>& decorate);

}  // namespace tether::sync

#endif  // TETHER_SYNC_CODE_PULLER_H_
