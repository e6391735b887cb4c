"""A service that prints and logs while it works.

    callable: {module: logs, name: crunch}
        {"args": [5]}   -> 15, after printing and logging each step

With `InvokeRequest.logs` set (`tether call --stream --logs`), each line
reaches the caller as it is printed, tagged with the request id, the
replica, the time and, for `logging` records, the level. Without it the
lines come back with the result, as for any call.
"""

import logging
import sys
import time

log = logging.getLogger("crunch")
log.setLevel(logging.INFO)


def crunch(steps, delay=0.1):
    """Adds 1..steps slowly, saying what it does."""
    total = 0
    for step in range(1, steps + 1):
        time.sleep(delay)
        total += step
        print(f"step {step}: total {total}")
        log.info("finished step %d of %d", step, steps)
    if total > 100:
        log.warning("that was a lot of work")
    print("done", file=sys.stderr)
    return total
