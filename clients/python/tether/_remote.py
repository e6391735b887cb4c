"""`tether.fn(f).to(compute)` and `tether.cls(C).to(compute)`: deploy, then
call the result like the local function or object."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from tether import _codec
from tether._caller import Cancel, ServiceCaller, connection
from tether._compute import Compute
from tether._deploy import Deployment, callable_spec, deploy, service_name
from tether._errors import raise_remote
from tether.v1 import call_pb2, control_plane_pb2

T = TypeVar("T")

# How many calls `map` keeps in flight unless told.
DEFAULT_MAX_IN_FLIGHT = 16
# How long `to` waits for a deploy to finish unless told (as `tether deploy`).
DEFAULT_DEPLOY_TIMEOUT = 15 * 60.0


class RemoteFunction:
    """A deployed function, or one method of a deployed class: call it as
    the local one. Thread-safe; usable in a fork()ed child."""

    def __init__(
        self, deployment: Deployment, codec: _codec.Codec, timeout: float | None, method: str = ""
    ) -> None:
        self.deployment = deployment
        self._codec = codec
        self._timeout = timeout
        self._method = method

    def with_timeout(self, seconds: float | None) -> RemoteFunction:
        """The same remote with another per-call timeout (None: none). A
        call past it raises tether.DeadlineExceeded (a TimeoutError) and the
        remote code is interrupted."""
        return RemoteFunction(self.deployment, self._codec, seconds, self._method)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(args, kwargs, None)

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        """`await remote.aio(x)`: the call on a thread of this process's
        pool; cancelling the awaiting task cancels the remote call."""
        cancel = Cancel()
        pool = connection().pool
        future = asyncio.get_running_loop().run_in_executor(pool, self._call, args, kwargs, cancel)
        try:
            return await future
        except asyncio.CancelledError:
            cancel.cancel()
            raise

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """The items a remote generator yields, as it yields them (a slow
        reader pauses the generator; leaving the loop cancels it). A
        function that returns instead yields its return value once."""
        caller, request = self._prepare(args, kwargs)
        events = caller.stream(request, self._deadline())
        try:
            for event in events:
                kind = event.WhichOneof("kind")
                if kind == "items":
                    for item in event.items.item:
                        yield self._codec.decode(item)
                elif kind == "result":
                    if event.result.HasField("error"):
                        raise_remote(event.result.error)
                    if event.result.payload:
                        yield self._codec.decode(event.result.payload)
        finally:
            events.close()

    def map(
        self, *iterables: Iterable[Any], max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    ) -> Iterator[Any]:
        """Like the built-in map: `remote(*args)` for each tuple of the
        iterables' items, results in input order. At most `max_in_flight`
        calls run at once and inputs are read only as calls finish. When a
        call raises, its exception comes at its place and the calls in
        flight are cancelled; when an input iterator raises, the results of
        the inputs before it come first, then its exception."""
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight: must be at least 1, got {max_in_flight}")
        return self._map(zip(*iterables), max_in_flight)

    def _map(self, inputs: Iterator[tuple[Any, ...]], limit: int) -> Iterator[Any]:
        pool = concurrent.futures.ThreadPoolExecutor(limit, thread_name_prefix="tether-map")
        pending: collections.deque[tuple[concurrent.futures.Future[Any], Cancel]]
        pending = collections.deque()
        input_error: Exception | None = None
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < limit:
                    try:
                        args = next(inputs)
                    except StopIteration:
                        exhausted = True
                    except Exception as e:
                        exhausted, input_error = True, e
                    else:
                        cancel = Cancel()
                        pending.append((pool.submit(self._call, args, {}, cancel), cancel))
                if not pending:
                    break
                future, _ = pending.popleft()
                yield future.result()
            if input_error is not None:
                raise input_error
        finally:
            for future, cancel in pending:
                future.cancel()
                cancel.cancel()
            pool.shutdown(wait=False)

    def _deadline(self) -> float | None:
        return None if self._timeout is None else time.monotonic() + self._timeout

    def _prepare(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[ServiceCaller, control_plane_pb2.CallRequest]:
        caller = connection().caller(self.deployment.service)
        _codec.check_python(self.deployment.service, self._codec, caller.endpoints())
        request = control_plane_pb2.CallRequest(
            service=self.deployment.service,
            method=self._method,
            codec=self._codec.value,
            payload=self._codec.encode(args, kwargs),
        )
        return caller, request

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any], cancel: Cancel | None) -> Any:
        caller, request = self._prepare(args, kwargs)
        result: call_pb2.CallResult = caller.call(request, self._deadline(), cancel)
        if result.HasField("error"):
            raise_remote(result.error)
        return self._codec.decode(result.payload)

    def __repr__(self) -> str:
        method = f".{self._method}" if self._method else ""
        return f"<tether remote {self.deployment.service}{method} ({self._codec})>"


class RemoteObject:
    """A deployed class's instances (one per worker, built with init_args
    and init_kwargs): `remote.method(x)` calls that method on one of them,
    and `remote.method` has `.aio`, `.stream` and `.map` as a function does."""

    def __init__(
        self, cls: type, deployment: Deployment, codec: _codec.Codec, timeout: float | None
    ) -> None:
        self._cls = cls
        self.deployment = deployment
        self._codec = codec
        self._timeout = timeout

    def __getattr__(self, name: str) -> RemoteFunction:
        if name.startswith("_") or not callable(getattr(self._cls, name, None)):
            raise AttributeError(f"{self._cls.__name__} has no public method {name!r}")
        return RemoteFunction(self.deployment, self._codec, self._timeout, method=name)

    def with_timeout(self, seconds: float | None) -> RemoteObject:
        """The same remote object with another per-call timeout."""
        return RemoteObject(self._cls, self.deployment, self._codec, seconds)

    def __repr__(self) -> str:
        return f"<tether remote {self.deployment.service} ({self._cls.__name__}, {self._codec})>"


F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class _Options:
    name: str | None
    namespace: str | None
    codec: str | None
    timeout: float | None
    deploy_timeout: float


class Function(Generic[F]):
    """`tether.fn(func)`; `.to(compute)` deploys it."""

    def __init__(self, func: F) -> None:
        if isinstance(func, type) or not callable(func):
            raise TypeError(f"tether.fn takes a function, not {func!r} (tether.cls takes classes)")
        self._func = func

    def to(
        self,
        compute: Compute,
        *,
        name: str | None = None,
        namespace: str | None = None,
        codec: str | None = None,
        timeout: float | None = None,
        deploy_timeout: float = DEFAULT_DEPLOY_TIMEOUT,
    ) -> RemoteFunction:
        """Syncs the working directory (only what changed since the last
        sync), deploys the function as service `name` (default: its name,
        "_" as "-") in `namespace` (default: tetherd's) and returns it
        ready to call. `codec`: "json" or
        "pickle" (default: pickle when compute.allowed_serialization lists
        it); `timeout`: per call, in seconds."""
        options = _Options(name, namespace, codec, timeout, deploy_timeout)
        spec = callable_spec(self._func, _root())
        deployment, chosen = _deploy(self._func, compute, options, spec)
        return RemoteFunction(deployment, chosen, timeout)


class Class(Generic[T]):
    """`tether.cls(Class)`; `.to(compute, init_args=..., init_kwargs=...)`
    deploys it."""

    def __init__(self, cls: type[T]) -> None:
        if not isinstance(cls, type):
            raise TypeError(f"tether.cls takes a class, not {cls!r} (tether.fn takes functions)")
        self._cls = cls

    def to(
        self,
        compute: Compute,
        *,
        init_args: Sequence[Any] = (),
        init_kwargs: Mapping[str, Any] | None = None,
        name: str | None = None,
        namespace: str | None = None,
        codec: str | None = None,
        timeout: float | None = None,
        deploy_timeout: float = DEFAULT_DEPLOY_TIMEOUT,
    ) -> RemoteObject:
        """As Function.to; each worker builds one instance with
        `Class(*init_args, **init_kwargs)` (JSON values), which keeps its
        state between calls."""
        options = _Options(name, namespace, codec, timeout, deploy_timeout)
        spec = callable_spec(self._cls, _root(), init_args, init_kwargs)
        deployment, chosen = _deploy(self._cls, compute, options, spec)
        return RemoteObject(self._cls, deployment, chosen, timeout)


def fn(func: F) -> Function[F]:
    """Wraps a module-level function for deploying: `tether.fn(f).to(compute)`."""
    return Function(func)


def cls(klass: type[T]) -> Class[T]:
    """Wraps a module-level class for deploying: `tether.cls(C).to(compute)`."""
    return Class(klass)


def _root() -> Path:
    """The directory that is synced: the caller's working directory."""
    return Path.cwd()


def _deploy(
    obj: Any, compute: Compute, options: _Options, spec: Any
) -> tuple[Deployment, _codec.Codec]:
    # A codec the service cannot take fails before anything is uploaded.
    chosen = _codec.choose(list(compute.to_proto().allowed_serialization), options.codec)
    conn = connection()
    name = options.name or service_name(obj)
    deployment = deploy(
        conn, name, compute, spec, _root(), options.deploy_timeout, options.namespace or ""
    )
    _codec.check_python(name, chosen, conn.caller(name).endpoints())
    return deployment, chosen

