"""Putting a file of events in time order before it is stored.

The engine gives the same threads and clocks whatever the order events
arrive in, but an event older than its thread's newest costs it more (it is
slotted into place, and the clocks after it are replayed), so a bulk import
stores a window of lines sorted by their instant. Only the speed depends on
the key: a line whose instant cannot be found is simply stored first, and
validation still judges every line as it is.
"""

from __future__ import annotations

from datetime import datetime

_KEY = b'"occurred_at"'
_BETWEEN = frozenset(b" \t\r\n:")
UNKNOWN = float("-inf")


def occurred_seconds(line: bytes) -> float:
    """Seconds since the epoch of the line's `occurred_at`, without decoding the JSON.

    Inside a JSON string a quote is always escaped, so the key's quoted name
    found in the raw bytes is a key; the first one is taken (a nested object
    named so only makes the order less good). UNKNOWN when there is none,
    or its value is not an ISO 8601 instant.
    """
    at = line.find(_KEY)
    if at < 0:
        return UNKNOWN
    start = at + len(_KEY)
    while start < len(line) and line[start] in _BETWEEN:
        start += 1
    if start >= len(line) or line[start] != 0x22:  # '"': the value is a string
        return UNKNOWN
    end = line.find(b'"', start + 1)
    if end < 0:
        return UNKNOWN
    try:
        return datetime.fromisoformat(line[start + 1 : end].decode("ascii")).timestamp()
    except (ValueError, OverflowError, OSError):
        return UNKNOWN
