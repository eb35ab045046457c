"""Clients' progress reports prepared, sent through the client's channel, once (docs/reports.md).

A report of one client and period is a `ReportDraft` row, keyed by both:
prepared (`prepare`, the weekly run or the command), its free-text
introduction edited (`set_intro`), then sent (`send`) or skipped (`skip`,
taken back by `unskip`). Sending it again is refused (`AlreadySent`) unless
asked for after a correction (`resend=True`).

How it goes out (`[reports]` in the configuration, per client):

- `worksection`: a comment on the client's pinned task, and `telegram`: a
  message in the client's group. Both are a `report` event of the staff
  member who sends it on that thread, with its `Delivery` row in the same
  transaction, sent by the services as replies are: retried after an
  outage, and a failure for good told to its author (Telegram and the
  dashboard), as a reply's is. A report answers nothing: it neither stops
  nor opens a response clock. The event's key names the client, the period
  and the send's number, so that a send repeated after a crash between the
  event and the draft's update queues nothing twice.
- `email`: an email draft (`.eml`, the HTML report as its body and the PDF
  attached) written in the configured folder, for the assistant's mail client.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Select, insert, select, update

from core.base.instants import Now
from core.base.kinds import DeliveryStatus, EventKind, ThreadKind
from core.config.settings import Settings
from core.reports.content import ClientReport, client_report, find_client
from core.reports.period import ReportPeriod
from core.reports.render import render
from core.store.db import write
from core.store.models.outbox import Delivery
from core.store.models.reports import ReportDraft
from core.store.models.system import table
from core.store.models.threads import Thread, ThreadRef
from core.store.reader import EngineReader, Reader

if TYPE_CHECKING:
    from core.conversations.ingest import Ingestor
    from core.sla.report import SlaReport

DRAFT, DELIVERY, THREAD, REFS = table(ReportDraft), table(Delivery), table(Thread), table(ThreadRef)

DRAFT_STATUS, SENT, SKIPPED, FAILED, NOTHING = "draft", "sent", "skipped", "failed", "nothing"
# What the page shows of a report sent through a channel while the services have not yet
# delivered it.
QUEUED = "queued"
CHANNELS = ("worksection", "telegram", "email")


class ReportRefused(ValueError):
    """The report was not sent (or changed); the message says why, for the person who tried."""


class AlreadySent(ReportRefused):
    """The client's report of that period went out already."""


@dataclass(frozen=True)
class DraftView:
    id: int
    client_id: int
    client: str
    period: str
    first_day: date
    last_day: date
    # draft, sent, skipped, failed or nothing (the stored status).
    status: str
    intro: str
    channel: str | None
    event_id: int | None
    target: str | None
    error: str | None
    sends: int
    sent_at: datetime | None
    # The delivery row's status for a report sent through a thread's channel.
    delivery: str | None
    delivery_error: str | None

    @property
    def state(self) -> str:
        """What the page shows: draft, queued, sent, skipped, failed or nothing."""
        if self.status == SENT and self.delivery == DeliveryStatus.PENDING.value:
            return QUEUED
        if self.status == SENT and self.delivery == DeliveryStatus.FAILED.value:
            return FAILED
        return self.status

    @property
    def problem(self) -> str | None:
        return self.delivery_error if self.state == FAILED and self.delivery_error else self.error

    @property
    def report_period(self) -> ReportPeriod:
        return ReportPeriod(self.first_day, self.last_day)


def period_key(period: ReportPeriod) -> str:
    """`2026-W48` for a week, else `first..last`."""
    return period.iso_week or f"{period.first.isoformat()}..{period.last.isoformat()}"


# -- reading ----------------------------------------------------------------------


def _query() -> Select[Any]:
    from core.store.models.threads import Client

    client = table(Client)
    return (
        select(
            DRAFT.c.id,
            DRAFT.c.client_id,
            client.c.name.label("client"),
            DRAFT.c.period,
            DRAFT.c.first_day,
            DRAFT.c.last_day,
            DRAFT.c.status,
            DRAFT.c.intro,
            DRAFT.c.channel,
            DRAFT.c.event_id,
            DRAFT.c.target,
            DRAFT.c.error,
            DRAFT.c.sends,
            DRAFT.c.sent_at,
            DELIVERY.c.status.label("delivery"),
            DELIVERY.c.error.label("delivery_error"),
        )
        .select_from(
            DRAFT.join(client, client.c.id == DRAFT.c.client_id).outerjoin(
                DELIVERY, DELIVERY.c.event_id == DRAFT.c.event_id
            )
        )
        .order_by(client.c.name, DRAFT.c.first_day)
    )


