"""The runner: imports the user's callable, then runs calls on it.

Cancellation: the reader thread (frame_io.serve) calls Runner.cancel while
the call runs in the main thread. The runner then raises CallCancelled in
the main thread from a signal handler (SIGUSR2, sent to the main thread
with pthread_kill, again every 50 ms until the call ends: a signal landing
just before a blocking call is only handled once that call returns). A
signal interrupts a blocking system call such as time.sleep or a socket
read (PEP 475 retries it only if the handler does not raise) and reaches a
pure-Python loop at its next bytecode, which PyThreadState_SetAsyncExc
would not do for a sleep. Code stuck in C that does not return to the
interpreter (a long numpy op, a C library call) cannot be interrupted; the
agent kills the worker after a grace period. Frames are never torn: the
handler defers the exception while the main thread writes a frame. User
code that installs its own SIGUSR2 handler, or swallows CallCancelled
for good, is cut off by that grace period too.
"""

import json
import logging
import os
import signal
import sys
import threading
import time
import types

from _tether_runner.capture import MAX_LOG_BYTES, LineCapture
from _tether_runner.errors import (
    PROTOCOL_ERROR,
    RESULT_TOO_LARGE,
    STREAM_REQUIRED,
    CallCancelled,
    CallError,
    remote_error,
)
from _tether_runner.messages import (
    STREAM_LOGGING,
    STREAM_STDERR,
    STREAM_STDOUT,
    decode_request,
    encode_cancelled_response,
    encode_error_result,
    encode_item_response,
    encode_log_line,
    encode_log_response,
    encode_payload_result,
    encode_response,
)
from _tether_runner.payload_codecs import codec as payload_codec
from _tether_runner.wire import DecodeError, best_effort_id

DEFAULT_MAX_FRAME_BYTES = 64 << 20

# The signal that interrupts the main thread when its call is cancelled.
CANCEL_SIGNAL = signal.SIGUSR2

_CoroutineType = types.CoroutineType
_AsyncGeneratorType = types.AsyncGeneratorType


def import_module(name):
    # __import__ (the import statement's machinery) rather than
    # importlib.import_module: tracebacks then show user frames only, without
    # importlib's.
    __import__(name)
    return sys.modules[name]


def _public_names(obj, predicate):
    return sorted(n for n in dir(obj) if not n.startswith("_") and predicate(getattr(obj, n, None)))


def _is_stream(result):
    """Generators, async generators and other iterators are streamed."""
    if isinstance(result, (types.GeneratorType, _AsyncGeneratorType)):
        return True
    return hasattr(type(result), "__next__") and hasattr(type(result), "__iter__")


class _CallLogHandler(logging.Handler):
    """Turns the `logging` records of a call into LogLines."""

    def __init__(self, sink):
        super().__init__()
        self._sink = sink
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record):
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._sink(text, record.levelname)


