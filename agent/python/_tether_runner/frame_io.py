"""Frames on the worker's socket: a 4-byte little-endian length, then the
message (the agent's side is agent/worker/frame_io.h)."""

import collections
import os
import threading

from _tether_runner.messages import decode_request, encode_cancelled_response
from _tether_runner.wire import DecodeError


class FrameWriter:
    """Writes whole frames to a blocking fd; thread-safe (one lock, so
    frames from the call, the reader and background threads never mix)."""

    def __init__(self, fd):
        self._fd = fd
        self._lock = threading.Lock()

    def send(self, body):
        header = len(body).to_bytes(4, "little")
        with self._lock:
            # One syscall and no copy of a large response in the common case.
            written = os.writev(self._fd, (header, body))
            if written < 4 + len(body):
                rest = memoryview(header + body)[written:]
                while rest:
                    rest = rest[os.write(self._fd, rest) :]


def read_frames(fd):
    """Yields each frame's body until the agent closes `fd`. Raises EOFError
    if the stream ends inside a frame."""
    read = os.read
    buf = bytearray()
    while True:
        while len(buf) < 4:
            chunk = read(fd, 1 << 16)
            if not chunk:
                if buf:
                    raise EOFError("end of stream inside a frame header")
                return
            buf += chunk
        size = int.from_bytes(buf[:4], "little")
        end = 4 + size
        while len(buf) < end:
            chunk = read(fd, max(1 << 16, end - len(buf)))
            if not chunk:
                raise EOFError("end of stream inside a frame")
            buf += chunk
        with memoryview(buf) as view:
            frame = bytes(view[4:end])
        del buf[:end]
        yield frame


def serve(fd, runner, streams=True):
    """Serves the worker protocol on `fd` with `runner` until the agent
    closes it; must run in the main thread.

    A reader thread receives the frames while the main thread runs calls,
    so `cancel` and `credit` reach a call in progress (runner.cancel and
    runner.credit); `load` and `invoke` queue up and run one at a time, in
    order, on the main thread. Raises EOFError if the stream ends inside a
    frame, and what writing raised (BrokenPipeError: the agent is gone).
    """
    writer = FrameWriter(fd)
    runner.attach(writer.send, streams)
    work = collections.deque()
    ready = threading.Condition()

    def put(entry):
        with ready:
            work.append(entry)
            ready.notify()

    def read_loop():
        try:
            for frame in read_frames(fd):
                try:
                    rid, kind, body = decode_request(frame)
                except DecodeError:
                    put(("raw", frame))
                    continue
                if kind == "cancel":
                    if runner.cancel(rid) == "queued":
                        writer.send(encode_cancelled_response(rid))
                elif kind == "credit":
                    runner.credit(rid, body)
                else:
                    if kind == "invoke":
                        runner.enqueue(rid)
                    put(("decoded", (rid, kind, body)))
            put(("eof", None))
        except BaseException as e:  # Torn frame, or the agent is gone.
            put(("error", e))

    reader = threading.Thread(target=read_loop, name="tether-reader", daemon=True)
    reader.start()
    while True:
        with ready:
            while not work:
                ready.wait()
            kind, value = work.popleft()
        if kind == "eof":
            return
        if kind == "error":
            if isinstance(value, (BrokenPipeError, ConnectionResetError, EOFError)):
                raise value
            raise EOFError("reading requests: %s" % value)
        if kind == "raw":
            response = runner.handle(value)
        else:
            response = runner.handle_decoded(*value)
        if response is not None:
            writer.send(response)