def drafts(engine: Engine, period: ReportPeriod | None = None) -> list[DraftView]:
    """The reports of a period (all of them without one), by client."""
    query = _query()
    if period is not None:
        query = query.where(DRAFT.c.period == period_key(period))
    with engine.connect() as connection:
        return [DraftView(**row._mapping) for row in connection.execute(query)]


def latest_period(engine: Engine) -> ReportPeriod | None:
    """The period of the latest reports prepared (the Reports page opens on it)."""
    with engine.connect() as connection:
        row = connection.execute(
            select(DRAFT.c.first_day, DRAFT.c.last_day)
            .order_by(DRAFT.c.last_day.desc(), DRAFT.c.first_day)
            .limit(1)
        ).first()
    return None if row is None else ReportPeriod(row.first_day, row.last_day)


def draft(engine: Engine, draft_id: int) -> DraftView:
    with engine.connect() as connection:
        row = connection.execute(_query().where(DRAFT.c.id == draft_id)).first()
    if row is None:
        raise ReportRefused(f"no report {draft_id}")
    return DraftView(**row._mapping)


# -- preparing -------------------------------------------------------------------------


def prepare(
    engine: Engine,
    client: str,
    period: ReportPeriod,
    zone: ZoneInfo,
    now: datetime,
    *,
    reader: Reader | None = None,
    sla: SlaReport | None = None,
) -> tuple[DraftView, ClientReport]:
    """The client's report of the period, its draft row made if there was none.

    An existing row is kept as it is (its status, its introduction): the
    weekly run and the command may prepare the same report many times.
    Raises PeriodError (a future period) and UnknownClient.
    """
    reader = reader if reader is not None else EngineReader(engine)
    report = client_report(reader, client, period, zone, now, sla=sla)
    client_id, _ = find_client(reader, report.client)
    key = period_key(period)
    with write(engine) as connection:
        found = connection.execute(
            select(DRAFT.c.id).where(DRAFT.c.client_id == client_id, DRAFT.c.period == key)
        ).first()
        if found is None:
            connection.execute(
                insert(DRAFT).values(
                    client_id=client_id,
                    period=key,
                    first_day=period.first,
                    last_day=period.last,
                    status=NOTHING if report.nothing_to_report else DRAFT_STATUS,
                    intro="",
                    sends=0,
                    created_at=now,
                    updated_at=now,
                )
            )
    with engine.connect() as connection:
        row = connection.execute(
            _query().where(DRAFT.c.client_id == client_id, DRAFT.c.period == key)
        ).one()
    return DraftView(**row._mapping), report


def set_intro(engine: Engine, draft_id: int, intro: str, now: datetime) -> None:
    """Keep the free-text introduction of a report not sent yet."""
    view = draft(engine, draft_id)
    if view.status == SENT:
        raise ReportRefused(f"{view.client} {view.period}: already sent, the introduction stays")
    with write(engine) as connection:
        connection.execute(
            update(DRAFT)
            .where(DRAFT.c.id == draft_id)
            .values(intro=intro.strip("\n"), updated_at=now)
        )


def skip(engine: Engine, draft_id: int, now: datetime) -> None:
    """Do not send this report (taken back with `unskip`)."""
    view = draft(engine, draft_id)
    if view.status == SENT:
        raise ReportRefused(f"{view.client} {view.period}: already sent")
    if view.status == SKIPPED:
        return
    with write(engine) as connection:
        connection.execute(
            update(DRAFT)
            .where(DRAFT.c.id == draft_id)
            .values(status=SKIPPED, skipped_from=view.status, updated_at=now)
        )


def unskip(engine: Engine, draft_id: int, now: datetime) -> None:
    """Take back a skip: the report is as it was before."""
    with write(engine) as connection:
        connection.execute(
            update(DRAFT)
            .where(DRAFT.c.id == draft_id, DRAFT.c.status == SKIPPED)
            .values(
                status=DRAFT.c.skipped_from,
                skipped_from=None,
                updated_at=now,
            )
        )


# -- sending -------------------------------------------------------------------------


