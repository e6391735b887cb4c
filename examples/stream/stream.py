"""A generator as a service: its items stream to the caller as it yields.

    callable: {module: stream, name: tokens}
        {"args": ["the quick brown fox"]}   -> "the", "quick", "brown", "fox"

Call it with `Agent.InvokeStream` (`tether call --stream`); a plain call of a
generator is refused with INVALID_ARGUMENT. A slow reader pauses the
generator: it runs at most a few items ahead of what the caller has taken.
Cancelling the call (or its deadline passing) stops the generator: it sees
GeneratorExit where it yielded, so its `finally` blocks run.
"""

import time


def tokens(text, delay=0.05):
    """Yields the words of `text` one by one, `delay` seconds apart, as a
    language model would yield tokens."""
    for word in text.split():
        time.sleep(delay)
        yield word
