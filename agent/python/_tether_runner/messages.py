"""The messages exchanged with the agent, encoded and decoded by hand.

Field numbers from proto/tether/v1/worker.proto, call.proto and
service.proto; wire.py has the wire format.
"""

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

# The zygote's error packets must fit in the socket's send buffer.
MAX_ZYGOTE_TRACEBACK_CHARS = 32 << 10


# WorkerRequest (worker.proto): id = 1, load = 2, invoke = 3.
# LoadCallable: root = 1, module = 2, name = 3, init_json = 4, preload = 5.
# InvokeRequest (call.proto): method = 1, codec = 2, payload = 3,
#   request_id = 4.


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

    kind is "load" (body: dict from decode_load), "invoke" (body: (method,
    codec, payload bytes, request_id)) or None (body: None).
    """
    rid = 0
    kind = None
    body = None
    for number, value in decode_fields(frame):
        if number == 1:
            rid = value
        elif number == 2:
            kind, body = "load", decode_load(value)
        elif number == 3:
            method = ""
            codec = CODEC_UNSPECIFIED
            payload = b""
            request_id = ""
            for n, v in decode_fields(value):
                if n == 1:
                    method = decode_str(v)
                elif n == 2:
                    codec = v
                elif n == 3:
                    payload = bytes(v)
                elif n == 4:
                    request_id = decode_str(v)
            kind, body = "invoke", (method, codec, payload, request_id)
    return rid, kind, body


# WorkerResponse: id = 1, loaded = 2 (empty message), result = 3.
# CallResult: replica = 1, payload = 2, error = 3, logs = 4 (repeated).
# RemoteError: type = 1, message = 2, traceback = 3.
# LogLine: stream = 1, text = 2.


def encode_remote_error(error_type, message, tb=""):
    """A RemoteError message body."""
    body = encode_len(1, to_utf8(error_type)) + encode_len(2, to_utf8(message))
    if tb:
        body += encode_len(3, to_utf8(tb))
    return body


def encode_error(error_type, message, tb=""):
    """RemoteError (as a CallResult.error field)."""
    return encode_len(3, encode_remote_error(error_type, message, tb))


def encode_logs(logs):
    return b"".join(
        encode_len(4, b"\x08" + SMALL_VARINTS[stream] + encode_len(2, to_utf8(text)))
        for stream, text in logs
    )


def encode_response(rid, result=None, loaded=False):
    """WorkerResponse with either `loaded` or `result` (encoded CallResult)."""
    if loaded:
        return b"\x08" + encode_varint(rid) + b"\x12\x00"
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
