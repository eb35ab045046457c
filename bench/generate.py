"""Realistic streams of events for the benchmarks, deterministic for a seed.

The mix is what an agency's feed looks like: conversations on many threads
where a client writes (sometimes twice), staff answer after a few minutes
(sometimes late), with internal notes and status, deadline and assignee
changes in between. About 60% of the events are messages.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CLIENTS = [f"Client {index:02d}" for index in range(40)]
STAFF = [(f"Staff {index}", f"staff{index}@agency.example") for index in range(12)]
STATUSES = ["To do", "In progress", "Review", "Waiting for client", "Done"]


def events(
    count: int, threads: int, start: datetime, span: timedelta, seed: int = 1
) -> Iterator[dict[str, Any]]:
    """`count` events on `threads` threads, spread over `span` from `start`, in time order."""
    rng = random.Random(seed)
    step = span / count
    pending: dict[int, bool] = {}  # thread -> a client message awaits an answer
    for index in range(count):
        at = start + step * index
        thread = rng.randrange(threads)
        client = CLIENTS[thread % len(CLIENTS)]
        roll = rng.random()
        if roll < 0.60:
            # A message: the client writes when nobody owes them an answer,
            # staff answer when somebody does (with the odd extra message).
            waiting = pending.get(thread, False)
            role = "staff" if waiting and rng.random() < 0.85 else "client"
            pending[thread] = role == "client"
            kind, extra = "message", {}
        elif roll < 0.70:
            role, kind, extra = "staff", "message", {"internal": True}
        elif roll < 0.82:
            role, kind, extra = "staff", "status", {"status": rng.choice(STATUSES)}
        elif roll < 0.90:
            deadline = (at + timedelta(days=rng.randint(1, 30))).date().isoformat()
            role, kind, extra = "staff", "deadline", {"deadline": deadline}
        elif roll < 0.97:
            name, email = rng.choice(STAFF)
            role, kind = "staff", "assignee"
            extra = {"assignee": {"name": name, "email": email, "role": "staff"}}
        else:
            role, kind, extra = "staff", "task_created", {}
        yield _event(index, at, thread, client, role, kind, extra, rng)


def _event(
    index: int,
    at: datetime,
    thread: int,
    client: str,
    role: str,
    kind: str,
    extra: dict[str, Any],
    rng: random.Random,
) -> dict[str, Any]:
    if role == "client":
        slug = client.lower().replace(" ", "")
        author = {"name": f"Contact of {client}", "email": f"pm@{slug}.example", "role": "client"}
    else:
        name, email = STAFF[rng.randrange(len(STAFF))]
        author = {"name": name, "email": email, "role": "staff"}
    return {
        "id": str(index),
        "source": "bench",
        "kind": kind,
        "occurred_at": at.isoformat(),
        "client": client,
        "project": f"{client} project {thread % 3}",
        "task": {
            "id": str(thread),
            "title": f"Task {thread}",
            "url": f"https://tracker.example/task/{thread}",
        },
        "author": author,
        "text": "Bonjour, pouvez-vous regarder le formulaire de contact ? " * rng.randint(1, 4),
        **extra,
    }


def write_jsonl(path: Path, stream: Iterator[dict[str, Any]]) -> int:
    written = 0
    with path.open("w", encoding="utf-8") as handle:
        for event in stream:
            handle.write(json.dumps(event, ensure_ascii=False))
            handle.write("\n")
            written += 1
    return written


DEFAULT_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
