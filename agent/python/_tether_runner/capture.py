"""Output capture: a call's stdout and stderr become LogLines."""

import io

# Output captured per call beyond this is dropped (and said so), so a chatty
# call cannot blow the frame limit with logs.
MAX_LOG_BYTES = 1 << 20


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
    reference to it. Not thread-safe, as the real streams' users expect none.
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
        """Appends (stream id, line) to `logs` until finish()."""
        self._logs = logs
        self._partial = ""
        self._budget = MAX_LOG_BYTES

    def finish(self):
        """Adds the unterminated last line, if any, and stops capturing."""
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
