"""Repeated log lines, limited: one line, then a count of the ones held back.

When the process runs out of descriptors, asyncio logs "socket.accept() out
of system resource" for every failed accept: hundreds of thousands of
lines, hundreds of MB, in seconds. A filter on such a logger lets the first
line of a kind through, holds back the same line for `every` seconds, and
then lets one through again saying how many were held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# The loggers whose lines may repeat without end under an attack on the intake.
NOISY = ("asyncio", "uvicorn.error", "pmdesk.intake")


class RepeatLimit(logging.Filter):
    """Let a line (by logger and message template) through at most once every `every` seconds."""

    def __init__(self, every: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every, self.clock = every, clock
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.every:
            self._last[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            record.msg = f"{record.msg} ({last[1]} more like it held back)"
        if len(self._last) > 1000:  # messages are templates: few kinds, unless something is odd
            self._last.clear()
        self._last[key] = (now, 0)
        return True


def limit_repeats(names: tuple[str, ...] = NOISY, every: float = 10.0) -> None:
    """Put one RepeatLimit on each of these loggers (once, however often called)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RepeatLimit) for existing in logger.filters):
            logger.addFilter(RepeatLimit(every))
