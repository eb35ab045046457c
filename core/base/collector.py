"""Python's cycle collector held off while bulk work runs."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """No automatic cycle collection inside the block; on or off after it as before.

    For work that builds hundreds of thousands of small acyclic objects (an
    import's batches, a matcher's indexes): reference counting frees them,
    and the collector would only walk them again and again for nothing.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
