"""The zygote: imports a service's preload modules once, then forks workers.

The agent starts one zygote per (interpreter, preload list, environment).
It imports the preload modules once; each worker is then a fork of it, so
a reload costs a fork and the user's own imports, not `import torch`.

Messages (worker.proto, ZygoteRequest/ZygoteResponse) are single packets
of a SOCK_SEQPACKET socket; a fork request carries the worker's socket and
the reply the worker's pidfd as SCM_RIGHTS.

The zygote stays single-threaded and never runs user calls: it forks from
its main loop, and each child becomes an ordinary worker (Runner + serve)
that never returns into the loop, so workers run the package the zygote
already imported (nothing is re-executed). The zygote is its workers'
parent, so it reaps them and reports each exit with its wait status; the
agent watches them through the pidfds and signals them through the zygote,
which knows whether a pid is still its unreaped child (never a recycled
one).
"""

import array
import os
import select
import signal
import socket
import sys
import time
import traceback

from _tether_runner.errors import PROTOCOL_ERROR, ZYGOTE_UNSUPPORTED, remote_error
from _tether_runner.frame_io import serve
from _tether_runner.messages import (
    decode_zygote_request,
    encode_zygote_error,
    encode_zygote_exited,
    encode_zygote_forked,
    encode_zygote_preloaded,
)
from _tether_runner.runner import Runner, import_module
from _tether_runner.wire import DecodeError, best_effort_id

# Largest packet accepted from the agent (requests are small).
_MAX_REQUEST_PACKET = 1 << 20

PR_SET_PDEATHSIG = 1
# pidfd_open(2) has number 434 on every Linux architecture.
_NR_PIDFD_OPEN = 434


def _libc():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except Exception:  # No ctypes in this Python: no PDEATHSIG (see Zygote.run).
        return None


def _pidfd_open(pid, libc):
    if hasattr(os, "pidfd_open"):  # Python 3.9+.
        return os.pidfd_open(pid)
    if libc is None:
        raise OSError("pidfd_open needs Python 3.9 or ctypes")
    fd = libc.syscall(_NR_PIDFD_OPEN, pid, 0)
    if fd < 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return fd


def _under(path, prefixes):
    return isinstance(path, str) and (path in prefixes or path.startswith(prefixes))


def purge_revision_modules(root):
    """Forgets what was imported from the revision dir `root`.

    A forked worker runs another revision than the one the zygote imported
    its preload modules from: the user's modules of that old revision (and
    its sys.path entry) must not leak into the new one. Modules imported
    from anywhere else (site-packages, PYTHONPATH) stay: sharing those is
    the point of the zygote. Returns the names dropped.
    """
    if not root:
        return []
    bases = {os.path.normpath(root), os.path.realpath(root)}
    prefixes = tuple(bases) + tuple(os.path.join(b, "") for b in bases)
    dropped = []
    for name, module in list(sys.modules.items()):
        paths = [getattr(module, "__file__", None)]
        spec = getattr(module, "__spec__", None)
        if spec is not None and getattr(spec, "has_location", False):
            paths.append(spec.origin)
        try:
            paths.extend(getattr(module, "__path__", None) or ())
        except TypeError:
            pass
        if any(_under(p, prefixes) for p in paths):
            del sys.modules[name]
            dropped.append(name)
    sys.path[:] = [p for p in sys.path if not _under(p, prefixes)]
    for key in list(sys.path_importer_cache):
        if _under(key, prefixes):
            del sys.path_importer_cache[key]
    import importlib
    import linecache

    importlib.invalidate_caches()
    linecache.clearcache()
    return dropped


