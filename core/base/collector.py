"""Python's cycle collector held off while bulk work runs, and kept rare while the services run."""

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


# A collection of the youngest objects every 50,000 allocations (Python's
# default: 700), the older generations at its default ratios to it.
SERVICE_THRESHOLDS = (50_000, 50, 100)


def collect_rarely() -> None:
    """Collect cycles rarely from now on, as the services do while they run.

    Ingestion allocates many short-lived, acyclic objects (freed by reference
    counting anyway); with the default thresholds the cycle collector's
    passes over the growing heap showed as latency spikes of the intake
    (bench/intake.py). Objects alive now are frozen out of its scans.
    """
    gc.freeze()
    gc.set_threshold(*SERVICE_THRESHOLDS)
