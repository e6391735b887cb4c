"""The messages exchanged with the agent, encoded and decoded by hand.

Field numbers from proto/tether/v1/worker.proto, call.proto and
service.proto; wire.py has the wire format.
"""

import sys

from _tether_runner.wire import (
    SMALL_VARINTS,
    decode_fields,
    decode_str,
    encode_len,
    encode_uint,
    encode_varint,
    to_utf8,
)

# Codec enum values (service.proto).
CODEC_UNSPECIFIED = 0
CODEC_JSON = 1
CODEC_PICKLE = 2
CODEC_RAW = 3

# LogLine.Stream values (call.proto).
STREAM_STDOUT = 1
STREAM_STDERR = 2
STREAM_LOGGING = 3

# The zygote's error packets must fit in the socket's send buffer.
MAX_ZYGOTE_TRACEBACK_CHARS = 32 << 10


# WorkerRequest (worker.proto): id = 1, load = 2, invoke = 3, cancel = 4,
#   credit = 5, stream_credit = 6.
# LoadCallable: root = 1, module = 2, name = 3, init_json = 4, preload = 5.
# InvokeRequest (call.proto): method = 1, codec = 2, payload = 3,
#   request_id = 4, logs = 5.
# Credit: items = 1. Cancel: empty.


class Invoke:
    """A decoded `invoke` request."""

    __slots__ = ("method", "codec", "payload", "request_id", "logs", "stream_credit")

    def __init__(self, method="", codec=CODEC_UNSPECIFIED, payload=b"", request_id=""):
        self.method = method
        self.codec = codec
        self.payload = payload
        self.request_id = request_id
        # Send log lines as `log` frames as they are printed.
        self.logs = False
        # Items the call may stream before it needs credit; 0: a unary call.
        self.stream_credit = 0


def decode_load(data):
    """LoadCallable -> dict."""
    load = {"root": "", "module": "", "name": "", "init_json": "", "preload": []}
    for number, value in decode_fields(data):
        if number == 1:
            load["root"] = decode_str(value)
        elif number == 2:
            load["module"] = decode_str(value)
        elif number == 3:
            load["name"] = decode_str(value)
        elif number == 4:
            load["init_json"] = decode_str(value)
        elif number == 5:
            load["preload"].append(decode_str(value))
    return load


def decode_request(frame):
    """WorkerRequest -> (id, kind, body).

    kind is "load" (body: dict from decode_load), "invoke" (body: Invoke),
    "cancel" (body: None), "credit" (body: items) or None (body: None).
    """
    rid = 0
    kind = None
    body = None
    stream_credit = 0
    for number, value in decode_fields(frame):
        if number == 1:
            rid = value
        elif number == 2:
            kind, body = "load", decode_load(value)
        elif number == 3:
            call = Invoke()
            for n, v in decode_fields(value):
                if n == 1:
                    call.method = decode_str(v)
                elif n == 2:
                    call.codec = v
                elif n == 3:
                    call.payload = bytes(v)
                elif n == 4:
                    call.request_id = decode_str(v)
                elif n == 5:
                    call.logs = bool(v)
            kind, body = "invoke", call
        elif number == 4:
            kind, body = "cancel", None
        elif number == 5:
            items = 0
            for n, v in decode_fields(value):
                if n == 1:
                    items = v
            kind, body = "credit", items
        elif number == 6:
            stream_credit = value
    if kind == "invoke":
        body.stream_credit = stream_credit
    return rid, kind, body


# WorkerResponse: id = 1, loaded = 2, result = 3, item = 4, log = 5,
#   cancelled = 6 (empty message).
# Loaded: python_version = 1.
# CallResult: replica = 1, payload = 2, error = 3, logs = 4 (repeated).
# RemoteError: type = 1, message = 2, traceback = 3.
# LogLine: stream = 1, text = 2, request_id = 3, time = 5 (Timestamp:
#   seconds = 1, nanos = 2), level = 6.


def encode_remote_error(error_type, message, tb=""):
    """A RemoteError message body."""
    body = encode_len(1, to_utf8(error_type)) + encode_len(2, to_utf8(message))
    if tb:
        body += encode_len(3, to_utf8(tb))
    return body


def encode_error(error_type, message, tb=""):
    """RemoteError (as a CallResult.error field)."""
    return encode_len(3, encode_remote_error(error_type, message, tb))


