"""The command line (see the package docstring).

Also the zipapp's top-level __main__.py (a copy, see BUILD.bazel), so it
imports the package by absolute name only.
"""

import os
import sys

from _tether_runner import runner, zygote
from _tether_runner.frame_io import serve

DEFAULT_FD = 3


def main(argv):
    is_zygote = len(argv) > 1 and argv[1] == "--zygote"
    if is_zygote:
        argv = argv[1:]
    fd = int(argv[1]) if len(argv) > 1 else DEFAULT_FD
    max_frame_bytes = int(argv[2]) if len(argv) > 2 else runner.DEFAULT_MAX_FRAME_BYTES
    # Subprocesses of user code must not hold the agent's socket open.
    os.set_inheritable(fd, False)
    # Output outside calls (imports, background threads) reaches the agent's
    # log promptly rather than when a block buffer fills.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    # The zipapp (or the directory) holding this package is sys.path[0]; user
    # modules must not resolve against it. Every module of the package is
    # imported by now, so none needs it any more.
    home = os.path.dirname(os.path.dirname(os.path.abspath(runner.__file__)))
    if sys.path and os.path.abspath(sys.path[0] or ".") == home:
        del sys.path[0]
    if is_zygote:
        return zygote.zygote_main(fd, max_frame_bytes)
    try:
        serve(fd, runner.Runner(max_frame_bytes))
    except (BrokenPipeError, ConnectionResetError):
        pass  # The agent is gone; nothing to tell.
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
