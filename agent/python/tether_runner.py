"""Tether's Python worker: runs one user callable for the tether-agent.

Invocation (by the agent, never by hand):

    python3 tether_runner.py [FD [MAX_FRAME_BYTES]]
    python3 tether_runner.py --zygote FD MAX_FRAME_BYTES

FD (default 3) is this process's end of a socketpair with the agent.
MAX_FRAME_BYTES (default 64 MiB) caps the frames this process sends; a result
that does not fit is answered with a "tether.ResultTooLarge" error instead.

With --zygote the process is a zygote (see "Zygote" below): it imports a
service's preload modules once, then forks workers that each run the worker
protocol on a socket the agent hands over.

Protocol (proto/tether/v1/worker.proto, agent/worker/worker_protocol.h):
every frame is a 4-byte little-endian length and a serialized WorkerRequest
(agent -> worker) or WorkerResponse (worker -> agent). The first request is
`load`; then come `invoke`s. Requests are handled one at a time, in order,
and every response carries its request's id. The process exits 0 when the
agent closes the socket.

Standard library only: user images may not have the protobuf package, so the
few messages used are encoded and decoded by hand below (field numbers from
worker.proto and call.proto).

Failures that are not user code raising are reported with these
RemoteError types (the agent maps the first two to a gRPC status):
  tether.InvalidPayload  the payload cannot be decoded or has the wrong shape
  tether.ResultTooLarge  the encoded result does not fit in a frame
  tether.ProtocolError   a frame that cannot be decoded, or out of order
"""

import array
import io
import json
import os
import pickle
import select
import signal
import socket
import sys
import time
import traceback
import types

# Codec enum values (service.proto).
CODEC_UNSPECIFIED = 0
CODEC_JSON = 1
CODEC_PICKLE = 2
CODEC_RAW = 3

# LogLine.Stream values (call.proto).
STREAM_STDOUT = 1
STREAM_STDERR = 2

DEFAULT_FD = 3
DEFAULT_MAX_FRAME_BYTES = 64 << 20
# Output captured per call beyond this is dropped (and said so), so a chatty
# call cannot blow the frame limit with logs.
MAX_LOG_BYTES = 1 << 20

INVALID_PAYLOAD = "tether.InvalidPayload"
RESULT_TOO_LARGE = "tether.ResultTooLarge"
PROTOCOL_ERROR = "tether.ProtocolError"


# --------------------------------------------------------------------------
# Protobuf wire format: just what the worker messages need.


class DecodeError(Exception):
    """A frame is not a valid protobuf message."""


# Varints below 128 are one byte; precomputed because ids, lengths of small
# payloads and enum values are almost always that small.
_SMALL_VARINTS = [bytes((i,)) for i in range(128)]


def encode_varint(value):
    """Encodes a non-negative int (< 2**64) as a protobuf varint."""
    if value < 128:
        return _SMALL_VARINTS[value]
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf, pos):
    """Returns (value, next position) of the varint at buf[pos]."""
    try:
        b = buf[pos]
        if b < 128:
            return b, pos + 1
        result = b & 0x7F
        shift = 7
        pos += 1
        while True:
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 128:
                return result, pos
            shift += 7
            if shift >= 70:
                raise DecodeError("varint longer than 10 bytes")
    except IndexError:
        raise DecodeError("truncated varint") from None


def decode_fields(buf):
    """Decodes one message into a list of (field number, value).

    Varints are ints, length-delimited fields are bytes (strings, bytes and
    nested messages alike: the schema decides), fixed32/fixed64 are raw
    bytes. Repeated fields appear once per element, in order. Unknown fields
    come back too, so callers skip them by not asking.
    """
    fields = []
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = decode_varint(buf, pos)
        number = key >> 3
        wire_type = key & 7
        if number == 0:
            raise DecodeError("field number 0")
        if wire_type == 0:
            value, pos = decode_varint(buf, pos)
        elif wire_type == 2:
            length, pos = decode_varint(buf, pos)
            if pos + length > end:
                raise DecodeError("length-delimited field runs past the end")
            value = buf[pos : pos + length]
            pos += length
        elif wire_type == 1:
            value = buf[pos : pos + 8]
            pos += 8
        elif wire_type == 5:
            value = buf[pos : pos + 4]
            pos += 4
        else:
            raise DecodeError("unsupported wire type %d" % wire_type)
        if pos > end:
            raise DecodeError("fixed-width field runs past the end")
        fields.append((number, value))
    return fields


