"""Clients' reports sent through their channel, once, and the weekly run (core.reports.drafts)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, func, select

from core.config.settings import CalendarConfig, ReportsConfig, Settings
from core.conversations.chats import chat_event
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.notify.drain import due_deliveries, due_notifications, mark_delivery_failed
from core.reports.drafts import (
    AlreadySent,
    ReportRefused,
    drafts,
    prepare,
    run_weekly,
    send,
    set_intro,
    skip,
    unskip,
    weekly_period,
)
from core.reports.period import ReportPeriod
from core.store.models.outbox import Delivery
from core.store.models.system import table
from core.store.models.threads import Clock
from core.store.reader import Reader
from tests.core.reports.week import NOW
from tests.support import make_event

PARIS = ZoneInfo("Europe/Paris")
W48 = ReportPeriod.week("2026-W48")
GROUP = -1001893400112


@pytest.fixture
def staff(engine: Engine) -> int:
    return add_staff(engine, "Alice Assistant", "assistant", ["alice@agency.example"], NOW)


@pytest.fixture
def acme_group(week: Reader, ingestor: Ingestor) -> None:
    """Acme's Telegram group, where Claire asked something on Thursday (still unanswered)."""
    at = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    ingestor.ingest([chat_event(GROUP, 7, at, "Acme", 5, "Claire", "Des nouvelles ?")])


@pytest.fixture
def pinned(week: Reader, ingestor: Ingestor) -> None:
    """Acme's pinned Worksection task, "Weekly reports"."""
    event = make_event("w1", 0, "staff", "task_created", task="9001", source="worksection")
    ingestor.ingest([event])


def with_reports(settings: Settings, tmp_path: Path, **reports: Any) -> Settings:
    conf = ReportsConfig(folder=str(tmp_path / "drafts"), sender="pm@agency.example", **reports)
    return settings.model_copy(update={"reports": conf, "timezone": "Europe/Paris"})


def deliveries(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(table(Delivery))).scalar_one()
        )


def test_an_email_draft_has_the_html_body_and_the_pdf_attached(
    week: Reader, engine: Engine, ingestor: Ingestor, settings: Settings, tmp_path: Path, staff: int
) -> None:
    conf = with_reports(settings, tmp_path, clients={"Acme": {"email": "claire@acme.example"}})
    view, _ = prepare(engine, "Acme", W48, PARIS, NOW)
    set_intro(engine, view.id, "Bonjour Claire,\n\nUne semaine chargée.", NOW)

    sent = send(engine, ingestor, conf, "acme", W48, staff, NOW)

    assert (sent.state, sent.channel, sent.sends) == ("sent", "email", 1)
    path = Path(str(sent.target))
    assert path.name == "Acme-2026-W48.eml"
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert message["To"] == "claire@acme.example"
    assert message["From"] == "pm@agency.example"
    assert "Acme" in message["Subject"] and "2026-W48" in message["Subject"]
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    body = html.get_content()
    assert body.index("Une semaine chargée.") < body.index("Homepage")
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "Acme-2026-W48.pdf"
    pdf = PdfReader(io.BytesIO(attachment.get_content()))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert len(pdf.pages) >= 1
    assert "Une semaine chargée." in text and "Homepage" in text


def test_a_report_is_not_sent_twice_but_may_be_resent_after_a_correction(
    week: Reader, engine: Engine, ingestor: Ingestor, settings: Settings, tmp_path: Path, staff: int
) -> None:
    conf = with_reports(settings, tmp_path)
    send(engine, ingestor, conf, "Acme", W48, staff, NOW)

    with pytest.raises(AlreadySent, match=r"sent already.*--resend"):
        send(engine, ingestor, conf, "Acme", W48, staff, NOW + timedelta(hours=1))
    assert sorted(path.name for path in (tmp_path / "drafts").iterdir()) == ["Acme-2026-W48.eml"]

    again = send(engine, ingestor, conf, "Acme", W48, staff, NOW, resend=True)
    assert again.sends == 2
    assert sorted(path.name for path in (tmp_path / "drafts").iterdir()) == [
        "Acme-2026-W48-2.eml",
        "Acme-2026-W48.eml",
    ]


