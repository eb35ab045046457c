"""What every benchmark reports with: the machine it ran on, and percentiles."""

from __future__ import annotations

import math
import os
import platform
import sqlite3
from collections.abc import Iterable
from pathlib import Path


def machine() -> str:
    """CPU model, cores, Python, SQLite and system, for the line each result starts with."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: the platform's word for it
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


def percentile(values: Iterable[float], rank: float) -> float:
    """The nearest-rank percentile (`rank` from 0 to 100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, math.ceil(rank / 100 * len(ordered)) - 1))
    return ordered[index]