def encode_log_line(stream, text, level="", request_id="", when=None):
    """A LogLine message body; `when` is a time.time() value or None."""
    parts = [b"\x08", SMALL_VARINTS[stream], encode_len(2, to_utf8(text))]
    if request_id:
        parts.append(encode_len(3, to_utf8(request_id)))
    if when is not None:
        seconds = int(when)
        parts.append(
            encode_len(5, encode_uint(1, seconds) + encode_uint(2, int((when - seconds) * 1e9)))
        )
    if level:
        parts.append(encode_len(6, to_utf8(level)))
    return b"".join(parts)


def encode_logs(logs):
    """CallResult.logs from (stream, text[, level[, request_id[, when]]])
    tuples (encode_log_line's arguments)."""
    return b"".join(encode_len(4, encode_log_line(*line)) for line in logs)


def encode_item_response(rid, item):
    """WorkerResponse with one streamed item."""
    return b"".join((b"\x08", encode_varint(rid), b"\x22", encode_varint(len(item)), item))


def encode_log_response(rid, line):
    """WorkerResponse with one live LogLine (an encoded body); rid 0 outside
    a call."""
    return b"".join((b"\x08", encode_varint(rid), b"\x2a", encode_varint(len(line)), line))


def encode_cancelled_response(rid):
    return b"\x08" + encode_varint(rid) + b"\x32\x00"


# This interpreter's version, which clients check before sending pickle.
_LOADED = encode_len(2, encode_len(1, to_utf8("%d.%d.%d" % sys.version_info[:3])))


def encode_response(rid, result=None, loaded=False):
    """WorkerResponse with either `loaded` or `result` (encoded CallResult)."""
    if loaded:
        return b"\x08" + encode_varint(rid) + _LOADED
    return b"".join((b"\x08", encode_varint(rid), b"\x1a", encode_varint(len(result)), result))


def encode_payload_result(payload, logs):
    """CallResult with a payload. Always written, even when empty: the oneof
    case is what tells the agent the call succeeded."""
    parts = [b"\x12", encode_varint(len(payload)), payload]
    if logs:
        parts.append(encode_logs(logs))
    return b"".join(parts)


def encode_error_result(error_type, message, tb="", logs=None):
    result = encode_error(error_type, message, tb)
    if logs:
        result += encode_logs(logs)
    return result


# ZygoteRequest: id = 1, preload = 2, fork = 3, signal = 4.
# ZygotePreload: root = 1, modules = 2 (repeated). ZygoteFork: empty.
# ZygoteSignal: pid = 1, signal = 2.
# ZygoteResponse: id = 1, preloaded = 2, forked = 3, exited = 4, error = 5.
# ZygotePreloaded: import_micros = 1, threads = 2. ZygoteForked: pid = 1.
# ZygoteExited: pid = 1, wait_status = 2.


def decode_zygote_request(packet):
    """ZygoteRequest -> (id, kind, body).

    kind is "preload" (body: (root, [modules])), "fork" (body: None),
    "signal" (body: (pid, signal)) or None.
    """
    rid = 0
    kind = None
    body = None
    for number, value in decode_fields(packet):
        if number == 1:
            rid = value
        elif number == 2:
            root = ""
            modules = []
            for n, v in decode_fields(value):
                if n == 1:
                    root = decode_str(v)
                elif n == 2:
                    modules.append(decode_str(v))
            kind, body = "preload", (root, modules)
        elif number == 3:
            kind, body = "fork", None
        elif number == 4:
            pid = sig = 0
            for n, v in decode_fields(value):
                if n == 1:
                    pid = v
                elif n == 2:
                    sig = v
            kind, body = "signal", (pid, sig)
    return rid, kind, body


def encode_zygote_preloaded(rid, import_micros, threads):
    body = encode_uint(1, import_micros) + encode_uint(2, threads)
    return encode_uint(1, rid) + encode_len(2, body)


def encode_zygote_forked(rid, pid):
    return encode_uint(1, rid) + encode_len(3, encode_uint(1, pid))


def encode_zygote_exited(pid, wait_status):
    return encode_len(4, encode_uint(1, pid) + encode_uint(2, wait_status))


def encode_zygote_error(rid, error_type, message, tb=""):
    if len(tb) > MAX_ZYGOTE_TRACEBACK_CHARS:
        tb = "[tether: traceback truncated]\n" + tb[-MAX_ZYGOTE_TRACEBACK_CHARS:]
    return encode_uint(1, rid) + encode_len(5, encode_remote_error(error_type, message, tb))
