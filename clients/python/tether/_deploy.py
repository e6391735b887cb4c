"""Deploying a function or class: sync the working directory with the
`tether` CLI (the product's sync: index cache, deltas, ignore rules), then
`ControlPlane.Deploy` the revision with the spec built here."""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from tether._caller import Connection
from tether._compute import Compute
from tether._config import cli_path
from tether._errors import DeployError, InvalidSpec, TetherError, Unreachable
from tether.v1 import control_plane_pb2, service_pb2

_log = logging.getLogger("tether")

# `tether` exit codes (README): 4 tetherd unreachable.
_EXIT_UNREACHABLE = 4


@dataclasses.dataclass(frozen=True)
class SyncStats:
    """What `tether sync -o json` reported for the upload."""

    revision: str
    # File entries in the tree.
    files: int
    # Files tetherd lacked, and how many of them went as deltas.
    files_sent: int
    deltas_sent: int
    # File bytes and delta bytes tetherd stored: what changed.
    payload_bytes: int
    # Every message sent, manifest included.
    bytes_sent: int


@dataclasses.dataclass(frozen=True)
class Deployment:
    """A deployed service: its name, revision and the upload that made it."""

    service: str
    revision: str
    sync: SyncStats
    spec: service_pb2.ServiceSpec


def service_name(obj: Any) -> str:
    """A function's or class's name as a service name: "load_model" ->
    "load-model" (RFC 1035 labels have no underscores or capitals)."""
    return re.sub(r"[^a-z0-9-]", "-", obj.__name__.lower()).strip("-")


def callable_spec(
    obj: Any,
    root: Path,
    init_args: Sequence[Any] = (),
    init_kwargs: Mapping[str, Any] | None = None,
) -> service_pb2.Callable:
    """The `callable:` of `obj`, a module-level function or class of a
    module under `root` (the directory that gets synced)."""
    if "." in obj.__qualname__:
        raise ValueError(
            f"{obj.__qualname__} is not defined at module level: tether can only deploy "
            "module-level functions and classes, which a worker can import by name"
        )
    try:
        # As imported, symlinks kept: the module's path inside the tree.
        source = Path(os.path.abspath(inspect.getfile(obj)))
        relative = source.relative_to(root)
    except (TypeError, ValueError):
        raise ValueError(
            f"{obj.__qualname__} is not defined in a file under the working directory {root}, "
            "which is the code that gets synced: run from the directory that holds its module"
        ) from None
    parts = relative.with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    spec = service_pb2.Callable(
        runtime=service_pb2.RUNTIME_PYTHON, module=".".join(parts), name=obj.__name__
    )
    try:
        spec.init_args.extend(list(init_args))
        spec.init_kwargs.update(dict(init_kwargs or {}))
    except (TypeError, ValueError) as e:
        raise TypeError(f"init_args and init_kwargs must be JSON values: {e}") from None
    return spec


def sync(connection: Connection, root: Path) -> SyncStats:
    """Uploads `root` with `tether sync`: a redeploy sends only what
    changed. Raises Unreachable or DeployError with the CLI's message."""
    settings = connection.settings
    command = [cli_path(), "sync", str(root), "-o", "json", "--endpoint", settings.address]
    # The token goes in the environment: argv is visible to every user.
    env = dict(os.environ, TETHER_TOKEN=settings.token, **settings.tls())
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = done.stderr.strip().removeprefix("error: ")
        cls = Unreachable if done.returncode == _EXIT_UNREACHABLE else DeployError
        raise cls(f"syncing {root}: {message}")
    out = json.loads(done.stdout)
    stats = SyncStats(
        revision=out["revision"],
        files=out["files"],
        files_sent=out["filesSent"],
        deltas_sent=out["deltasSent"],
        payload_bytes=out["payloadBytes"],
        bytes_sent=out["bytesSent"],
    )
    _log.info(
        "synced %s: %d files, sent %d (%d bytes)",
        root,
        stats.files,
        stats.files_sent,
        stats.payload_bytes,
    )
    return stats


def check_access(connection: Connection, service: str) -> None:
    """One cheap RPC, so that a wrong address or token fails before
    anything is uploaded, with its own type."""
    try:
        connection.tetherd.GetService(
            control_plane_pb2.GetServiceRequest(name=service),
            timeout=30,
            metadata=connection.metadata,
        )
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.NOT_FOUND:  # A first deploy.
            raise connection.rpc_error(e, f"deploying {service}") from None


def deploy(
    connection: Connection,
    name: str,
    compute: Compute,
    target: service_pb2.Callable,
    root: Path,
    timeout: float,
    namespace: str = "",
) -> Deployment:
    """Syncs `root` and deploys it as service `name` in `namespace` (empty:
    tetherd's default); returns once every
    replica serves it. Raises InvalidSpec naming the field, DeployError
    (e.g. the import failed, with the remote traceback), Unreachable,
    Unauthenticated."""
    if not isinstance(compute, Compute):
        raise TypeError(f"compute: expected a tether.Compute, got a {type(compute).__name__}")
    check_access(connection, name)
    stats = sync(connection, root)
    spec = service_pb2.ServiceSpec(
        name=name, namespace=namespace, compute=compute.to_proto(), callable=target
    )
    request = control_plane_pb2.DeployRequest(spec=spec, revision=stats.revision)
    try:
        events = connection.tetherd.Deploy(request, timeout=timeout, metadata=connection.metadata)
        for event in events:
            _log.info(
                "%s %s %s",
                control_plane_pb2.DeployEvent.Stage.Name(event.stage),
                event.replica,
                event.message,
            )
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise InvalidSpec(e.details(), e.code()) from None
        failure = connection.rpc_error(e, f"deploying {name}")
        if type(failure) is TetherError:  # No more precise type: the deploy failed.
            failure = DeployError(str(failure), failure.code)
        raise failure from None
    return Deployment(name, stats.revision, stats, spec)
