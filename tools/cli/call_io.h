#ifndef TETHER_TOOLS_CLI_CALL_IO_H_
#define TETHER_TOOLS_CLI_CALL_IO_H_

// `tether call` without the I/O: flags → CallRequest, CallResponse → text.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "tether/v1/call.pb.h"
#include "tether/v1/control_plane.pb.h"

namespace tether::cli {

/// What the user asked `tether call` to send. At most one payload is set.
struct CallInput {
  std::string service;
  std::string method;
  /// --json: {"args": [...], "kwargs": {...}} (either key optional).
  std::optional<std::string> json;
  /// Contents of --raw-file / --pickle-file.
  std::optional<std::string> raw;
  std::optional<std::string> pickle;
  /// --all, or --replica NAME.
  bool all = false;
  std::string replica;
};

/// Builds the request: codec from the payload kind (JSON when none is given,
/// with an empty payload meaning no arguments), target from --all/--replica.
/// The --json text is checked but sent verbatim (no number round-trip).
/// INVALID_ARGUMENT naming the flag: several payloads, --all with
/// --replica, JSON that does not parse or is not an object of "args" (a list)
/// and "kwargs" (an object).
absl::StatusOr<tether::v1::CallRequest> BuildCallRequest(
    const CallInput& input);

/// What `tether call` prints and its exit code.
struct CallOutput {
  /// Results: pretty JSON (JSON codec) or the bytes as they are.
  std::string out;
  /// Captured logs as "[replica] line", remote exceptions as tracebacks.
  std::string err;
  /// 0, or 1 when a replica's code raised.
  int exit_code = 0;
};

/// Renders a response. With `per_replica` (fan-out calls) every result is
/// labelled "replica: ..." and exception lines get a "[replica] " prefix.
/// With `json` the whole response is printed in the proto3 JSON mapping
/// (payload base64, logs and errors included) and nothing goes to `err`.
CallOutput RenderCallResponse(const tether::v1::CallResponse& response,
                              tether::v1::Codec codec, bool per_replica,
                              bool json);

/// Renders one event of a streamed call (`tether call --stream/--logs`) as
/// it arrives: an item on its own line (JSON as sent, compact; raw and
/// pickled bytes as they are), a log line as "[replica] text" (logging
/// records with their level) on `err`, dropped lines as a note, and the
/// result last as RenderCallResponse renders one (a returned value, or the
/// remote traceback with exit code 1).
CallOutput RenderInvokeEvent(const tether::v1::InvokeEvent& event,
                             tether::v1::Codec codec);

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_CALL_IO_H_