class Zygote:
    """The zygote's loop; see the module docstring. Single-threaded."""

    def __init__(self, sock, max_frame_bytes):
        self._sock = sock
        self._max_frame_bytes = max_frame_bytes
        self._pid = os.getpid()
        self._libc = _libc()
        self._root = ""
        self._preloaded = False
        self._children = {}  # pid -> the zygote's pidfd of that worker.
        self._by_pidfd = {}  # pidfd -> pid
        self._poll = select.poll()

    def run(self):
        """Serves requests until the agent closes the socket; returns the
        exit code."""
        sock_fd = self._sock.fileno()
        self._poll.register(sock_fd, select.POLLIN)
        try:
            while True:
                for fd, _ in self._poll.poll():
                    if fd != sock_fd:
                        self._reap(self._by_pidfd[fd])
                        continue
                    packet, fds = self._receive()
                    if packet is None:
                        return 0
                    self._handle(packet, fds)
        finally:
            # The agent is gone or done: workers go too. PDEATHSIG would do
            # it, but ctypes (to set it) may be missing.
            for pid in list(self._children):
                self._signal_group(pid, signal.SIGKILL)

    def _receive(self):
        """(packet, [fds]), or (None, []) at end of stream."""
        fds = array.array("i")
        packet, ancdata, flags, _ = self._sock.recvmsg(
            _MAX_REQUEST_PACKET,
            socket.CMSG_SPACE(4 * fds.itemsize),
            getattr(socket, "MSG_CMSG_CLOEXEC", 0),
        )
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        if not packet and not fds:
            return None, []
        if flags & (socket.MSG_TRUNC | getattr(socket, "MSG_CTRUNC", 0)):
            for fd in fds:
                os.close(fd)
            return b"", []  # Answered as a protocol error.
        return packet, list(fds)

    def _send(self, packet, fds=()):
        if fds:
            self._sock.sendmsg(
                [packet], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
            )
        else:
            self._sock.sendmsg([packet])

    def _handle(self, packet, fds):
        try:
            rid, kind, body = decode_zygote_request(packet)
        except DecodeError as e:
            rid, kind = best_effort_id(packet), "bad"
            body = "cannot decode ZygoteRequest: %s" % e
        if kind != "fork":
            for fd in fds:
                os.close(fd)
        if kind == "preload":
            self._preload(rid, *body)
        elif kind == "fork":
            self._fork(rid, fds)
        elif kind == "signal":
            if body[0] in self._children:
                self._signal_group(body[0], body[1])
        else:
            message = body if kind == "bad" else "ZygoteRequest has no known kind"
            self._send(encode_zygote_error(rid, PROTOCOL_ERROR, message))

    def _preload(self, rid, root, modules):
        if self._preloaded:
            self._send(encode_zygote_error(rid, PROTOCOL_ERROR, "preload sent twice"))
            return
        if not hasattr(os, "fork") or (self._libc is None and not hasattr(os, "pidfd_open")):
            self._send(
                encode_zygote_error(
                    rid, ZYGOTE_UNSUPPORTED, "this Python has neither os.pidfd_open nor ctypes"
                )
            )
            return
        start = time.monotonic()
        # As a worker would import them: from the revision dir, first on
        # sys.path, as the working directory.
        if root:
            try:
                os.chdir(root)
            except OSError as e:
                err = remote_error(e, skip_frames=1)
                self._send(encode_zygote_error(rid, err.error_type, err.message, err.tb))
                return
            sys.path.insert(0, root)
            self._root = root
        for name in modules:
            try:
                import_module(name)
            except BaseException as e:
                err = remote_error(e, skip_frames=1)
                self._send(
                    encode_zygote_error(
                        rid, err.error_type, "preloading %r: %s" % (name, err.message), err.tb
                    )
                )
                return
        self._preloaded = True
        threading = sys.modules.get("threading")
        threads = threading.active_count() if threading is not None else 1
        micros = int((time.monotonic() - start) * 1e6)
        self._send(encode_zygote_preloaded(rid, micros, threads))

    def _fork(self, rid, fds):
        if len(fds) != 1 or not self._preloaded:
            for fd in fds:
                os.close(fd)
            why = "fork before preload" if not self._preloaded else "fork needs exactly one fd"
            self._send(encode_zygote_error(rid, PROTOCOL_ERROR, why))
            return
        worker_fd = fds[0]
        # Unflushed output would be written twice, by the zygote and child.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            pid = os.fork()
        except OSError as e:
            os.close(worker_fd)
            self._send(encode_zygote_error(rid, "OSError", "fork: %s" % e))
            return
        if pid == 0:
            self._become_worker(worker_fd)  # Never returns.
        os.close(worker_fd)
        try:
            os.setpgid(pid, pid)  # Also in the child: no window for killpg.
        except OSError:
            pass
        # Before any wait: the child, even if it exited already, is ours
        # until reaped, so this pidfd is the right process.
        pidfd = _pidfd_open(pid, self._libc)
        self._children[pid] = pidfd
        self._by_pidfd[pidfd] = pid
        self._poll.register(pidfd, select.POLLIN)
        self._send(encode_zygote_forked(rid, pid), [pidfd])

    def _become_worker(self, worker_fd):
        """The forked child: becomes a worker on `worker_fd`, then exits."""
        code = 1
        try:
            os.setpgid(0, 0)
            if self._libc is not None:
                # Die with the zygote (which dies with the agent). The zygote
                # is single-threaded, so its one thread is the parent.
                self._libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != self._pid:
                os._exit(1)
            os.close(self._sock.detach())
            for fd in self._children.values():
                os.close(fd)
            self._children.clear()
            os.set_inheritable(worker_fd, False)
            purge_revision_modules(self._root)
            serve(worker_fd, Runner(self._max_frame_bytes))
            code = 0
        except (BrokenPipeError, ConnectionResetError):
            code = 0  # The agent is gone.
        except BaseException:
            traceback.print_exc()
        finally:
            # What a normal interpreter exit of an exec'd worker would run
            # (os._exit skips it); non-daemon threads are not waited for.
            try:
                import atexit

                atexit._run_exitfuncs()
            except BaseException:
                pass
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(code)

    def _signal_group(self, pid, sig):
        try:
            os.killpg(pid, sig)
        except OSError:
            try:
                os.kill(pid, sig)  # It left its group.
            except OSError:
                pass

    def _reap(self, pid):
        pidfd = self._children.pop(pid)
        del self._by_pidfd[pidfd]
        self._poll.unregister(pidfd)
        os.close(pidfd)
        # What the worker left in its group goes with it; the zombie still
        # holds the group id, so this cannot hit a recycled group.
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        _, status = os.waitpid(pid, 0)
        self._send(encode_zygote_exited(pid, status))


def zygote_main(fd, max_frame_bytes):
    sock = socket.socket(fileno=fd)
    sock.set_inheritable(False)
    try:
        return Zygote(sock, max_frame_bytes).run()
    except (BrokenPipeError, ConnectionResetError):
        return 0  # The agent is gone.
