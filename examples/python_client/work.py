"""The code that runs remotely: plain Python, nothing here knows about
Tether (a worker imports this module by name, so it must not need the
client, and module-level code must not deploy anything)."""

import time


def word_lengths(text):
    """A function: called like the local one."""
    return {word: len(word) for word in text.split()}


def tokens(text, delay=0.05):
    """A generator: `remote.stream(...)` yields its items as they come."""
    for word in text.split():
        time.sleep(delay)
        yield word.upper()


def square(x):
    """For `remote.map(...)`."""
    if x < 0:
        raise ValueError(f"negative input: {x}")
    return x * x


class Tally:
    """A class: each worker builds one instance and keeps its state."""

    def __init__(self, start=0):
        self.total = start

    def add(self, amount):
        self.total += amount
        return self.total
