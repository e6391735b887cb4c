"""Frames on the worker's socket: a 4-byte little-endian length, then the
message (the agent's side is agent/worker/frame_io.h)."""

import os


def serve(fd, handle):
    """Answers each frame on `fd` with handle(frame) until the agent closes
    it. Raises EOFError if the stream ends inside a frame."""
    read = os.read
    write = os.write
    writev = os.writev
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
        response = handle(frame)
        header = len(response).to_bytes(4, "little")
        # One syscall and no copy of a large response in the common case.
        written = writev(fd, (header, response))
        if written < 4 + len(response):
            rest = memoryview(header + response)[written:]
            while rest:
                rest = rest[write(fd, rest) :]
