#ifndef TETHER_AGENT_WORKER_WORKER_PROTOCOL_H_
#define TETHER_AGENT_WORKER_WORKER_PROTOCOL_H_

// Conventions of the agent <-> worker protocol (proto/tether/v1/worker.proto)
// shared by the agent and the workers it runs: agent/python/_tether_runner
// (which repeats them in Python) and agent/native/native_worker_main.cc.
//
// A worker is started as `<worker> FD MAX_FRAME_BYTES` with its end of a
// socketpair on FD (the agent uses fd 3). Frames are frame_io.h's. The agent
// sends `load` once (id kLoadRequestId), then `invoke`s with ids from
// kFirstInvokeId up; the worker handles requests one at a time and answers
// each with the same id. It exits 0 when the agent closes the socket.
// Python workers also take `cancel` and `credit` while a call runs, stream
// `item`s and live `log` lines before a call's result (id 0: a line printed
// outside any call), and answer a cancelled call with `cancelled`.
//
// A Python worker may instead be forked by a zygote (zygote_process.h):
// then its socket is whatever fd the zygote received, and the protocol on
// it is the same.

#include <cstdint>

namespace tether::agent {

inline constexpr int kWorkerFd = 3;
inline constexpr uint64_t kLoadRequestId = 1;
inline constexpr uint64_t kFirstInvokeId = 2;

// RemoteError.type values the workers use for failures that are not user
// code raising. WorkerProcess maps the first two to a status.
//
// The request itself is unusable: bad JSON, not {"args", "kwargs"}, a pickle
// that does not load, a codec the runtime does not support.
// -> INVALID_ARGUMENT.
inline constexpr char kInvalidPayloadType[] = "tether.InvalidPayload";
// A unary call returned a generator: it must be called with InvokeStream.
// -> INVALID_ARGUMENT.
inline constexpr char kStreamRequiredType[] = "tether.StreamRequired";
// The encoded result does not fit in a frame. -> RESOURCE_EXHAUSTED.
inline constexpr char kResultTooLargeType[] = "tether.ResultTooLarge";
// A frame the worker could not decode (a bug on one side).
inline constexpr char kProtocolErrorType[] = "tether.ProtocolError";
// A native library returned an error from tether_init or tether_invoke.
inline constexpr char kNativeErrorType[] = "tether.NativeError";
// A native library could not be opened or lacks a required symbol.
inline constexpr char kNativeLoadErrorType[] = "tether.NativeLoadError";
// The Python interpreter cannot run a zygote (no fork or pidfd support);
// the agent then starts each worker from scratch.
inline constexpr char kZygoteUnsupportedType[] = "tether.ZygoteUnsupported";

}  // namespace tether::agent

#endif  // TETHER_AGENT_WORKER_WORKER_PROTOCOL_H_
