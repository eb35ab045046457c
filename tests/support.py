"""Helpers shared by the tests: a movable clock, an event factory, a free port."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class MovableClock:
    """A `Now` that tests move by hand instead of sleeping."""

    def __init__(self, start: datetime = START) -> None:
        self.instant = start

    def __call__(self) -> datetime:
        return self.instant

    def advance(self, **delta: float) -> datetime:
        self.instant += timedelta(**delta)
        return self.instant


def make_event(
    id: str,
    minute: float,
    role: str = "client",
    kind: str = "message",
    task: str = "T1",
    client: str = "Acme",
    **fields: Any,
) -> dict[str, Any]:
    """An event in the public schema, `minute` minutes after START; keywords override."""
    author = (
        {"name": "Claire Client", "email": "claire@acme.example", "role": "client"}
        if role == "client"
        else {"name": "Sam Staff", "email": "sam@agency.example", "role": "staff"}
    )
    event: dict[str, Any] = {
        "id": id,
        "source": "webhook",
        "kind": kind,
        "occurred_at": (START + timedelta(minutes=minute)).isoformat(),
        "client": client,
        "project": "Website",
        "task": {"id": task, "title": f"Task {task}", "url": f"https://tracker.example/{task}"},
        "author": author,
        "text": f"text of {id}",
    }
    event.update(fields)
    return event


def free_port() -> int:
    """A port nothing listens on right now, for a server a test starts by port number."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
