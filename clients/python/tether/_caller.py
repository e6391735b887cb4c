"""The data plane: calls go straight to a service's agents.

As clients/cpp/direct_caller.h does: a thread follows the service's
endpoints (ControlPlane.WatchEndpoints); each call goes to the ready
replica with the fewest calls outstanding from this process (ties: the one
used last, which keeps a lone caller's agent warm), with the token the
endpoints carry. tetherd's Call/CallStream take the call instead when no
replica is ready (tetherd wakes a service at zero), when the endpoints are
not known yet, or when an agent is UNAVAILABLE (once; for a stream only
before any event came, so a generator never runs twice).

gRPC channels do not survive fork(), so everything here belongs to one
process: `connection()` builds it anew (channels, watch threads) in a
child, and an at-fork hook drops the parent's copy there.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from tether._config import Settings, load_settings
from tether._errors import TetherError, Unreachable, from_rpc_error
from tether.v1 import agent_pb2_grpc, call_pb2, control_plane_pb2, control_plane_pb2_grpc

# Messages to and from agents may be as large as tetherd allows payloads.
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 256 << 20),
    ("grpc.max_send_message_length", 256 << 20),
]
# How long a new caller waits for the first endpoints; calls made before
# they come go through tetherd.
_FIRST_ENDPOINTS_WAIT = 2.0
# `.aio` calls that run at once per process.
_AIO_THREADS = 64
# Redials of a broken watch: 100 ms doubling to 5 s.
_REWATCH_FIRST, _REWATCH_MAX = 0.1, 5.0


class Cancel:
    """Lets another thread (an asyncio task being cancelled) end a call in
    flight. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._call: grpc.Future | None = None
        self._cancelled = False

    def track(self, call: grpc.Future) -> None:
        with self._lock:
            self._call = call
            if self._cancelled:
                call.cancel()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._call is not None:
                self._call.cancel()


class _Replica:
    def __init__(self, name: str, address: str, stub: agent_pb2_grpc.AgentStub) -> None:
        self.name = name
        self.address = address
        self.stub = stub
        # Calls in flight from this process; guarded by ServiceCaller._lock.
        self.outstanding = 0


class _Snapshot:
    """What calls read; replaced whole on every change."""

    def __init__(self, endpoints: control_plane_pb2.Endpoints, replicas: list[_Replica]) -> None:
        self.endpoints = endpoints
        self.replicas = replicas
        self.metadata = (("authorization", "Bearer " + endpoints.token),)


def _credentials(ca_file: str, cert_file: str = "", key_file: str = "") -> grpc.ChannelCredentials | None:
    """TLS credentials from PEM files; None for plaintext (no CA)."""
    if not ca_file:
        return None
    try:
        read = lambda name: Path(name).read_bytes() if name else None  # noqa: E731
        return grpc.ssl_channel_credentials(
            root_certificates=read(ca_file),
            private_key=read(key_file),
            certificate_chain=read(cert_file),
        )
    except OSError as error:
        raise TetherError(f"cannot read TLS file {error.filename}: {error.strerror}") from None


def _channel(address: str, credentials: grpc.ChannelCredentials | None, options: list) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, credentials, options=options)


