"""Realistic streams of events for the benchmarks, deterministic for a seed.

The mix is what an agency's feed looks like: clients write on many threads,
staff answer each message after a delay (most within minutes, some within
the hour, a few hours later), and a small share is never answered; internal
notes and status, deadline and assignee changes come in between. About 60%
of the events are messages, and about 30% of all events open a clock.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CLIENTS = [f"Client {index:02d}" for index in range(40)]
STAFF = [(f"Staff {index}", f"staff{index}@agency.example") for index in range(12)]
STATUSES = ["To do", "In progress", "Review", "Waiting for client", "Done"]
# Share of client messages nobody ever answers: with ~300,000 clocks this
# leaves about 2,000 running, as on a busy agency's dashboard.
UNANSWERED = 0.007
# Replies take this share of the events; the others are spaced so that the
# whole stream spans the period asked for.
REPLY_SHARE = 0.29
DEFAULT_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def events(
    count: int, threads: int, start: datetime, span: timedelta, seed: int = 1
) -> Iterator[dict[str, Any]]:
    """`count` events on `threads` threads, spread over `span` from `start`, in time order."""
    rng = random.Random(seed)
    step = span / (count * (1 - REPLY_SHARE))
    replies: list[tuple[datetime, int, int]] = []  # (when, sequence, thread)
    waiting: set[int] = set()
    tick = 0
    for index in range(count):
        at = start + step * tick
        if replies and replies[0][0] <= at:
            when, _, thread = heapq.heappop(replies)
            waiting.discard(thread)
            yield _event(index, when, thread, "staff", "message", {}, rng)
            continue
        tick += 1
        thread = rng.randrange(threads)
        role, kind, extra = _ordinary(rng, at)
        if kind == "message" and role == "client" and thread not in waiting:
            waiting.add(thread)
            if rng.random() > UNANSWERED:
                heapq.heappush(replies, (at + _reply_delay(rng), index, thread))
        yield _event(index, at, thread, role, kind, extra, rng)


def with_duplicates(
    stream: Iterator[dict[str, Any]], share: float, seed: int = 2, reach: int = 500
) -> Iterator[dict[str, Any]]:
    """`stream` with copies of recent events mixed in, `share` of what comes out.

    What webhook retries and overlapping polls deliver: the same event (same
    source and id) again, a little later than the first time, among up to
    `reach` newer ones.
    """
    rng = random.Random(seed)
    recent: list[dict[str, Any]] = []
    later: list[tuple[int, int, dict[str, Any]]] = []  # (due position, sequence, event)
    position = 0
    for event in stream:
        while later and later[0][0] <= position:
            yield heapq.heappop(later)[2]
            position += 1
        yield event
        position += 1
        recent.append(event)
        if len(recent) > reach:
            recent.pop(0)
        # Each original gets a copy with the probability that makes the copies
        # `share` of the total.
        if rng.random() < share / (1 - share):
            copy = rng.choice(recent)
            heapq.heappush(later, (position + rng.randrange(1, reach), position, copy))
    while later:
        yield heapq.heappop(later)[2]


def shuffled(stream: Iterator[dict[str, Any]], seed: int = 3) -> list[dict[str, Any]]:
    """The same events in a random order: every event may arrive late."""
    events = list(stream)
    random.Random(seed).shuffle(events)
    return events


def _ordinary(rng: random.Random, at: datetime) -> tuple[str, str, dict[str, Any]]:
    roll = rng.random()
    if roll < 0.44:
        return "client", "message", {}
    if roll < 0.56:
        return "staff", "message", {"internal": True}
    if roll < 0.72:
        return "staff", "status", {"status": rng.choice(STATUSES)}
    if roll < 0.82:
        deadline = (at + timedelta(days=rng.randint(1, 30))).date().isoformat()
        return "staff", "deadline", {"deadline": deadline}
    if roll < 0.96:
        name, email = rng.choice(STAFF)
        return "staff", "assignee", {"assignee": {"name": name, "email": email, "role": "staff"}}
    return "staff", "task_created", {}


def _reply_delay(rng: random.Random) -> timedelta:
    roll = rng.random()
    if roll < 0.80:
        return timedelta(minutes=rng.uniform(1, 12))
    if roll < 0.95:
        return timedelta(minutes=rng.uniform(12, 60))
    return timedelta(hours=rng.uniform(1, 8))


def _event(
    index: int,
    at: datetime,
    thread: int,
    role: str,
    kind: str,
    extra: dict[str, Any],
    rng: random.Random,
) -> dict[str, Any]:
    client = CLIENTS[thread % len(CLIENTS)]
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
