"""What the package's tests share: the agent's side of the messages, a user
module to load, and where the built zipapp is. Not shipped in the zipapp."""

import os
import tempfile
import textwrap

from _tether_runner.messages import CODEC_JSON
from _tether_runner.wire import decode_fields, decode_str, encode_len, encode_uint

# The zipapp the agent runs (//agent/python:tether_runner.pyz, a data
# dependency of the tests that run it).
ZIPAPP = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tether_runner.pyz"
)

MODULE = textwrap.dedent(
    """
    import sys

    def add(a, b=0):
        print("adding", a, b)
        print("to stderr", file=sys.stderr)
        return a + b

    def boom():
        raise ValueError("no good")

    def echo_bytes(data):
        return data

    def give_set():
        return {1, 2}

    class Custom(Exception):
        pass

    def custom():
        raise Custom("custom!")

    class Counter:
        def __init__(self, start=0):
            self.n = start

        def increment(self, by=1):
            self.n += by
            return self.n

        def _secret(self):
            return 42

    async def later(x):
        return x * 2
    """
)


def temp_dir():
    return tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))


def write_files(root, files):
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(textwrap.dedent(text))


def load_request(rid, root, module, name, init_json="", preload=()):
    body = (
        encode_len(1, root.encode())
        + encode_len(2, module.encode())
        + encode_len(3, name.encode())
        + (encode_len(4, init_json.encode()) if init_json else b"")
        + b"".join(encode_len(5, p.encode()) for p in preload)
    )
    return encode_uint(1, rid) + encode_len(2, body)


def invoke_request(
    rid, method="", codec=CODEC_JSON, payload=b"", request_id="", logs=False, stream_credit=0
):
    body = encode_len(1, method.encode()) + encode_uint(2, codec) + encode_len(3, payload)
    if request_id:
        body += encode_len(4, request_id.encode())
    if logs:
        body += encode_uint(5, 1)
    frame = encode_uint(1, rid) + encode_len(3, body)
    if stream_credit:
        frame += encode_uint(6, stream_credit)
    return frame


def cancel_request(rid):
    return encode_uint(1, rid) + encode_len(4, b"")


def credit_request(rid, items):
    return encode_uint(1, rid) + encode_len(5, encode_uint(1, items))


def decode_log_line(data):
    """LogLine -> dict(stream, text, request_id, level, time)."""
    out = {"stream": 0, "text": "", "request_id": "", "level": "", "time": None}
    for number, value in decode_fields(data):
        if number == 1:
            out["stream"] = value
        elif number == 2:
            out["text"] = decode_str(value)
        elif number == 3:
            out["request_id"] = decode_str(value)
        elif number == 5:
            fields = dict(decode_fields(value))
            out["time"] = fields.get(1, 0) + fields.get(2, 0) / 1e9
        elif number == 6:
            out["level"] = decode_str(value)
    return out


def decode_response(data):
    """WorkerResponse -> dict(id, kind, loaded, payload, error, logs, item,
    log); kind is "loaded", "result", "item", "log" or "cancelled"."""
    out = {
        "id": 0,
        "kind": None,
        "loaded": False,
        "payload": None,
        "error": None,
        "logs": [],
        "item": None,
        "log": None,
    }
    for number, value in decode_fields(data):
        if number == 1:
            out["id"] = value
        elif number == 4:
            out["kind"], out["item"] = "item", bytes(value)
        elif number == 5:
            out["kind"], out["log"] = "log", decode_log_line(value)
        elif number == 6:
            out["kind"] = "cancelled"
        elif number == 2:
            out["kind"] = "loaded"
            out["loaded"] = True
        elif number == 3:
            out["kind"] = "result"
            for n, v in decode_fields(value):
                if n == 2:
                    out["payload"] = bytes(v)
                elif n == 3:
                    out["error"] = decode_remote_error(v)
                elif n == 4:
                    fields = dict(decode_fields(v))
                    out["logs"].append((fields.get(1, 0), decode_str(fields.get(2, b""))))
    return out


def decode_remote_error(data):
    """RemoteError -> (type, message, traceback)."""
    fields = dict(decode_fields(data))
    return tuple(decode_str(fields.get(k, b"")) for k in (1, 2, 3))


def decode_zygote_response(data):
    """ZygoteResponse -> dict(id, kind, fields...)."""
    out = {"id": 0, "kind": None}
    for number, value in decode_fields(data):
        if number == 1:
            out["id"] = value
        elif number == 2:
            out["kind"] = "preloaded"
            out.update({"import_micros": 0, "threads": 0})
            for n, v in decode_fields(value):
                out[{1: "import_micros", 2: "threads"}[n]] = v
        elif number == 3:
            out["kind"] = "forked"
            out["pid"] = dict(decode_fields(value)).get(1, 0)
        elif number == 4:
            out["kind"] = "exited"
            fields = dict(decode_fields(value))
            out["pid"], out["wait_status"] = fields.get(1, 0), fields.get(2, 0)
        elif number == 5:
            out["kind"] = "error"
            out["error"] = decode_remote_error(value)
    return out


class FrameSocket:
    """The agent's end of a worker's socket."""

    def __init__(self, sock):
        self.sock = sock
        self._reader = sock.makefile("rb")

    def send(self, frame):
        self.sock.sendall(len(frame).to_bytes(4, "little") + frame)

    def receive(self):
        """The next response, as decode_response; skips live lines printed
        outside calls (id 0)."""
        while True:
            size = int.from_bytes(self._reader.read(4), "little")
            reply = decode_response(self._reader.read(size))
            if reply["id"] != 0:
                return reply

    def roundtrip(self, frame):
        self.send(frame)
        return self.receive()

    def close(self):
        self._reader.close()
        self.sock.close()
