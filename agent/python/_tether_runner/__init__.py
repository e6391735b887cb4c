"""Tether's Python worker: runs one user callable for the tether-agent.

Shipped to agents as one zipapp, agent/python/tether_runner.pyz, and run by
the agent, never by hand:

    python3 tether_runner.pyz [FD [MAX_FRAME_BYTES]]
    python3 tether_runner.pyz --zygote FD MAX_FRAME_BYTES

FD (default 3) is this process's end of a socketpair with the agent.
MAX_FRAME_BYTES (default 64 MiB) caps the frames this process sends; a result
that does not fit is answered with a "tether.ResultTooLarge" error instead.

With --zygote the process is a zygote (zygote.py): it imports a service's
preload modules once, then forks workers that each run the worker protocol
on a socket the agent hands over.

Protocol (proto/tether/v1/worker.proto, agent/worker/worker_protocol.h):
every frame is a 4-byte little-endian length and a serialized WorkerRequest
(agent -> worker) or WorkerResponse (worker -> agent). The first request is
`load`; then come `invoke`s. Requests are handled one at a time, in order,
on the main thread, and every response carries its request's id; a reader
thread takes `cancel` (the call is interrupted, see runner.py) and `credit`
(a streamed call may send more items) meanwhile. A call streams `item`s
and, with `logs` set, live `log` lines before its result; lines printed
outside calls go out as `log` frames with id 0. The process exits 0 when
the agent closes the socket.

Standard library only, and no syntax newer than the oldest Python a user's
image may have: the runner runs on the user's python3, not ours.

The modules, one job each: wire (protobuf wire format), messages (the
messages exchanged with the agent), errors (RemoteError types), capture
(stdout/stderr as LogLines), payload_codecs (json, pickle, raw), runner
(import and call the user's callable), frame_io (length-prefixed frames),
zygote, and __main__ (the command line).

The package is `_tether_runner`, not `tether_runner`: it stays in
sys.modules while user code runs, so its name must not be one a user's
module could have.
"""