def send(
    engine: Engine,
    ingestor: Ingestor,
    settings: Settings,
    client: str,
    period: ReportPeriod,
    staff_id: int,
    now: datetime,
    *,
    resend: bool = False,
    reader: Reader | None = None,
    sla: SlaReport | None = None,
) -> DraftView:
    """Send the client's report of the period through its channel; returns its row after.

    Refused (ReportRefused, the draft unchanged) when there is nothing to
    report, the channel has nowhere to take it (no Telegram group, no pinned
    task), or it was skipped; AlreadySent when it went out already, unless
    `resend`.
    """
    zone = ZoneInfo(settings.timezone)
    view, report = prepare(engine, client, period, zone, now, reader=reader, sla=sla)
    # A report the channel refused for good may go again as it is.
    if view.status == SENT and view.state != FAILED and not resend:
        raise AlreadySent(
            f"{view.client}: the report of {view.period} was sent already "
            f"({view.channel}, {view.sent_at:%Y-%m-%d %H:%M} UTC); --resend sends it again"
        )
    if view.status == SKIPPED:
        raise ReportRefused(f"{view.client}: the report of {view.period} was skipped")
    if report.nothing_to_report:
        raise ReportRefused(f"{view.client}: nothing to report for {view.period}")
    conf = settings.reports.of(view.client)
    channel = settings.reports.channel_of(view.client)
    number = view.sends + 1
    event_id: int | None = None
    target: str | None = None
    if channel == "email":
        target = str(
            write_email(
                Path(settings.reports.folder),
                report,
                view.intro,
                settings.agency,
                settings.reports.sender,
                conf.email,
                now,
                number,
            )
        )
    else:
        thread_id = _thread(engine, view.client_id, channel, conf.task)
        text = render(report, "text", intro=view.intro or None, agency=settings.agency)
        assert isinstance(text, str)
        event_id = _queue(ingestor, thread_id, staff_id, text, now, f"{view.id}:{number}")
    with write(engine) as connection:
        connection.execute(
            update(DRAFT)
            .where(DRAFT.c.id == view.id)
            .values(
                status=SENT,
                channel=channel,
                event_id=event_id,
                target=target,
                error=None,
                sends=number,
                sent_at=now,
                updated_at=now,
            )
        )
    return draft(engine, view.id)


def _queue(
    ingestor: Ingestor, thread_id: int, staff_id: int, text: str, now: datetime, key: str
) -> int:
    from core.conversations.actions import ActionRefused, act

    try:
        result = act(
            ingestor, thread_id, staff_id, EventKind.REPORT, text, clock=lambda: now, key=key
        )
    except ActionRefused as error:
        raise ReportRefused(str(error)) from None
    if result.event_id is None:
        raise ReportRefused(result.reason or "the report was not queued")
    return result.event_id


def _thread(engine: Engine, client_id: int, channel: str, task: str | None) -> int:
    """The thread that takes the client's report: its Telegram group, or its pinned task."""
    with engine.connect() as connection:
        if channel == "telegram":
            found = connection.execute(
                select(THREAD.c.id)
                .where(
                    THREAD.c.client_id == client_id,
                    THREAD.c.channel == "telegram",
                    THREAD.c.kind == ThreadKind.CHAT.value,
                )
                .order_by(THREAD.c.last_event_at.desc(), THREAD.c.id.desc())
                .limit(1)
            ).scalar()
            if found is None:
                raise ReportRefused("the client has no Telegram group in pmdesk")
            return int(found)
        if task is None:
            raise ReportRefused(
                "no Worksection task to comment on: set reports.clients.<name>.task"
            )
        found = connection.execute(
            select(REFS.c.thread_id).where(
                REFS.c.source == "worksection", REFS.c.external_id == str(task)
            )
        ).scalar()
        if found is None:
            raise ReportRefused(f"the Worksection task {task} is not known to pmdesk yet")
        return int(found)


# -- email drafts ------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^\w.-]+")


def email_message(
    report: ClientReport,
    intro: str,
    agency: str,
    sender: str,
    recipient: str | None,
    now: datetime,
) -> EmailMessage:
    """The report as an email: the text, the HTML as its body, the PDF attached."""
    text = render(report, "text", intro=intro or None, agency=agency)
    html = render(report, "html", intro=intro or None, agency=agency)
    pdf = render(report, "pdf", intro=intro or None, agency=agency)
    assert isinstance(text, str) and isinstance(html, str) and isinstance(pdf, bytes)
    message = EmailMessage()
    message["Subject"] = _subject(report, agency)
    if sender:
        message["From"] = sender
    if recipient:
        message["To"] = recipient
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain="pmdesk.invalid")
    # A draft: mail clients open it for editing rather than as received.
    message["X-Unsent"] = "1"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message.add_attachment(
        pdf, maintype="application", subtype="pdf", filename=_stem(report) + ".pdf"
    )
    return message