def encode_len(number, data):
    """A length-delimited field (bytes, string or nested message)."""
    return b"".join((encode_varint((number << 3) | 2), encode_varint(len(data)), data))


def encode_uint(number, value):
    """A varint field."""
    return encode_varint(number << 3) + encode_varint(value)


def to_utf8(text):
    # Proto3 strings must be valid UTF-8 or the agent cannot parse the frame;
    # Python strs may hold lone surrogates.
    return text.encode("utf-8", "replace")


def decode_str(data):
    return bytes(data).decode("utf-8", "replace")


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
        encode_len(4, b"\x08" + _SMALL_VARINTS[stream] + encode_len(2, to_utf8(text)))
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


# --------------------------------------------------------------------------
# Errors.


class CallError(Exception):
    """A failure to report as a RemoteError, raised by the runner itself."""

    def __init__(self, error_type, message, tb=""):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.tb = tb


def qualified_type(cls):
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", None) or cls.__name__
    if not module or module == "builtins":
        return name
    return module + "." + name


def remote_error(exc, skip_frames=0):
    """CallError from a user exception, its traceback less `skip_frames` of
    the runner's own frames."""
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return CallError(qualified_type(type(exc)), str(exc), text)


def _public_names(obj, predicate):
    return sorted(n for n in dir(obj) if not n.startswith("_") and predicate(getattr(obj, n, None)))


# --------------------------------------------------------------------------
# Output capture.


class _BinaryCapture:
    """sys.stdout.buffer for code that writes bytes."""

    def __init__(self, text):
        self._text = text

    def write(self, data):
        self._text.write(bytes(data).decode("utf-8", "replace"))
        return len(data)

    def flush(self):
        pass


class LineCapture(io.TextIOBase):
    """A sys.stdout/sys.stderr stand-in that turns writes into LogLines.

    Installed only while a call runs; between calls (start() not called or
    after finish()) writes go to the real stream, for threads that kept a
    reference to it.
    """

    def __init__(self, stream_id, real):
        super().__init__()
        self._stream_id = stream_id
        self._real = real
        self._logs = None
        self._partial = ""
        self._budget = 0
        self.buffer = _BinaryCapture(self)

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "replace"

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        # For code that hands sys.stdout to a subprocess: its output goes to
        # the agent's log, uncaptured.
        return self._real.fileno()

    def start(self, logs):
        self._logs = logs
        self._partial = ""
        self._budget = MAX_LOG_BYTES

    def finish(self):
        if self._logs is not None and self._partial:
            self._add(self._partial)
        self._logs = None
        self._partial = ""

    def _add(self, line):
        self._budget -= len(line) + 1
        if self._budget >= 0:
            self._logs.append((self._stream_id, line))
        elif self._budget + len(line) + 1 >= 0:
            self._logs.append(
                (self._stream_id, "[tether: output over %d bytes dropped]" % MAX_LOG_BYTES)
            )

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        if self._logs is None:
            return self._real.write(s)
        if "\n" not in s:
            self._partial += s
            return len(s)
        lines = (self._partial + s).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._add(line)
        return len(s)

    def flush(self):
        pass


# --------------------------------------------------------------------------
# The runner.


def _json_args(payload):
    if not payload:
        return (), {}
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise CallError(INVALID_PAYLOAD, "payload is not valid JSON: %s" % e) from None
    if type(obj) is not dict:
        raise CallError(
            INVALID_PAYLOAD,
            'JSON payload must be an object {"args": [...], "kwargs": {...}}, got %s'
            % type(obj).__name__,
        )
    args = obj.get("args", ())
    kwargs = obj.get("kwargs", {})
    if len(obj) != ("args" in obj) + ("kwargs" in obj):
        extra = sorted(k for k in obj if k not in ("args", "kwargs"))
        raise CallError(
            INVALID_PAYLOAD,
            'JSON payload may only have "args" and "kwargs", not %s' % ", ".join(map(repr, extra)),
        )
    if type(args) is not list and args != ():
        raise CallError(
            INVALID_PAYLOAD, '"args" must be a JSON array, got %s' % type(args).__name__
        )
    if type(kwargs) is not dict:
        raise CallError(
            INVALID_PAYLOAD, '"kwargs" must be a JSON object, got %s' % type(kwargs).__name__
        )
    return args, kwargs