class Runner:
    """Loads one callable and runs calls on it; transport-free so tests can
    drive handle() directly.

    handle() runs one request at a time, in the thread that calls it. A
    streamed call's items and live log lines go to `send` (one
    WorkerResponse body each) as they come. cancel() and credit() may be
    called from another thread while handle() runs: they are what the
    reader thread of frame_io.serve delivers. Calls the runner is told
    about with enqueue() and that are cancelled before they start are
    skipped (handle() returns None for them).
    """

    def __init__(self, max_frame_bytes=DEFAULT_MAX_FRAME_BYTES, send=None):
        self._max_frame_bytes = max_frame_bytes
        self._send = send
        self._loaded = False
        self._target = None  # The function, or the class instance.
        self._is_instance = False
        self._label = ""  # "module.name", for messages.
        self._function_name = ""
        self._stdout = LineCapture(STREAM_STDOUT, sys.stdout)
        self._stderr = LineCapture(STREAM_STDERR, sys.stderr)
        self._loop = None
        # The calls' state, shared with the thread that calls cancel/credit.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queued = set()  # Enqueued and not started.
        self._skip = set()  # Cancelled while queued.
        self._current = 0  # The running call's id; 0 between calls.
        self._credit = 0
        self._cancelled = False
        # Main thread only: the signal handler may raise CallCancelled
        # (armed), unless a frame is being written (shield > 0).
        self._main_ident = None
        self._armed = False
        self._shield = 0
        self._deferred = False
        self._log_budget = 0

    # -- transport ----------------------------------------------------------

    def attach(self, send, streams=True):
        """Serve mode (main thread): frames go to `send` (thread-safe), the
        cancel signal interrupts this thread, and with `streams` the
        process's stdout/stderr become captures whose lines outside calls
        also go to the agent (as live lines of no call)."""
        self._send = send
        self._main_ident = threading.get_ident()
        signal.signal(CANCEL_SIGNAL, self._on_cancel_signal)
        if streams:
            idle = self._send_idle_line
            self._stdout = LineCapture(STREAM_STDOUT, sys.stdout, idle)
            self._stderr = LineCapture(STREAM_STDERR, sys.stderr, idle)
            sys.stdout, sys.stderr = self._stdout, self._stderr

    def _send_idle_line(self, stream, text):
        self._emit(encode_log_response(0, encode_log_line(stream, text, when=time.time())))

    def _emit(self, frame):
        """Sends a frame; a cancel arriving meanwhile waits until it is out."""
        if self._send is None:
            return
        main = threading.get_ident() == self._main_ident
        if main:
            self._shield += 1
        try:
            self._send(frame)
        finally:
            if main:
                self._shield -= 1
                if self._deferred and self._shield == 0 and self._armed:
                    self._deferred = False
                    self._armed = False
                    raise CallCancelled()

    def enqueue(self, rid):
        """The reader thread queued invoke `rid` for handle()."""
        with self._lock:
            self._queued.add(rid)

    def cancel(self, rid):
        """Cancels call `rid`: "running" (handle() answers `cancelled`),
        "queued" (it will be skipped: the caller answers it now) or None
        (unknown or finished: nothing to do)."""
        with self._lock:
            if rid == self._current and rid:
                if self._cancelled:
                    return "running"
                self._cancelled = True
                self._cond.notify_all()
                ident = self._main_ident
            elif rid in self._queued:
                self._queued.discard(rid)
                self._skip.add(rid)
                return "queued"
            else:
                return None
        if ident is not None and ident != threading.get_ident():
            threading.Thread(
                target=self._interrupt, args=(rid, ident), name="tether-cancel", daemon=True
            ).start()
        return "running"

    def _interrupt(self, rid, ident):
        # Again every 50 ms until the call ends: a signal that lands just
        # before the main thread enters a blocking call (between bytecodes)
        # is only handled once that call returns.
        with self._cond:
            while self._current == rid and self._cancelled:
                try:
                    signal.pthread_kill(ident, CANCEL_SIGNAL)
                except OSError:
                    return
                self._cond.wait(0.05)

    def credit(self, rid, items):
        """Call `rid` may stream `items` more items."""
        with self._lock:
            if rid == self._current and rid:
                self._credit += items
                self._cond.notify_all()

    def _on_cancel_signal(self, signum, frame):
        if not (self._armed and self._cancelled):
            return
        if self._shield:
            self._deferred = True
            return
        self._armed = False
        raise CallCancelled()

    def _check_cancelled(self):
        # Also when user code swallowed the signal's CallCancelled.
        if self._cancelled:
            self._armed = False
            raise CallCancelled()

    # -- requests -----------------------------------------------------------

    def handle(self, frame):
        """One WorkerRequest frame body in, one WorkerResponse body out
        (None for a call cancelled before it started)."""
        try:
            rid, kind, body = decode_request(frame)
        except DecodeError as e:
            rid = best_effort_id(frame)
            return encode_response(
                rid, encode_error_result(PROTOCOL_ERROR, "cannot decode WorkerRequest: %s" % e)
            )
        return self.handle_decoded(rid, kind, body)

    def handle_decoded(self, rid, kind, body):
        """handle() for a request decode_request already decoded."""
        if kind == "invoke":
            return self._invoke(rid, body)
        if kind == "load":
            try:
                self._load(body)
            except CallError as e:
                return encode_response(rid, encode_error_result(e.error_type, e.message, e.tb))
            return encode_response(rid, loaded=True)
        if kind in ("cancel", "credit"):
            # Not from serve(), which hands these to cancel()/credit().
            if kind == "cancel" and self.cancel(rid) == "queued":
                return encode_cancelled_response(rid)
            if kind == "credit":
                self.credit(rid, body)
            return None
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

    def _invoke(self, rid, call):
        """Returns an encoded WorkerResponse, or None for a skipped call."""
        with self._lock:
            self._queued.discard(rid)
            if rid in self._skip:
                self._skip.discard(rid)
                return None
        try:
            fn = self._resolve(call.method)
            decode, encode = payload_codec(call.codec)
            args, kwargs = decode(call.payload)
        except CallError as e:
            return encode_response(rid, encode_error_result(e.error_type, e.message, e.tb))
        logs = []
        payload = None
        error = None
        try:
            try:
                self._begin(rid, call, logs)
                payload = self._run(rid, call, fn, args, kwargs, encode)
            except CallError as e:
                error = e
            finally:
                self._end()
        except CallCancelled:
            self._end()
        with self._lock:
            cancelled = self._cancelled
            self._current = 0
            self._cancelled = False
            self._credit = 0
            self._cond.notify_all()
        if cancelled:
            if self._loop is not None:
                self._reset_loop_if_busy()
            return encode_cancelled_response(rid)
        if error is not None:
            return encode_response(
                rid, encode_error_result(error.error_type, error.message, error.tb, logs)
            )
        # Frame overhead beyond payload and logs is a few dozen bytes.
        if len(payload) + 64 > self._max_frame_bytes:
            return encode_response(
                rid,
                encode_error_result(
                    RESULT_TOO_LARGE,
                    "the encoded result is %d bytes, over the frame limit of %d"
                    % (len(payload), self._max_frame_bytes),
                ),
            )
        result = encode_payload_result(payload, logs)
        if len(result) + 64 > self._max_frame_bytes:  # The logs did it.
            result = encode_payload_result(
                payload, logs[:1] + [(STREAM_STDERR, "[tether: output dropped: frame limit]")]
            )
        return encode_response(rid, result)

    def _begin(self, rid, call, logs):
        with self._lock:
            self._current = rid
            self._credit = call.stream_credit
            self._cancelled = False
        self._deferred = False
        self._armed = True
        self._log_budget = MAX_LOG_BYTES
        request_id = call.request_id
        if call.logs:

            def line_sink(stream, text, level=""):
                self._emit(
                    encode_log_response(
                        rid, encode_log_line(stream, text, level, request_id, time.time())
                    )
                )

            self._stdout.start_live(line_sink)
            self._stderr.start_live(line_sink)
            record_sink = lambda text, level: line_sink(STREAM_LOGGING, text, level)  # noqa: E731
        else:
            self._stdout.start(logs)
            self._stderr.start(logs)

            def record_sink(text, level):
                self._log_budget -= len(text) + 1
                if self._log_budget >= 0:
                    logs.append((STREAM_LOGGING, text, level, "", time.time()))

        self._saved_streams = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = self._stdout, self._stderr
        self._log_handler = _CallLogHandler(record_sink)
        logging.getLogger().addHandler(self._log_handler)

    def _end(self):
        """Undoes _begin; safe to call twice."""
        self._armed = False
        handler, self._log_handler = getattr(self, "_log_handler", None), None
        if handler is not None:
            logging.getLogger().removeHandler(handler)
        saved, self._saved_streams = getattr(self, "_saved_streams", None), None
        if saved is not None:
            sys.stdout, sys.stderr = saved
            self._stdout.finish()
            self._stderr.finish()

    def _run(self, rid, call, fn, args, kwargs, encode):
        """Runs the user code; returns the encoded payload (empty for a
        stream). Raises CallError, or CallCancelled."""
        try:
            result = fn(*args, **kwargs)
            if type(result) is _CoroutineType:
                result = self._run_coroutine(result)
        except CallCancelled:
            raise
        except BaseException as e:  # SystemExit too: it is the call's error.
            raise remote_error(e, skip_frames=1) from None
        if not _is_stream(result):
            return encode(result)
        if not call.stream_credit:
            self._close(result)
            raise CallError(
                STREAM_REQUIRED,
                "%s returns a %s: call it with InvokeStream (tether call --stream)"
                % (self._label, type(result).__name__),
            )
        self._stream(rid, result, encode)
        return b""

    def _stream(self, rid, stream, encode):
        """Sends the items while the call has credit. Waiting for credit
        before asking for an item keeps the generator from running ahead of
        the reader by more than the window."""
        is_async = isinstance(stream, _AsyncGeneratorType)
        count = 0
        try:
            while True:
                with self._cond:
                    while self._credit <= 0 and not self._cancelled:
                        self._cond.wait()
                self._check_cancelled()
                try:
                    if is_async:
                        item = self._run_coroutine(stream.__anext__())
                    else:
                        item = next(stream)
                except (StopIteration, StopAsyncIteration):
                    return
                except CallCancelled:
                    raise
                except BaseException as e:
                    raise remote_error(e, skip_frames=1) from None
                data = encode(item)
                count += 1
                if len(data) + 64 > self._max_frame_bytes:
                    raise CallError(
                        RESULT_TOO_LARGE,
                        "item %d is %d bytes encoded, over the frame limit of %d"
                        % (count, len(data), self._max_frame_bytes),
                    )
                with self._lock:
                    self._credit -= 1
                self._emit(encode_item_response(rid, data))
        finally:
            # The generator sees GeneratorExit where it yielded (a no-op
            # when it raised or returned), so its finally blocks run.
            self._close(stream)

    def _close(self, stream):
        try:
            if isinstance(stream, _AsyncGeneratorType):
                self._run_coroutine(stream.aclose())
            elif hasattr(stream, "close"):
                stream.close()
        except CallCancelled:
            raise
        except BaseException:
            pass

    def _run_coroutine(self, coroutine):
        # `async def` callables: one event loop per worker, kept across calls.
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coroutine)

    def _reset_loop_if_busy(self):
        # A cancel may have left a task of the call pending in the loop: the
        # next call gets a fresh loop rather than resuming it.
        import asyncio

        loop, self._loop = self._loop, None
        try:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.close()
        except Exception:
            pass
