"""Deploys work.py's function, generator and class with the Python client
and calls them. Run from this directory (its contents are what gets synced):

    tether up
    PYTHONPATH=.../tether_python.zip /usr/bin/python3 main.py
"""

import tether
from work import Tally, square, tokens, word_lengths

compute = tether.Compute(cpus="250m", memory="256Mi", replicas=2, inactivity_ttl="30m")

# A function: the first .to() uploads this directory; later ones only what changed.
lengths = tether.fn(word_lengths).to(compute)
print("word_lengths:", lengths("call me like a local function"))

# A generator, streamed item by item.
print("tokens:", end="")
for token in tether.fn(tokens).to(compute).stream("items arrive as they are yielded"):
    print(" " + token, end="", flush=True)
print()

# map: at most 8 calls in flight over the two replicas, results in input order.
squares = tether.fn(square).to(compute)
print("squares:", list(squares.map(range(10), max_in_flight=8)))

# Remote exceptions come back as their own type.
try:
    squares(-1)
except ValueError as e:
    print("ValueError:", e)

# A class: methods are called on the instance of one worker, which keeps its state.
tally = tether.cls(Tally).to(tether.Compute(), init_kwargs={"start": 100})
tally.add(5)
print("tally:", tally.add(10))