@pytest.mark.usefixtures("acme_group")
def test_a_telegram_report_is_a_delivery_row_of_the_group_and_stops_no_clock(
    engine: Engine, ingestor: Ingestor, settings: Settings, tmp_path: Path, staff: int
) -> None:
    conf = with_reports(settings, tmp_path, channel="telegram")
    running_before = _running_clocks(engine)

    sent = send(engine, ingestor, conf, "Acme", W48, staff, NOW)

    [delivery] = due_deliveries(engine, NOW + timedelta(seconds=1), channel="telegram")
    assert (delivery.target, delivery.event_id) == (str(GROUP), sent.event_id)
    assert "Homepage" in delivery.text
    assert sent.state == "queued"
    # A report answers nothing: Claire's question still waits for its answer.
    assert _running_clocks(engine) == running_before
    # Sent again, refused: no second row for the channel to send.
    with pytest.raises(AlreadySent):
        send(engine, ingestor, conf, "Acme", W48, staff, NOW)
    assert deliveries(engine) == 1


@pytest.mark.usefixtures("acme_group")
def test_a_report_the_channel_refuses_for_good_is_failed_and_its_sender_told(
    engine: Engine, ingestor: Ingestor, settings: Settings, tmp_path: Path, staff: int
) -> None:
    conf = with_reports(settings, tmp_path, channel="telegram")
    sent = send(engine, ingestor, conf, "Acme", W48, staff, NOW)
    assert sent.event_id is not None
    # An outage first: retried later, still queued.
    mark_delivery_failed(engine, sent.event_id, NOW, "Bad Gateway", False, NOW + timedelta(1))
    assert [view.state for view in drafts(engine, W48)] == ["queued"]
    # Then refused for good.
    mark_delivery_failed(engine, sent.event_id, NOW, "Forbidden: bot was kicked", True)

    [view] = drafts(engine, W48)
    assert (view.state, view.problem) == ("failed", "Forbidden: bot was kicked")
    told = [row for row in due_notifications(engine, NOW) if row.kind == "reply_failed"]
    assert [row.recipient_id for row in told] == [staff]
    assert "bot was kicked" in told[0].text
    # Sent again once the bot is back in the group: a new delivery, no --resend needed.
    again = send(engine, ingestor, conf, "Acme", W48, staff, NOW + timedelta(hours=1))
    assert (again.state, again.sends) == ("queued", 2)
    assert again.event_id != sent.event_id
    assert deliveries(engine) == 2


@pytest.mark.usefixtures("pinned")
def test_a_worksection_report_is_a_comment_on_the_pinned_task(
    engine: Engine, ingestor: Ingestor, settings: Settings, tmp_path: Path, staff: int
) -> None:
    conf = with_reports(
        settings, tmp_path, channel="worksection", clients={"Acme": {"task": "9001"}}
    )
    sent = send(engine, ingestor, conf, "Acme", W48, staff, NOW)

    [delivery] = due_deliveries(engine, NOW + timedelta(seconds=1), channel="worksection")
    assert (delivery.target, delivery.event_id) == ("9001", sent.event_id)
    assert "Homepage" in delivery.text


def test_no_channel_to_take_it_is_a_clear_refusal_that_changes_nothing(
    week: Reader, engine: Engine, ingestor: Ingestor, settings: Settings, tmp_path: Path, staff: int
) -> None:
    conf = with_reports(settings, tmp_path, channel="worksection")
    with pytest.raises(ReportRefused, match=r"reports\.clients\.<name>\.task"):
        send(engine, ingestor, conf, "Acme", W48, staff, NOW)
    conf = with_reports(settings, tmp_path, channel="telegram")
    with pytest.raises(ReportRefused, match="no Telegram group"):
        send(engine, ingestor, conf, "Acme", W48, staff, NOW)
    [acme, *_] = drafts(engine, W48)
    assert (acme.client, acme.state) == ("Acme", "draft")
    assert deliveries(engine) == 0


def test_nothing_to_report_is_not_sent_and_a_skip_can_be_taken_back(
    week: Reader, engine: Engine, ingestor: Ingestor, settings: Settings, tmp_path: Path, staff: int
) -> None:
    conf = with_reports(settings, tmp_path)
    with pytest.raises(ReportRefused, match="nothing to report"):
        send(engine, ingestor, conf, "Crumb", W48, staff, NOW)
    view, _ = prepare(engine, "Bigco", W48, PARIS, NOW)
    skip(engine, view.id, NOW)
    with pytest.raises(ReportRefused, match="skipped"):
        send(engine, ingestor, conf, "Bigco", W48, staff, NOW)
    unskip(engine, view.id, NOW)
    assert send(engine, ingestor, conf, "Bigco", W48, staff, NOW).state == "sent"
    assert {view.client: view.state for view in drafts(engine, W48)} == {
        "Bigco": "sent",
        "Crumb": "nothing",
    }


