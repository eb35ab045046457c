"""Who runs a database's background services: read from the lease row.

One services instance per database (intake, scheduler, Telegram bot). The
process running them holds the `services` lease and renews it; the
dashboard reads it to tell running here, run by another process, or stopped.
"""

from __future__ import annotations

import json
from datetime import datetime

from .reader import Reader, instant

SERVICES = "services"
NAMES = ("intake", "scheduler", "bot")


def service_states(reader: Reader, now: datetime, holder: str | None = None) -> dict[str, str]:
    """Each service as "running" (by `holder`, this process), "elsewhere" or "stopped"."""
    rows = reader.rows(
        "SELECT holder, services, expires_at FROM lease WHERE name = :name", {"name": SERVICES}
    )
    if not rows:
        return dict.fromkeys(NAMES, "stopped")
    owner, services, expires = rows[0]
    expires_at = instant(expires)
    if expires_at is None or expires_at <= now:
        return dict.fromkeys(NAMES, "stopped")  # a crashed holder's lease has lapsed
    reported = json.loads(services or "{}")
    here = holder is not None and owner == holder
    return {
        name: (
            "stopped"
            if reported.get(name, "stopped") != "running"
            else ("running" if here else "elsewhere")
        )
        for name in NAMES
    }