class Connection:
    """This process's channels: tetherd's and one per agent address."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid = os.getpid()
        tetherd_credentials = _credentials(settings.ca_file, settings.cert_file, settings.key_file)
        self._channel = _channel(settings.address, tetherd_credentials, _CHANNEL_OPTIONS)
        # Agents are checked against the same CA; they ask for no client
        # certificate (callers prove themselves with the service token).
        self._agent_credentials = _credentials(settings.ca_file)
        self.tetherd = control_plane_pb2_grpc.ControlPlaneStub(self._channel)
        self.metadata: tuple[tuple[str, str], ...] = (
            (("authorization", "Bearer " + settings.token),) if settings.token else ()
        )
        self._lock = threading.Lock()
        self._agents: dict[str, agent_pb2_grpc.AgentStub] = {}
        self._callers: dict[str, ServiceCaller] = {}
        # Runs `.aio` calls; threads are made as needed.
        self.pool = concurrent.futures.ThreadPoolExecutor(
            _AIO_THREADS, thread_name_prefix="tether-aio"
        )

    def agent(self, address: str, tls_server_name: str) -> agent_pb2_grpc.AgentStub | None:
        """The stub of the agent at `address`; TLS checked under
        `tls_server_name` unless empty. None when the agents serve TLS and
        there is no CA to check them with: calls go through tetherd."""
        options = _CHANNEL_OPTIONS
        credentials = None
        if tls_server_name:
            if self._agent_credentials is None:
                return None
            credentials = self._agent_credentials
            options = options + [("grpc.ssl_target_name_override", tls_server_name)]
        key = f"{address}|{tls_server_name}"
        with self._lock:
            if key not in self._agents:
                # Channels connect lazily: making one does not block.
                self._agents[key] = agent_pb2_grpc.AgentStub(_channel(address, credentials, options))
            return self._agents[key]

    def caller(self, service: str) -> ServiceCaller:
        """The caller of `service`; a new one first waits briefly for the
        endpoints (calls before they come go through tetherd)."""
        with self._lock:
            caller = self._callers.get(service)
            if caller is not None:
                return caller
            caller = self._callers[service] = ServiceCaller(self, service)
        caller.wait_for_endpoints(_FIRST_ENDPOINTS_WAIT)
        return caller

    def rpc_error(self, error: grpc.RpcError, doing: str) -> TetherError:
        """from_rpc_error, saying where tetherd is when it cannot be reached."""
        failure = from_rpc_error(error, doing)
        if isinstance(failure, Unreachable):
            return Unreachable(
                f"{doing}: cannot reach tetherd at {self.settings.address} "
                f"(from {self.settings.source}): {error.details()} (start it with 'tether up')",
                failure.code,
            )
        return failure


class ServiceCaller:
    """Calls one service's replicas, directly when it can. Thread-safe; one
    daemon thread of its own follows the endpoints."""

    def __init__(self, connection: Connection, service: str) -> None:
        self._connection = connection
        self.service = service
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._last_pick = 0
        # Set once endpoints came or the first watch ended without them.
        self._known = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name=f"tether-endpoints-{service}", daemon=True
        )
        self._thread.start()

    def wait_for_endpoints(self, seconds: float) -> None:
        self._known.wait(seconds)

    def endpoints(self) -> control_plane_pb2.Endpoints | None:
        """The endpoints last received; None before the first."""
        snapshot = self._snapshot
        return snapshot.endpoints if snapshot else None

    def _watch(self) -> None:
        request = control_plane_pb2.WatchEndpointsRequest(service=self.service)
        delay = _REWATCH_FIRST
        while True:
            try:
                for endpoints in self._connection.tetherd.WatchEndpoints(
                    request, metadata=self._connection.metadata
                ):
                    self._publish(endpoints)
                    delay = _REWATCH_FIRST
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.NOT_FOUND:
                    # Deleted: calls go to tetherd, which answers NOT_FOUND.
                    self._publish(control_plane_pb2.Endpoints(service=self.service))
            # The last endpoints stay in use while tetherd is away.
            self._known.set()
            time.sleep(delay)
            delay = min(delay * 2, _REWATCH_MAX)

    def _publish(self, endpoints: control_plane_pb2.Endpoints) -> None:
        replicas = []
        with self._lock:
            previous = self._snapshot.replicas if self._snapshot else []
            known = {(r.name, r.address): r for r in previous}
            for endpoint in endpoints.endpoints:
                replica = known.get((endpoint.replica, endpoint.address))
                if replica is None:
                    stub = self._connection.agent(endpoint.address, endpoints.tls_server_name)
                    if stub is None:
                        continue
                    replica = _Replica(endpoint.replica, endpoint.address, stub)
                replicas.append(replica)
            self._snapshot = _Snapshot(endpoints, replicas)
        self._known.set()

    def _pick(self) -> tuple[_Snapshot, _Replica] | None:
        """The replica with the fewest calls outstanding, counted as taken."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or not snapshot.replicas:
                return None
            replicas = snapshot.replicas
            start = self._last_pick % len(replicas)
            best = start
            for i in range(1, len(replicas)):
                index = (start + i) % len(replicas)
                if replicas[index].outstanding < replicas[best].outstanding:
                    best = index
            self._last_pick = best
            replicas[best].outstanding += 1
            return snapshot, replicas[best]

    def _release(self, replica: _Replica) -> None:
        with self._lock:
            replica.outstanding -= 1

    def call(
        self, request: control_plane_pb2.CallRequest, deadline: float | None, cancel: Cancel | None
    ) -> call_pb2.CallResult:
        """Runs `request` by `deadline` (time.monotonic()); raises
        TetherError when Tether cannot run it."""
        picked = self._pick()
        if picked is not None:
            snapshot, replica = picked
            try:
                invoke = _invoke_request(request)
                metadata = snapshot.metadata
                result = _unary(replica.stub.Invoke, invoke, deadline, metadata, cancel).result
                if not result.replica:
                    result.replica = replica.name
                return result
            except grpc.RpcError as e:
                # Unreachable (a stale address): tetherd can route it, or wake the service.
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    raise self._connection.rpc_error(e, f"calling {self.service}") from None
            finally:
                self._release(replica)
        try:
            call = self._connection.tetherd.Call
            return _unary(call, request, deadline, self._connection.metadata, cancel).results[0]
        except grpc.RpcError as e:
            raise self._connection.rpc_error(e, f"calling {self.service}") from None

    def stream(
        self, request: control_plane_pb2.CallRequest, deadline: float | None
    ) -> Iterator[call_pb2.InvokeEvent]:
        """The events of a streamed call, in order; closing the iterator
        cancels the call."""
        picked = self._pick()
        if picked is not None:
            snapshot, replica = picked
            received = False
            call: Any = None
            try:
                call = replica.stub.InvokeStream(
                    _invoke_request(request),
                    timeout=_remaining(deadline),
                    metadata=snapshot.metadata,
                )
                for event in call:
                    received = True
                    yield event
                return
            except grpc.RpcError as e:
                # Before any event tetherd can still run it; after, it would run twice.
                if received or e.code() != grpc.StatusCode.UNAVAILABLE:
                    raise self._connection.rpc_error(e, f"calling {self.service}") from None
            finally:
                if call is not None:
                    call.cancel()
                self._release(replica)
        call = self._connection.tetherd.CallStream(
            request, timeout=_remaining(deadline), metadata=self._connection.metadata
        )
        try:
            yield from call
        except grpc.RpcError as e:
            raise self._connection.rpc_error(e, f"calling {self.service}") from None
        finally:
            call.cancel()