def _running_clocks(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count())
                .select_from(table(Clock))
                .where(table(Clock).c.outcome == "running")
            ).scalar_one()
        )


# -- the weekly run ----------------------------------------------------------------------


def weekly_settings(settings: Settings, tmp_path: Path, **reports: Any) -> Settings:
    office = CalendarConfig(timezone="Europe/Paris", country="FR", closed=[date(2026, 11, 30)])
    conf = with_reports(settings, tmp_path, weekly="mon 09:00", calendar="office", **reports)
    return conf.model_copy(update={"calendars": {"office": office}})


def paris(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def test_the_weekly_run_comes_on_its_day_and_a_holiday_moves_it_to_the_next_business_day(
    settings: Settings, tmp_path: Path
) -> None:
    conf = weekly_settings(settings, tmp_path)
    # An ordinary Monday: the week before is due from 09:00.
    assert weekly_period(conf, paris(2026, 11, 23, 8, 59)) == ReportPeriod.week("2026-W46")
    assert weekly_period(conf, paris(2026, 11, 23, 9, 0)) == ReportPeriod.week("2026-W47")
    # Monday 30 November is closed: the run waits for Tuesday at 09:00.
    assert weekly_period(conf, paris(2026, 11, 30, 10, 0)) == ReportPeriod.week("2026-W47")
    assert weekly_period(conf, paris(2026, 12, 1, 8, 59)) == ReportPeriod.week("2026-W47")
    assert weekly_period(conf, paris(2026, 12, 1, 9, 0)) == ReportPeriod.week("2026-W48")
    # A public holiday (Easter Monday 2026 in France) too.
    assert weekly_period(conf, paris(2026, 4, 6, 12, 0)) == ReportPeriod.week("2026-W13")
    assert weekly_period(conf, paris(2026, 4, 7, 9, 0)) == ReportPeriod.week("2026-W14")
    # No weekly run configured: nothing is ever due.
    assert weekly_period(with_reports(settings, tmp_path), paris(2026, 12, 1, 9, 0)) is None


def test_the_weekly_run_drafts_each_client_sends_the_automatic_ones_once(
    week: Reader, engine: Engine, ingestor: Ingestor, settings: Settings, tmp_path: Path, staff: int
) -> None:
    conf = weekly_settings(
        settings,
        tmp_path,
        clients={"Acme": {}, "Bigco": {"auto_send": True}, "Crumb": {}},
    )
    tuesday = paris(2026, 12, 1, 9, 0).astimezone(UTC)

    first = run_weekly(engine, ingestor, conf, tuesday, staff)
    again = run_weekly(engine, ingestor, conf, tuesday + timedelta(hours=1), staff)

    assert first is not None and again is not None
    assert first.period == W48
    assert (first.prepared, first.sent, first.waiting, first.nothing) == (3, 1, 1, 1)
    assert (again.sent, again.waiting) == (0, 1)
    assert {view.client: view.state for view in drafts(engine, W48)} == {
        "Acme": "draft",
        "Bigco": "sent",
        "Crumb": "nothing",
    }
    assert [path.name for path in (tmp_path / "drafts").iterdir()] == ["Bigco-2026-W48.eml"]


def test_the_weekly_run_waits_on_the_closed_monday(
    week: Reader, engine: Engine, ingestor: Ingestor, settings: Settings, tmp_path: Path, staff: int
) -> None:
    conf = weekly_settings(settings, tmp_path, clients={"Bigco": {"auto_send": True}})
    monday = paris(2026, 11, 30, 9, 30).astimezone(UTC)
    summary = run_weekly(engine, ingestor, conf, monday, staff)
    assert summary is not None and summary.period == ReportPeriod.week("2026-W47")
    assert drafts(engine, W48) == []


def test_the_services_run_it_as_the_operator_when_their_clock_reaches_the_hour(
    week: Reader, engine: Engine, settings: Settings, tmp_path: Path, staff: int
) -> None:
    from core.reports.drafts import weekly_reports
    from tests.support import MovableClock

    conf = weekly_settings(settings, tmp_path, clients={"Bigco": {"auto_send": True}})
    clock = MovableClock(paris(2026, 12, 1, 8, 45).astimezone(UTC))
    before = weekly_reports(engine, conf, clock)
    assert before is not None and before.period == ReportPeriod.week("2026-W47")
    assert drafts(engine, W48) == []

    clock.advance(minutes=15)
    after = weekly_reports(engine, conf, clock)
    assert after is not None and (after.period, after.sent) == (W48, 1)
    assert weekly_reports(engine, with_reports(settings, tmp_path), clock) is None
