"""Tether's Python client: deploy a function or class and call it like the
local one.

    import tether
    from work import embed, Counter

    remote = tether.fn(embed).to(tether.Compute(cpus="1", memory="2Gi"))
    remote("hello")                      # runs on a replica
    counter = tether.cls(Counter).to(tether.Compute(), init_kwargs={"start": 10})
    counter.increment(2)

tetherd is found as the `tether` CLI finds it ($TETHER_ENDPOINT, else
`tether up`'s endpoint file; token $TETHER_TOKEN), and the working
directory is synced with the CLI ($TETHER_CLI, else `tether` on PATH).
"""

import importlib
import os

# gRPC channels survive fork() only with gRPC's fork support, which grpcio
# reads when first imported (tether._caller refuses clearly otherwise).
# Set for that import only, so processes this one starts do not inherit it.
_FORK_SUPPORT = "GRPC_ENABLE_FORK_SUPPORT"
if _FORK_SUPPORT not in os.environ:
    os.environ[_FORK_SUPPORT] = "1"
    importlib.import_module("grpc")
    del os.environ[_FORK_SUPPORT]

from tether._compute import Compute  # noqa: E402
from tether._deploy import Deployment, SyncStats  # noqa: E402
from tether._errors import (  # noqa: E402
    DeadlineExceeded,
    DeployError,
    InvalidSpec,
    PythonVersionMismatch,
    RemoteError,
    RemoteTraceback,
    TetherError,
    Unauthenticated,
    Unreachable,
)
from tether._remote import Class, Function, RemoteFunction, RemoteObject, cls, fn  # noqa: E402

__all__ = [
    "Class",
    "Compute",
    "DeadlineExceeded",
    "DeployError",
    "Deployment",
    "Function",
    "InvalidSpec",
    "PythonVersionMismatch",
    "RemoteError",
    "RemoteFunction",
    "RemoteObject",
    "RemoteTraceback",
    "SyncStats",
    "TetherError",
    "Unauthenticated",
    "Unreachable",
    "cls",
    "fn",
]