def _unary(
    method: grpc.UnaryUnaryMultiCallable,
    request: Any,
    deadline: float | None,
    metadata: tuple[tuple[str, str], ...],
    cancel: Cancel | None,
) -> Any:
    """Calls `method` on this thread; through a future (a hand-off to gRPC's
    thread, which costs latency) only when another thread may cancel it."""
    if cancel is None:
        return method(request, timeout=_remaining(deadline), metadata=metadata)
    future = method.future(request, timeout=_remaining(deadline), metadata=metadata)
    cancel.track(future)
    return future.result()


def _invoke_request(request: control_plane_pb2.CallRequest) -> call_pb2.InvokeRequest:
    return call_pb2.InvokeRequest(
        method=request.method,
        codec=request.codec,
        payload=request.payload,
        request_id=request.request_id,
        logs=request.logs,
    )


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


# This process's connection; rebuilt when os.getpid() changes.
_lock = threading.Lock()
_connection: Connection | None = None
# gRPC was used before a fork() without fork support: unusable in the child.
_broken_by_fork = False


def connection() -> Connection:
    """This process's Connection, made on first use (and anew after fork)."""
    global _connection
    with _lock:
        if _broken_by_fork:
            raise TetherError(
                "gRPC was imported before tether without GRPC_ENABLE_FORK_SUPPORT=1 and used "
                "before fork(), so it cannot be used in this child process: import tether "
                "before grpc, or set GRPC_ENABLE_FORK_SUPPORT=1"
            )
        if _connection is None or _connection.pid != os.getpid():
            _connection = Connection(load_settings())
        return _connection


def _after_fork_in_child() -> None:
    global _connection, _broken_by_fork, _lock
    # Another thread may have held the lock; it did not come along.
    _lock = threading.Lock()
    # Nor did the watch threads, and the channels belong to the parent.
    used = _connection is not None
    _connection = None
    _broken_by_fork = used and not _fork_support_enabled()


def _fork_support_enabled() -> bool:
    from grpc._cython import cygrpc  # noqa: PLC0415 (no public API says it)

    return bool(cygrpc.is_fork_support_enabled())


os.register_at_fork(after_in_child=_after_fork_in_child)