def _pickle_args(payload):
    if not payload:
        return (), {}
    try:
        obj = pickle.loads(payload)
    except Exception as e:
        raise CallError(
            INVALID_PAYLOAD, "cannot unpickle the payload: %s: %s" % (type(e).__name__, e)
        ) from None
    if not (
        isinstance(obj, (tuple, list))
        and len(obj) == 2
        and isinstance(obj[0], (tuple, list))
        and isinstance(obj[1], dict)
    ):
        raise CallError(INVALID_PAYLOAD, "pickle payload must be a tuple (args, kwargs)")
    return obj[0], obj[1]


# Compact JSON, non-ASCII kept as UTF-8; the C encoder is used either way.
_json_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_json_encode_ascii = json.JSONEncoder(separators=(",", ":")).encode


def _encode_json(result):
    try:
        text = _json_encode(result)
    except Exception as e:
        raise CallError(
            qualified_type(type(e)),
            "cannot encode the result as JSON (%s); return JSON types or use the pickle codec" % e,
        ) from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # Lone surrogates: \u-escape them instead.
        return _json_encode_ascii(result).encode("ascii")


def _encode_pickle(result):
    try:
        return pickle.dumps(result, protocol=pickle.DEFAULT_PROTOCOL)
    except Exception as e:
        raise CallError(
            "TypeError",
            "cannot pickle the result of type %s: %s" % (qualified_type(type(result)), e),
        ) from None


def _encode_raw(result):
    if type(result) is bytes:
        return result
    if isinstance(result, (bytes, bytearray, memoryview)):
        return bytes(result)
    if isinstance(result, str):
        return result.encode("utf-8", "surrogatepass")
    raise CallError(
        "TypeError",
        "with the raw codec the callable must return bytes or str, not %s"
        % qualified_type(type(result)),
    )


def _raw_args(payload):
    return (payload,), {}


_CODECS = {
    CODEC_UNSPECIFIED: (_json_args, _encode_json),
    CODEC_JSON: (_json_args, _encode_json),
    CODEC_PICKLE: (_pickle_args, _encode_pickle),
    CODEC_RAW: (_raw_args, _encode_raw),
}

_CoroutineType = types.CoroutineType


