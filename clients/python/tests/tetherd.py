"""A real tetherd for the client's tests: its own process on loopback,
port 0, state in a temp dir, found in Bazel's runfiles ($TETHERD)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path


class Tetherd:
    """Starts tetherd; `stop()` ends it (SIGTERM: it stops its agents)."""

    def __init__(self, *flags: str) -> None:
        tmp = os.environ.get("TEST_TMPDIR")
        self.state_dir = Path(tempfile.mkdtemp(prefix="tetherd-", dir=tmp))
        self._log = open(self.state_dir / "tetherd.log", "wb")
        self._process = subprocess.Popen(
            [
                os.environ["TETHERD"],
                "--listen=127.0.0.1:0",
                f"--state_dir={self.state_dir}",
                *flags,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        endpoint_file = self.state_dir / "tetherd.endpoint"
        deadline = time.monotonic() + 30
        while not (endpoint_file.exists() and endpoint_file.read_text().strip()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"tetherd did not start: {self.log()}")
            time.sleep(0.01)
        self.address = endpoint_file.read_text().strip()

    def log(self) -> str:
        return (self.state_dir / "tetherd.log").read_text(errors="replace")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
