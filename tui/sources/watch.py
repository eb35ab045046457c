"""What the main screen's watcher reads, kept apart from Textual.

The first read (a page of the feed, the running clocks, the overdue invoices,
the SLA figures) is a good part of the dashboard's start-up. Without Textual
in this module, `pmdesk` can start that read in a thread while Textual and the
screens are still being imported (`Backend.prefetch`), and the watcher takes
the result on its first turn instead of reading it again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from core.conversations.feed import (
    FeedCursor,
    FeedFilter,
    FeedItem,
    feed_page,
    feed_since,
    unread_count,
)
from core.receivables.aging import Overdue, overdue_summary
from core.sla.report import SlaReport, hourly_response_times, sla_report
from core.sla.views import ClockView, running_clocks
from core.store.reader import Reader, Row

if TYPE_CHECKING:
    from core.store.lease import ServicesSeen
    from tui.sources.backend import Backend

# The overdue invoices read as rows, the most overdue first: the panel shows
# about ten. The count and totals of the rest are summed in the database, as a
# row per invoice of a large ledger cost a good part of the first read.
INVOICES_LISTED = 100


@dataclass(frozen=True)
class SlaFigures:
    today: SlaReport
    week: SlaReport
    # Median response (business seconds) per hour of today; None where nobody answered.
    hourly: list[float | None]


@dataclass(frozen=True)
class Changes:
    """What the watcher read; None for what it did not need to read this time."""

    page: bool  # True: `items` replace the feed (start, filter change)
    items: list[FeedItem]
    unread: int
    clocks: list[ClockView] | None = None
    invoices: Overdue | None = None
    sla: SlaFigures | None = None
    services: ServicesSeen | None = None
    services_at: float = 0.0  # time.monotonic() as the services' states were read


def read_changes(
    backend: Backend,
    feed: FeedFilter,
    *,
    page: bool,
    changed: bool,
    cursor: FeedCursor,
    slow: bool,
    services: bool,
) -> tuple[Changes, FeedCursor]:
    """One turn's reads, and the feed's cursor moved past them (where the next turn starts).

    `page`: the feed from the top (start, new filter); else with `changed`
    only the events committed since `cursor`. `slow`: the invoices and SLA
    figures too.
    """
    reader = backend.reader()
    now = backend.clock()
    started = time.monotonic()
    items: list[FeedItem] = []
    if page:
        items, cursor = feed_page(reader, feed, started)
    elif changed:
        items, cursor = feed_since(reader, feed, cursor, started)
    changes = Changes(
        page=page,
        items=items,
        unread=unread_count(reader, feed),
        clocks=running_clocks(reader) if page or changed else None,
        invoices=overdue(backend, now) if slow else None,
        sla=sla_figures(backend, now) if slow else None,
        services=backend.services(reader) if services and backend.services else None,
        services_at=started,
    )
    return changes, cursor


def first_read(backend: Backend) -> tuple[Changes, FeedCursor]:
    """Everything the main screen shows, as its watcher reads it on start."""
    return read_changes(
        backend,
        FeedFilter(),
        page=True,
        changed=True,
        cursor=FeedCursor(),
        slow=True,
        services=True,
    )


def overdue(backend: Backend, now: datetime) -> Overdue:
    zone = ZoneInfo(backend.first.timezone)
    return overdue_summary(backend.reader(), now.astimezone(zone).date(), INVOICES_LISTED)


class _ReadOnce:
    """A reader that runs each distinct query once and keeps its rows.

    Today's report and the week's read the same rows for today (the hours
    since midnight are read exactly, not from the rollups), the same open
    clocks and the same names.
    """

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.read: dict[tuple[str, tuple[tuple[str, Any], ...]], list[Row]] = {}

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        key = (sql, tuple(sorted((params or {}).items())))
        found = self.read.get(key)
        if found is None:
            found = self.read[key] = self.reader.rows(sql, params)
        return found


def sla_figures(backend: Backend, now: datetime) -> SlaFigures:
    reader = _ReadOnce(backend.reader())
    zone = ZoneInfo(backend.first.timezone)
    local = now.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    week = midnight - timedelta(days=6)
    hourly = hourly_response_times(reader, midnight, now, zone)
    return SlaFigures(
        today=sla_report(reader, midnight, now, now),
        week=sla_report(reader, week, now, now),
        hourly=[point.median_business_seconds for point in hourly],
    )