class Runner:
    """Loads one callable and runs calls on it; transport-free so tests can
    drive handle() directly. Not thread-safe: one request at a time."""

    def __init__(self, max_frame_bytes=DEFAULT_MAX_FRAME_BYTES):
        self._max_frame_bytes = max_frame_bytes
        self._loaded = False
        self._target = None  # The function, or the class instance.
        self._is_instance = False
        self._label = ""  # "module.name", for messages.
        self._function_name = ""
        self._stdout = LineCapture(STREAM_STDOUT, sys.stdout)
        self._stderr = LineCapture(STREAM_STDERR, sys.stderr)
        self._loop = None

    def handle(self, frame):
        """One WorkerRequest frame body in, one WorkerResponse body out."""
        try:
            rid, kind, body = decode_request(frame)
        except DecodeError as e:
            rid = _best_effort_id(frame)
            return encode_response(
                rid, encode_error_result(PROTOCOL_ERROR, "cannot decode WorkerRequest: %s" % e)
            )
        if kind == "invoke":
            return encode_response(rid, self._invoke(*body))
        if kind == "load":
            try:
                self._load(body)
            except CallError as e:
                return encode_response(rid, encode_error_result(e.error_type, e.message, e.tb))
            return encode_response(rid, loaded=True)
        return encode_response(
            rid, encode_error_result(PROTOCOL_ERROR, "WorkerRequest has neither load nor invoke")
        )

    # -- load ---------------------------------------------------------------

    def _load(self, load):
        if self._loaded:
            raise CallError(PROTOCOL_ERROR, "this worker already loaded %s" % self._label)
        module_name = load["module"]
        name = load["name"]
        self._label = "%s.%s" % (module_name, name)
        if not module_name or not name:
            raise CallError(
                "ValueError",
                "callable.module and callable.name must both be set (got %r, %r)"
                % (module_name, name),
            )
        root = load["root"]
        if root:
            try:
                os.chdir(root)
            except OSError as e:
                raise remote_error(e, skip_frames=1) from None
            if root not in sys.path:
                sys.path.insert(0, root)
        for preload in load["preload"]:
            try:
                _import(preload)
            except BaseException as e:
                err = remote_error(e, skip_frames=1)
                err.message = "preloading %r: %s" % (preload, err.message)
                raise err from None
        try:
            module = _import(module_name)
        except BaseException as e:
            raise remote_error(e, skip_frames=1) from None
        target = module
        path = module_name
        for part in name.split("."):
            try:
                target = getattr(target, part)
            except AttributeError:
                available = _public_names(module, callable)
                raise CallError(
                    "AttributeError",
                    "module %r has no attribute %r%s"
                    % (
                        path,
                        part,
                        " (callables in it: %s)" % ", ".join(available) if available else "",
                    ),
                ) from None
            path = "%s.%s" % (path, part)
        if not callable(target):
            raise CallError(
                "TypeError",
                "%s is a %s, not a function or a class" % (self._label, type(target).__name__),
            )
        args, kwargs = self._init_args(load["init_json"])
        if isinstance(target, type):
            try:
                self._target = target(*args, **kwargs)
            except BaseException as e:
                raise remote_error(e, skip_frames=1) from None
            self._is_instance = True
        else:
            if args or kwargs:
                raise CallError(
                    "TypeError", "%s is a function: init args apply to classes only" % self._label
                )
            self._target = target
            self._function_name = name.rsplit(".", 1)[-1]
        self._loaded = True

    def _init_args(self, init_json):
        if not init_json:
            return (), {}
        try:
            obj = json.loads(init_json)
        except ValueError as e:
            raise CallError("ValueError", "init args are not valid JSON: %s" % e) from None
        if type(obj) is not dict:
            raise CallError(
                "ValueError", 'init args must be a JSON object {"args": [...], "kwargs": {...}}'
            )
        args = obj.get("args") or []
        kwargs = obj.get("kwargs") or {}
        if type(args) is not list or type(kwargs) is not dict:
            raise CallError("ValueError", 'init "args" must be a list and "kwargs" an object')
        return args, kwargs

    # -- invoke -------------------------------------------------------------

    def _resolve(self, method):
        if not self._loaded:
            raise CallError(PROTOCOL_ERROR, "invoke before a successful load")
        target = self._target
        if not self._is_instance:
            if method and method != self._function_name:
                raise CallError(
                    "AttributeError",
                    "%s is a function: the method must be empty or %r, not %r"
                    % (self._label, self._function_name, method),
                )
            return target
        if not method:
            if callable(target):
                return target
            raise CallError(
                "AttributeError",
                "%s is a class: name a method to call (public methods: %s)"
                % (self._label, ", ".join(_public_names(target, callable)) or "none"),
            )
        if method.startswith("_"):
            raise CallError(
                "AttributeError",
                "method %r of %s is private: only public methods (not starting"
                " with '_') can be called" % (method, self._label),
            )
        fn = getattr(target, method, None)
        if fn is None or not callable(fn):
            raise CallError(
                "AttributeError",
                "%s has no method %r (public methods: %s)"
                % (self._label, method, ", ".join(_public_names(target, callable)) or "none"),
            )
        return fn

    def _invoke(self, method, codec, payload, request_id):
        """Returns an encoded CallResult."""
        try:
            fn = self._resolve(method)
            decode, encode = _CODECS.get(codec) or _unsupported_codec(codec)
            args, kwargs = decode(payload)
        except CallError as e:
            return encode_error_result(e.error_type, e.message, e.tb)
        logs = []
        out, err = self._stdout, self._stderr
        saved_out, saved_err = sys.stdout, sys.stderr
        out.start(logs)
        err.start(logs)
        sys.stdout, sys.stderr = out, err
        try:
            result = fn(*args, **kwargs)
            if type(result) is _CoroutineType:
                result = self._run_coroutine(result)
        except BaseException as e:  # SystemExit too: it is the call's error.
            sys.stdout, sys.stderr = saved_out, saved_err
            out.finish()
            err.finish()
            e = remote_error(e, skip_frames=1)
            return encode_error_result(e.error_type, e.message, e.tb, logs)
        sys.stdout, sys.stderr = saved_out, saved_err
        out.finish()
        err.finish()
        try:
            data = encode(result)
        except CallError as e:
            return encode_error_result(e.error_type, e.message, e.tb, logs)
        # Frame overhead beyond payload and logs is a few dozen bytes.
        if len(data) + 64 > self._max_frame_bytes:
            return encode_error_result(
                RESULT_TOO_LARGE,
                "the encoded result is %d bytes, over the frame limit of %d"
                % (len(data), self._max_frame_bytes),
            )
        result = encode_payload_result(data, logs)
        if len(result) + 64 > self._max_frame_bytes:  # The logs did it.
            result = encode_payload_result(
                data, logs[:1] + [(STREAM_STDERR, "[tether: output dropped: frame limit]")]
            )
        return result

    def _run_coroutine(self, coroutine):
        # `async def` callables: one event loop per worker, kept across calls.
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coroutine)


