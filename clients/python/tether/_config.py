"""Where tetherd is and how to reach it: the `tether` CLI's settings.

The endpoint is $TETHER_ENDPOINT, else the address `tether up` wrote to
<state dir>/tetherd.endpoint (state dir: $TETHER_STATE_DIR, else
~/.tether); the bearer token is $TETHER_TOKEN. The CLI binary (for code
sync) is $TETHER_CLI, else `tether` on $PATH.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from tether._errors import TetherError, Unreachable


@dataclasses.dataclass(frozen=True)
class Settings:
    """How this process reaches tetherd."""

    # "host:port" or any gRPC target.
    address: str
    # Where `address` came from, for messages.
    source: str
    # Bearer token for tetherd's API; empty: none.
    token: str


def load_settings() -> Settings:
    """Reads the environment and the endpoint file as `tether` does.
    Unreachable when no endpoint is configured."""
    token = os.environ.get("TETHER_TOKEN", "")
    if address := os.environ.get("TETHER_ENDPOINT", ""):
        return Settings(address, "$TETHER_ENDPOINT", token)
    state_dir = os.environ.get("TETHER_STATE_DIR") or str(Path.home() / ".tether")
    endpoint_file = Path(state_dir) / "tetherd.endpoint"
    try:
        address = endpoint_file.read_text().strip()
    except FileNotFoundError:
        raise Unreachable(
            f"cannot reach tetherd: no $TETHER_ENDPOINT and no {endpoint_file} "
            "(start it with 'tether up')"
        ) from None
    if not address:
        raise Unreachable(
            f"cannot reach tetherd: {endpoint_file} is empty (start it with 'tether up')"
        )
    return Settings(address, str(endpoint_file), token)


def cli_path() -> str:
    """The `tether` binary that syncs code: $TETHER_CLI, else PATH."""
    if path := os.environ.get("TETHER_CLI"):
        return path
    if path := shutil.which("tether"):
        return path
    raise TetherError(
        "cannot find the tether CLI, which syncs the code: set $TETHER_CLI or put tether on PATH"
    )
