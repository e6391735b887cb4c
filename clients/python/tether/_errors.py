"""What can go wrong, as exception types.

Two families, as in Tether's API: the remote code raised (re-raised as its
own type when this process can import it, else RemoteError), or Tether
could not run the call (TetherError and its subclasses, which also derive
from the built-in a caller would catch: TimeoutError, ConnectionError, ...).
"""

from __future__ import annotations

import builtins
import importlib
from typing import NoReturn

import grpc

from tether.v1 import call_pb2


class TetherError(Exception):
    """Tether itself could not deploy or run a call. `code` is the gRPC
    status when there was one."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class DeployError(TetherError):
    """A deploy failed: the code did not import, a replica did not start..."""


class InvalidSpec(TetherError, ValueError):
    """tetherd refused the spec; the message starts with the field path
    ("compute.replicas: ..."), as for a YAML file."""


class Unreachable(TetherError, ConnectionError):
    """tetherd (and, for direct calls, every replica) cannot be reached."""


class Unauthenticated(TetherError, PermissionError):
    """tetherd refused the token ($TETHER_TOKEN)."""


class DeadlineExceeded(TetherError, TimeoutError):
    """The call did not finish within its timeout; the remote code was
    interrupted."""


class PythonVersionMismatch(TetherError):
    """The service runs another Python major.minor than this process, and
    the call would send pickle, which need not load across versions."""


class RemoteError(Exception):
    """The remote code raised an exception whose type cannot be imported
    here. `type` is its qualified name, `traceback` the remote traceback."""

    def __init__(self, error_type: str, message: str, traceback: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.type = error_type
        self.message = message
        self.traceback = traceback


class RemoteTraceback(Exception):
    """The remote traceback, set as `__cause__` of a re-raised exception so
    that it prints above the local one (as concurrent.futures does)."""

    def __str__(self) -> str:
        return "\n" + self.args[0]


# gRPC statuses that have a more precise type than TetherError.
_STATUS_TYPES: dict[grpc.StatusCode, type[TetherError]] = {
    grpc.StatusCode.UNAVAILABLE: Unreachable,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def from_rpc_error(error: grpc.RpcError, doing: str) -> TetherError:
    """The TetherError for a failed RPC; `doing` says what failed, e.g.
    "calling hello"."""
    code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
    details: str = error.details() or code.name  # type: ignore[attr-defined]
    return _STATUS_TYPES.get(code, TetherError)(f"{doing}: {details}", code)


def _import_type(qualified: str) -> type[Exception] | None:
    """The exception class named `qualified` ("ValueError",
    "pkg.mod.Outer.Error") when it can be imported here, else None."""
    parts = qualified.split(".")
    if len(parts) == 1:
        found = getattr(builtins, qualified, None)
    else:
        found = None
        # The longest importable module prefix, then attributes.
        for split in range(len(parts) - 1, 0, -1):
            try:
                found = importlib.import_module(".".join(parts[:split]))
            except Exception:
                continue
            for name in parts[split:]:
                found = getattr(found, name, None)
            break
    # Never BaseException-only types: a remote SystemExit must not end the caller.
    if isinstance(found, type) and issubclass(found, Exception):
        return found
    return None


def raise_remote(error: call_pb2.RemoteError) -> NoReturn:
    """Raises what the remote code raised: its own type when importable and
    constructible from the message, else RemoteError; the remote traceback
    is the `__cause__` and `remote_traceback` attribute."""
    exc: Exception | None = None
    if cls := _import_type(error.type):
        try:
            exc = cls(error.message)
        except Exception:
            exc = None
    if exc is None:
        exc = RemoteError(error.type, error.message, error.traceback)
    exc.remote_traceback = error.traceback  # type: ignore[attr-defined]
    raise exc from RemoteTraceback(error.traceback)
