"""The API's long-lived heap kept out of the garbage collector's full runs.

The live state, the schedule's evaluator (its groups: seven references a lamp) and the alarm
list of a district of 100,000 lamps are about 1.6 million objects that live as long as the
process. A full run of the collector walks every one of them, holding the event loop (and
every request) for half a second or more (bench/api_load.py counts them: `full_gc_runs`,
`loop_held_over_100ms`). Once they are loaded,
`settle()` collects what loading left and freezes the rest (gc.freeze: frozen objects are
never walked; they are still freed when nothing refers to them). After the assets are read
again, the old objects are let back in, collected, and the new ones frozen.

While they are being built at start, `loading()` keeps the collector off: each of its full
runs walked everything built so far (seen: 23 runs, 6 s of a start with 100,000 lamps).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def loading() -> Iterator[None]:
    """No garbage collection in the block (what it builds is meant to stay); `settle()` after."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def settle() -> float:
    """Collect, then freeze what is left; the seconds it took (the loop is held meanwhile)."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started