def write_email(
    folder: Path,
    report: ClientReport,
    intro: str,
    agency: str,
    sender: str,
    recipient: str | None,
    now: datetime,
    number: int = 1,
) -> Path:
    """Write the report's email draft in `folder`; returns its path. Whole or not at all."""
    message = email_message(report, intro, agency, sender, recipient, now)
    suffix = "" if number == 1 else f"-{number}"
    path = folder / f"{_stem(report)}{suffix}.eml"
    partial = path.with_name(path.name + ".part")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(bytes(message))
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise ReportRefused(f"the email draft could not be written in {folder}: {error}") from None
    return path


def _stem(report: ClientReport) -> str:
    client = _UNSAFE.sub("-", report.client).strip("-.") or "client"
    period = report.period.iso_week or f"{report.period.first}_{report.period.last}"
    return f"{client}-{period}"


def _subject(report: ClientReport, agency: str) -> str:
    period = report.period.iso_week or f"{report.period.first} - {report.period.last}"
    return f"{agency} - {report.client} - {period}" if agency else f"{report.client} - {period}"


# -- the weekly run ----------------------------------------------------------------------


def weekly_period(settings: Settings, now: datetime) -> ReportPeriod | None:
    """The week whose reports are due by `now`, or None (no weekly run, or not yet).

    The run of a week comes on its configured weekday and hour (local time);
    a day the agency is closed (a holiday) moves it to the next business day
    of its calendar. It reports on the week before. The latest run come
    gives the period: calling this every hour is what the services do.
    """
    moment = settings.reports.weekly_at()
    if moment is None:
        return None
    weekday, at = moment
    zone = ZoneInfo(settings.reports_timezone)
    calendar = settings.calendar(settings.reports_calendar_name)
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    for week_start in (monday, monday - timedelta(days=7)):
        day = week_start + timedelta(days=weekday)
        for _ in range(31):
            if calendar.is_business_day(day, zone):
                break
            day += timedelta(days=1)
        start = datetime.combine(day, at, zone)
        if start <= now:
            previous = week_start - timedelta(days=7)
            return ReportPeriod(previous, previous + timedelta(days=6))
    return None


@dataclass
class WeeklySummary:
    period: ReportPeriod
    prepared: int = 0
    sent: int = 0
    waiting: int = 0
    nothing: int = 0
    refused: list[str] | None = None


def run_weekly(
    engine: Engine,
    ingestor: Ingestor,
    settings: Settings,
    now: datetime,
    staff_id: int | None,
) -> WeeklySummary | None:
    """The weekly run: each opted-in client's report of the week before, drafted and, where
    `auto_send`, sent. Safe to run as often as wanted: a report is prepared and sent once."""
    from core.reports.content import UnknownClient
    from core.reports.period import PeriodError
    from core.sla.report import sla_report

    period = weekly_period(settings, now)
    if period is None:
        return None
    summary = WeeklySummary(period, refused=[])
    names = [name for name, conf in settings.reports.clients.items() if conf.weekly]
    if not names:
        return summary
    zone = ZoneInfo(settings.timezone)
    reader = EngineReader(engine)
    since, until = period.instants(zone)
    sla = sla_report(reader, since, until, now)
    for name in names:
        try:
            view, _ = prepare(engine, name, period, zone, now, reader=reader, sla=sla)
        except (UnknownClient, PeriodError) as error:
            summary.refused = [*(summary.refused or []), f"{name}: {error}"]
            continue
        summary.prepared += 1
        if view.status == NOTHING:
            summary.nothing += 1
            continue
        if view.status != DRAFT_STATUS:
            continue
        if not settings.reports.auto_send_of(name) or staff_id is None:
            summary.waiting += 1
            continue
        try:
            send(engine, ingestor, settings, name, period, staff_id, now, reader=reader, sla=sla)
        except ReportRefused as error:
            _failed(engine, view.id, str(error), now)
            summary.refused = [*(summary.refused or []), f"{name}: {error}"]
            continue
        summary.sent += 1
    return summary


def _failed(engine: Engine, draft_id: int, error: str, now: datetime) -> None:
    with write(engine) as connection:
        connection.execute(
            update(DRAFT)
            .where(DRAFT.c.id == draft_id)
            .values(status=FAILED, error=error, updated_at=now)
        )


def weekly_reports(engine: Engine, settings: Settings, clock: Now) -> WeeklySummary | None:
    """For the services' scheduler: the weekly run as of now, sent as the operator.

    Called every quarter of an hour and at start: nothing happens before the
    run's day and hour, and nothing twice after (see `run_weekly`).
    """
    from core.conversations.ingest import Ingestor
    from core.conversations.people import operator

    if settings.reports.weekly is None:
        return None
    staff = operator(engine, settings.operator)
    ingestor = Ingestor.for_settings(engine, settings, clock=clock)
    return run_weekly(engine, ingestor, settings, clock(), None if staff is None else staff.id)
