"""Where tetherd is and how to reach it: the `tether` CLI's settings.

The endpoint is $TETHER_ENDPOINT, else the address `tether up` wrote to
<state dir>/tetherd.endpoint (state dir: $TETHER_STATE_DIR, else
~/.tether). The bearer token is $TETHER_TOKEN, else, for the state dir's
own tetherd, the one `tether up` wrote to <state dir>/tetherd.token. TLS:
the CA is $TETHER_CA_FILE, else, for the state dir's tetherd,
<state dir>/tls/ca.crt when `tether up --tls` made it; a client
certificate is $TETHER_CERT_FILE and $TETHER_KEY_FILE. The CLI binary (for
code sync) is $TETHER_CLI, else `tether` on $PATH.
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
    # PEM files for TLS: the CA tetherd's (and agents') certificates chain
    # to, and a client certificate and key; empty: plaintext, none.
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    def tls(self) -> dict[str, str]:
        """The TLS files as the CLI's environment variables."""
        return {
            "TETHER_CA_FILE": self.ca_file,
            "TETHER_CERT_FILE": self.cert_file,
            "TETHER_KEY_FILE": self.key_file,
        }


def load_settings() -> Settings:
    """Reads the environment and the endpoint file as `tether` does.
    Unreachable when no endpoint is configured."""
    token = os.environ.get("TETHER_TOKEN", "")
    tls = {
        "ca_file": os.environ.get("TETHER_CA_FILE", ""),
        "cert_file": os.environ.get("TETHER_CERT_FILE", ""),
        "key_file": os.environ.get("TETHER_KEY_FILE", ""),
    }
    if address := os.environ.get("TETHER_ENDPOINT", ""):
        return Settings(address, "$TETHER_ENDPOINT", token, **tls)
    state_dir = Path(os.environ.get("TETHER_STATE_DIR") or str(Path.home() / ".tether"))
    endpoint_file = state_dir / "tetherd.endpoint"
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
    # What `tether up` left for its own tetherd, never sent to another one.
    if not token:
        token = _first_token(state_dir / "tetherd.token")
    own_ca = state_dir / "tls" / "ca.crt"
    if not tls["ca_file"] and own_ca.is_file():
        tls["ca_file"] = str(own_ca)
    return Settings(address, str(endpoint_file), token, **tls)


def _first_token(path: Path) -> str:
    """The first token of a token file (tetherd's --api_tokens_file)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            return line.split()[0]
    return ""


def cli_path() -> str:
    """The `tether` binary that syncs code: $TETHER_CLI, else PATH."""
    if path := os.environ.get("TETHER_CLI"):
        return path
    if path := shutil.which("tether"):
        return path
    raise TetherError(
        "cannot find the tether CLI, which syncs the code: set $TETHER_CLI or put tether on PATH"
    )
