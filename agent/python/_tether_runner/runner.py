"""The runner: imports the user's callable, then runs calls on it."""

import json
import os
import sys
import types

from _tether_runner.capture import LineCapture
from _tether_runner.errors import PROTOCOL_ERROR, RESULT_TOO_LARGE, CallError, remote_error
from _tether_runner.messages import (
    STREAM_STDERR,
    STREAM_STDOUT,
    decode_request,
    encode_error_result,
    encode_payload_result,
    encode_response,
)
from _tether_runner.payload_codecs import codec as payload_codec
from _tether_runner.wire import DecodeError, best_effort_id

DEFAULT_MAX_FRAME_BYTES = 64 << 20

_CoroutineType = types.CoroutineType


def import_module(name):
    # __import__ (the import statement's machinery) rather than
    # importlib.import_module: tracebacks then show user frames only, without
    # importlib's.
    __import__(name)
    return sys.modules[name]


def _public_names(obj, predicate):
    return sorted(n for n in dir(obj) if not n.startswith("_") and predicate(getattr(obj, n, None)))


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
            rid = best_effort_id(frame)
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
                import_module(preload)
            except BaseException as e:
                err = remote_error(e, skip_frames=1)
                err.message = "preloading %r: %s" % (preload, err.message)
                raise err from None
        try:
            module = import_module(module_name)
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
            decode, encode = payload_codec(codec)
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