def _import(name):
    # __import__ (the import statement's machinery) rather than
    # importlib.import_module: tracebacks then show user frames only, without
    # importlib's.
    __import__(name)
    return sys.modules[name]


def _unsupported_codec(codec):
    raise CallError(INVALID_PAYLOAD, "unsupported codec %d" % codec)


def _best_effort_id(frame):
    try:
        if frame[:1] == b"\x08":
            return decode_varint(frame, 1)[0]
    except DecodeError:
        pass
    return 0


# --------------------------------------------------------------------------
# Transport.


def serve(fd, runner):
    """Answers frames on `fd` until the agent closes it."""
    read = os.read
    write = os.write
    writev = os.writev
    handle = runner.handle
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


# --------------------------------------------------------------------------
# Zygote.
#
# The agent starts one zygote per (interpreter, preload list, environment).
# It imports the preload modules once; each worker is then a fork of it, so
# a reload costs a fork and the user's own imports, not `import torch`.
#
# Messages (worker.proto, ZygoteRequest/ZygoteResponse) are single packets
# of a SOCK_SEQPACKET socket; a fork request carries the worker's socket and
# the reply the worker's pidfd as SCM_RIGHTS.
#
# The zygote stays single-threaded and never runs user calls: it forks from
# its main loop, and each child becomes an ordinary worker (Runner + serve)
# that never returns into the loop. The zygote is its workers' parent, so it
# reaps them and reports each exit with its wait status; the agent watches
# them through the pidfds and signals them through the zygote, which knows
# whether a pid is still its unreaped child (never a recycled one).

ZYGOTE_UNSUPPORTED = "tether.ZygoteUnsupported"

# Largest packet accepted from the agent (requests are small), and the cap
# on tracebacks sent back (a packet must fit in the socket's send buffer).
_MAX_REQUEST_PACKET = 1 << 20
_MAX_TRACEBACK_CHARS = 32 << 10

PR_SET_PDEATHSIG = 1
# pidfd_open(2) has number 434 on every Linux architecture.
_NR_PIDFD_OPEN = 434

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
    if len(tb) > _MAX_TRACEBACK_CHARS:
        tb = "[tether: traceback truncated]\n" + tb[-_MAX_TRACEBACK_CHARS:]
    return encode_uint(1, rid) + encode_len(5, encode_remote_error(error_type, message, tb))


def _libc():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except Exception:  # No ctypes in this Python: see _set_pdeathsig.
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
    """The zygote's loop; see the section comment. Single-threaded."""

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
            rid, kind = _best_effort_id(packet), "bad"
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
                _import(name)
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


def main(argv):
    zygote = len(argv) > 1 and argv[1] == "--zygote"
    if zygote:
        argv = argv[1:]
    fd = int(argv[1]) if len(argv) > 1 else DEFAULT_FD
    max_frame_bytes = int(argv[2]) if len(argv) > 2 else DEFAULT_MAX_FRAME_BYTES
    # Subprocesses of user code must not hold the agent's socket open.
    os.set_inheritable(fd, False)
    # Output outside calls (imports, background threads) reaches the agent's
    # log promptly rather than when a block buffer fills.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    # The runner's own directory is sys.path[0]; user modules must not
    # resolve against it.
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]
    if zygote:
        return zygote_main(fd, max_frame_bytes)
    try:
        serve(fd, Runner(max_frame_bytes))
    except (BrokenPipeError, ConnectionResetError):
        pass  # The agent is gone; nothing to tell.
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
