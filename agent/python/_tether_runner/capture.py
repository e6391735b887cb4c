"""Output capture: a call's stdout and stderr become LogLines."""

import io
import time

# Output captured per call beyond this is dropped (and said so), so a chatty
# call cannot blow the frame limit with logs.
MAX_LOG_BYTES = 1 << 20

# An unterminated line longer than this is cut here, so output without
# newlines cannot grow without bound.
MAX_LINE_CHARS = 64 << 10


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

    While a call runs, lines are collected (start) or handed to a sink as
    they are printed (start_live). Between calls writes go to the real
    stream, and with an `idle_sink` each whole line goes there too (the
    worker's output at import or from background threads reaches the
    agent). Not thread-safe, as the real streams' users expect none.
    """

    def __init__(self, stream_id, real, idle_sink=None):
        super().__init__()
        self._stream_id = stream_id
        self._real = real
        self._idle_sink = idle_sink
        self._logs = None
        self._sink = None
        self._idle_partial = ""
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
        """Appends (stream id, line) to `logs` until finish()."""
        self._logs = logs
        self._partial = ""
        self._budget = MAX_LOG_BYTES

    def start_live(self, sink):
        """Calls sink(stream id, line) for each line until finish()."""
        self.start(None)
        self._sink = sink

    def finish(self):
        """Adds the unterminated last line, if any, and stops capturing."""
        if self._partial:
            self._add(self._partial)
        self._logs = None
        self._sink = None
        self._partial = ""

    @property
    def _capturing(self):
        return self._logs is not None or self._sink is not None

    def _add(self, line):
        if self._sink is not None:
            self._sink(self._stream_id, line)
            return
        if self._logs is None:
            return
        self._budget -= len(line) + 1
        # Stamped when printed, so `tether logs --since` sees when it was.
        if self._budget >= 0:
            self._logs.append((self._stream_id, line, "", "", time.time()))
        elif self._budget + len(line) + 1 >= 0:
            self._logs.append(
                (
                    self._stream_id,
                    "[tether: output over %d bytes dropped]" % MAX_LOG_BYTES,
                    "",
                    "",
                    time.time(),
                )
            )

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        if not self._capturing:
            if self._idle_sink is not None and s:
                lines = (self._idle_partial + s).split("\n")
                self._idle_partial = lines.pop()[-MAX_LOG_BYTES:]
                for line in lines:
                    self._idle_sink(self._stream_id, line)
            return self._real.write(s)
        if "\n" not in s:
            self._partial += s
            if len(self._partial) > MAX_LINE_CHARS:
                self._add(self._partial)
                self._partial = ""
            return len(s)
        lines = (self._partial + s).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._add(line)
        return len(s)

    def flush(self):
        pass
