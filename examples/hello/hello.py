"""Hello, Tether!

A plain Python module: nothing in it knows about Tether. Deploy a service
whose callable points at a function or a class here, then call it with JSON
arguments:

    callable: {module: hello, name: greet}
        {"args": ["Ada"]}                                -> "Hello, Ada!"
        {"args": ["Ada"], "kwargs": {"punctuation": "?"}} -> "Hello, Ada?"

    callable: {module: hello, name: Counter, init_kwargs: {start: 10}}
        method "increment"                               -> 11
        method "increment", {"kwargs": {"by": 5}}        -> 16
        method "value"                                   -> 16

A class is created once per worker process and keeps its state between
calls (each worker has its own instance). Whatever a call print()s comes
back with its result as log lines.
"""


def greet(name, punctuation="!"):
    """Returns a friendly greeting for `name`."""
    print(f"greeting {name}")  # Shows up in the call's logs.
    return f"Hello, {name}{punctuation}"


def noop():
    """Does nothing: measures the bare cost of a call."""
    return None


class Counter:
    """A counter that lives as long as its worker process."""

    def __init__(self, start=0, step=1):
        self.count = start
        self.step = step

    def increment(self, by=None):
        """Adds `by` (default: the step given at construction); returns the new value."""
        self.count += self.step if by is None else by
        return self.count

    def value(self):
        """The current value."""
        return self.count
