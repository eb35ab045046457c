"""What the services running in this process logged, kept for the dashboard.

The services (bots.services.runner) run in a thread of the dashboard's process and
log to its log file. This handler also keeps their latest lines in memory:
the log view (`l`) shows them, and an error logged for a service is that
service's failure, with its reason, until the service runs again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime

# The loggers the services write to, and the service each one speaks for.
SERVICE_LOGGERS = {"pmdesk.intake": "intake", "pmdesk.bot": "bot", "pmdesk.scheduler": "scheduler"}
# The services' own logger speaks for all of them: its messages name the one concerned.
SERVICE_WORDS = (
    ("intake", "intake"),
    ("telegram", "bot"),
    ("bot", "bot"),
    ("scheduler", "scheduler"),
    ("reminders", "scheduler"),
)
KEPT = 1000


@dataclass(frozen=True)
class LogEntry:
    number: int  # counts every line since the dashboard opened: what is new since a look
    at: datetime  # local wall time, as in the log file
    level: str
    logger: str
    message: str
    service: str | None
    seen: float  # time.monotonic() when logged


def service_of(logger: str, message: str) -> str | None:
    """The service a log line speaks for, if any."""
    if logger in SERVICE_LOGGERS:
        return SERVICE_LOGGERS[logger]
    if logger == "pmdesk.services":
        lowered = message.lower()
        return next((name for word, name in SERVICE_WORDS if word in lowered), None)
    return None


class ServiceLog(logging.Handler):
    """The latest log lines of pmdesk's loggers, and each service's last failure."""

    def __init__(self, keep: int = KEPT) -> None:
        super().__init__(logging.INFO)
        self._entries: deque[LogEntry] = deque(maxlen=keep)
        self._failures: dict[str, LogEntry] = {}
        self._guard = threading.Lock()
        self._count = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string in a log call must not break the service
            message = str(record.msg)
        service = service_of(record.name, message)
        with self._guard:
            self._count += 1
            entry = LogEntry(
                self._count,
                datetime.fromtimestamp(record.created),
                record.levelname,
                record.name,
                message,
                service,
                time.monotonic(),
            )
            self._entries.append(entry)
            if service is not None and record.levelno >= logging.ERROR:
                self._failures[service] = entry

    def entries(self, after: int = 0) -> list[LogEntry]:
        """The lines kept, oldest first; `after`: only those numbered after it."""
        with self._guard:
            return [entry for entry in self._entries if entry.number > after]

    def failures(self) -> dict[str, LogEntry]:
        """Each failed service's latest error."""
        with self._guard:
            return dict(self._failures)

    def settle(self, states: dict[str, str], read_at: float) -> None:
        """Services seen running in a read begun at `read_at` have recovered from older errors."""
        with self._guard:
            for name, state in states.items():
                failure = self._failures.get(name)
                running = state in ("running", "elsewhere")
                if failure is not None and running and failure.seen < read_at:
                    del self._failures[name]
