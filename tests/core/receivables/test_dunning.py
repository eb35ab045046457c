"""Dunning: levels in order, one step a day, pauses, fees, interest, one message per client."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from babel.numbers import format_currency
from sqlalchemy import Engine, func, select, update

from core.base.kinds import StaffRole
from core.config.settings import Settings
from core.conversations.people import add_staff
from core.receivables.dunning import (
    SENT,
    daily_dunning,
    flagged_clients,
    interest_cents,
    list_reminders,
    mark_reminder,
    mark_todays_sent,
    record_dispute,
    record_promise,
    run_dunning,
)
from core.receivables.invoices import import_invoices
from core.store.models.outbox import Notification
from core.store.models.receivables import DunningStep, Invoice, Reminder
from core.store.models.system import Audit, table
from tests.support import MovableClock

MONDAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
HEADER = "number;client;issued_on;due_on;currency;total\n"


@pytest.fixture
def office() -> Settings:
    """French office hours and holidays; Bigco reads English."""
    return Settings(
        agency="Studio Nord",
        clients={"Bigco": {"language": "en"}},
        receivables={"calendar": "office"},
    )


def load(engine: Engine, settings: Settings, tmp_path: Path, *lines: str) -> None:
    path = tmp_path / f"invoices-{len(list(tmp_path.iterdir()))}.csv"
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    summary = import_invoices(engine, settings, path, clock=lambda: NOW)
    assert not summary.rejections


def run(engine: Engine, settings: Settings, day: date) -> Any:
    return run_dunning(engine, settings, day, datetime.combine(day, NOW.timetz()))


def invoice(engine: Engine, number: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            select(table(Invoice)).where(table(Invoice).c.number == number)
        ).one()


def steps(engine: Engine, number: str | None = None) -> list[tuple[str, int, date]]:
    step, inv = table(DunningStep), table(Invoice)
    query = (
        select(inv.c.number, step.c.level, step.c.run_on)
        .join(inv, inv.c.id == step.c.invoice_id)
        .order_by(step.c.run_on, inv.c.number)
    )
    if number is not None:
        query = query.where(inv.c.number == number)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]  # type: ignore[misc]


def count(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table(model))).scalar())


def pay(engine: Engine, number: str, cents: int) -> None:
    """What the payment matching does: paid_cents follows the allocations."""
    with engine.begin() as connection:
        connection.execute(
            update(table(Invoice)).where(table(Invoice).c.number == number).values(paid_cents=cents)
        )


def test_levels_come_in_order_one_a_day_even_for_a_long_overdue_invoice(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    load(engine, office, tmp_path, "F-1;Acme;01/09/2026;01/10/2026;EUR;1000,00")

    days = [date(2026, 11, day) for day in (23, 24, 25, 26, 27)]
    for day in days:
        run(engine, office, day)

    assert steps(engine) == [
        ("F-1", level, day) for level, day in zip((1, 2, 3, 4), days[:4], strict=True)
    ]
    assert invoice(engine, "F-1").dunning_level == 4
    assert invoice(engine, "F-1").next_step == "all reminder levels done: call the client"


def test_each_level_waits_for_its_day_offset(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    load(engine, office, tmp_path, "F-1;Acme;01/11/2026;20/11/2026;EUR;100,00")

    assert run(engine, office, date(2026, 11, 20)).steps == 0  # due today: not late yet
    assert run(engine, office, date(2026, 11, 23)).steps == 1  # D+3 >= D+1: friendly
    for day in (24, 25, 26, 27, 30):
        assert run(engine, office, date(2026, 11, day)).steps == 0
    # D+15 is Saturday 5 December: the firm reminder is planned for, and goes out on, Monday.
    assert invoice(engine, "F-1").next_step_on == date(2026, 12, 7)
    assert invoice(engine, "F-1").next_step == "firm reminder on 2026-12-07 (100.00 due)"
    assert run(engine, office, date(2026, 12, 4)).steps == 0
    assert run(engine, office, date(2026, 12, 5)).business_day is False
    assert run(engine, office, date(2026, 12, 7)).steps == 1
    assert steps(engine)[-1] == ("F-1", 2, date(2026, 12, 7))


def test_a_day_run_twice_adds_nothing(engine: Engine, office: Settings, tmp_path: Path) -> None:
    add_staff(engine, "Ana", StaffRole.ASSISTANT, ["ana@studio.example"], NOW)
    office.receivables.levels[0].action = "alert_staff"
    load(
        engine,
        office,
        tmp_path,
        "F-1;Acme;01/09/2026;01/10/2026;EUR;10,00",
        "F-2;Bigco;01/09/2026;01/11/2026;EUR;20,00",
    )
    run(engine, office, date(2026, 11, 23))
    run(engine, office, date(2026, 11, 24))
    before = [count(engine, model) for model in (Reminder, DunningStep, Notification)]

    again = run(engine, office, date(2026, 11, 24))

    assert (again.reminders, again.steps, again.alerts) == ([], 0, 0)
    assert [count(engine, model) for model in (Reminder, DunningStep, Notification)] == before
    assert before == [2, 4, 2]


def test_reminders_run_on_business_days_of_the_calendar_only(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    load(engine, office, tmp_path, "F-1;Acme;01/09/2026;01/10/2026;EUR;10,00")

    saturday = run(engine, office, date(2026, 11, 28))
    christmas = run(engine, office, date(2026, 12, 25))  # a Friday, public holiday in France

    assert (saturday.business_day, christmas.business_day) == (False, False)
    assert count(engine, DunningStep) == 0
    assert run(engine, office, date(2026, 12, 28)).steps == 1


def test_one_message_per_client_listing_each_invoice_with_its_level(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    load(
        engine,
        office,
        tmp_path,
        "F-1;Acme;01/09/2026;01/10/2026;EUR;100,00",
        "F-3;Bigco;01/10/2026;02/11/2026;EUR;50,00",
    )
    run(engine, office, date(2026, 11, 23))
    load(engine, office, tmp_path, "F-2;Acme;01/10/2026;20/11/2026;EUR;200,00")

    summary = run(engine, office, date(2026, 11, 24))

    assert len(summary.reminders) == 2
    drafts = {view.client: view for view in list_reminders(engine) if view.id in summary.reminders}
    assert drafts["Acme"].invoices == (("F-1", 2, "firm reminder"), ("F-2", 1, "friendly reminder"))
    assert drafts["Bigco"].invoices == (("F-3", 2, "firm reminder"),)
    assert "F-1" in drafts["Acme"].text and "F-2" in drafts["Acme"].text
    assert "F-3" not in drafts["Acme"].text


def test_a_client_already_written_to_today_waits_for_the_next_run(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    load(engine, office, tmp_path, "F-1;Acme;01/09/2026;01/10/2026;EUR;100,00")
    run(engine, office, date(2026, 11, 23))
    load(engine, office, tmp_path, "F-2;Acme;01/10/2026;20/11/2026;EUR;200,00")

    assert run(engine, office, date(2026, 11, 23)).steps == 0
    assert steps(engine, "F-2") == []
    assert run(engine, office, date(2026, 11, 24)).steps == 2


def test_a_promise_pauses_reminders_until_its_day_has_passed(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    load(engine, office, tmp_path, "F-1;Acme;01/09/2026;01/10/2026;EUR;100,00")
    run(engine, office, date(2026, 11, 23))

    record_promise(engine, office, "F-1", date(2026, 11, 26), "ana", NOW, today=MONDAY)

    for day in (24, 25, 26):
        assert run(engine, office, date(2026, 11, day)).steps == 0
    assert invoice(engine, "F-1").next_step_on == date(2026, 11, 27)
    assert run(engine, office, date(2026, 11, 27)).steps == 1
    with pytest.raises(ValueError, match="already past"):
        record_promise(engine, office, "F-1", date(2026, 11, 20), "ana", NOW, today=MONDAY)


def test_a_dispute_stops_reminders_until_it_is_settled(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    load(engine, office, tmp_path, "F-1;Acme;01/09/2026;01/10/2026;EUR;100,00")

    record_dispute(engine, office, "F-1", "wrong day rate", "ana", NOW)
    run(engine, office, date(2026, 11, 23))
    run(engine, office, date(2026, 11, 24))

    assert steps(engine) == []
    assert invoice(engine, "F-1").state == "disputed"
    record_dispute(engine, office, "F-1", None, "ana", NOW, resolved=True)
    assert run(engine, office, date(2026, 11, 25)).steps == 1
    with engine.connect() as connection:
        actions = list(connection.execute(select(table(Audit).c.action)).scalars())
    assert actions == ["dispute", "dispute_resolved"]


def test_a_payment_pauses_and_the_next_step_follows_the_new_balance(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    load(engine, office, tmp_path, "F-1;Acme;01/09/2026;01/10/2026;EUR;1000,00")
    run(engine, office, date(2026, 11, 23))
    assert "(1000.00 due)" in invoice(engine, "F-1").next_step

    pay(engine, "F-1", 40000)
    paused = run(engine, office, date(2026, 11, 24))

    assert paused.steps == 0
    row = invoice(engine, "F-1")
    assert row.paused_until == date(2026, 12, 1)  # payment_pause_days = 7
    assert row.next_step == "firm reminder on 2026-12-01 (600.00 due)"
    for day in (25, 26, 27, 30):
        assert run(engine, office, date(2026, 11, day)).steps == 0
    assert run(engine, office, date(2026, 12, 1)).steps == 1
    assert "600,00" in list_reminders(engine)[0].text

    pay(engine, "F-1", 100000)
    assert run(engine, office, date(2026, 12, 2)).steps == 0
    assert run(engine, office, date(2026, 12, 20)).steps == 0


def test_the_recovery_fee_is_claimed_once_and_interest_is_shown_per_day(
    engine: Engine, tmp_path: Path
) -> None:
    settings = Settings(
        receivables={
            "calendar": "24/7",
            "levels": [
                {
                    "name": "formal notice",
                    "days": 30,
                    "template": "formal_notice",
                    "fee": True,
                    "interest": True,
                },
                {
                    "name": "last notice",
                    "days": 40,
                    "template": "formal_notice",
                    "fee": True,
                    "interest": True,
                },
            ],
        }
    )
    load(
        engine,
        settings,
        tmp_path,
        "F-1;Acme;01/09/2026;29/09/2026;EUR;1000,00",
        "U-1;Acme;01/09/2026;29/09/2026;USD;1000,00",
    )

    run(engine, settings, date(2026, 11, 23))
    run(engine, settings, date(2026, 11, 24))

    with engine.connect() as connection:
        rows = connection.execute(
            select(table(Invoice).c.number, table(DunningStep))
            .join(table(Invoice))
            .order_by(table(DunningStep).c.id)
        ).all()
    fees = [(row.number, row.level, row.fee_cents) for row in rows]
    assert fees == [("F-1", 1, 4000), ("U-1", 1, 0), ("F-1", 2, 0), ("U-1", 2, 0)]
    assert invoice(engine, "F-1").fee_cents == 4000
    # 1000.00 EUR at 2.15 + 10 = 12.15 % a year, 55 days late on the 23rd.
    assert interest_cents(100000, date(2026, 9, 29), date(2026, 11, 23), Decimal("12.15")) == 1831
    assert rows[0].interest_cents == 1831
    assert rows[2].interest_cents == 1864  # 56 days on the 24th
    first = list_reminders(engine, None)[-1]
    assert format_currency(18.31, "EUR", locale="fr_FR") in first.text
    assert format_currency(40, "EUR", locale="fr_FR") in first.text
    assert format_currency(1058.31, "EUR", locale="fr_FR") in first.text
    assert "12,15 %" in first.text


def test_interest_is_nothing_before_the_due_date() -> None:
    assert interest_cents(100000, date(2026, 11, 23), date(2026, 11, 23), Decimal(12)) == 0
    assert interest_cents(100000, date(2026, 11, 22), date(2026, 11, 23), Decimal("36.5")) == 100


def test_reminders_speak_french_or_english_with_local_amounts_and_dates(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    load(
        engine,
        office,
        tmp_path,
        "F-1;Acme;01/10/2026;20/11/2026;EUR;1234,50",
        "F-2;Bigco;01/10/2026;20/11/2026;EUR;1234,50",
    )

    run(engine, office, MONDAY)

    drafts = {view.client: view for view in list_reminders(engine)}
    french, english = drafts["Acme"], drafts["Bigco"]
    assert (french.language, english.language) == ("fr", "en")
    assert "Total à régler" in french.text and "20 novembre 2026" in french.text
    assert format_currency(1234.5, "EUR", locale="fr_FR") in french.text
    assert "Total to pay" in english.text and "November 20, 2026" in english.text
    assert "€1,234.50" in english.text
    assert "Studio Nord" in french.text and "Studio Nord" in english.text
    reference = invoice(engine, "F-1").creditor_reference
    assert f"{reference[:4]} " in french.text


def test_alert_and_suspension_levels_tell_the_assistant_on_duty(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    ana = add_staff(engine, "Ana", StaffRole.ASSISTANT, ["ana@studio.example"], NOW)
    office.receivables.levels[1].action = "alert_staff"
    load(engine, office, tmp_path, "F-1;Acme;01/09/2026;01/10/2026;EUR;100,00")

    summaries = [run(engine, office, date(2026, 11, day)) for day in (23, 24, 25, 26)]

    assert [len(summary.reminders) for summary in summaries] == [1, 0, 1, 0]
    assert [summary.alerts for summary in summaries] == [0, 1, 0, 1]
    assert summaries[3].flagged_clients == ["Acme"]
    with engine.connect() as connection:
        notes = connection.execute(select(table(Notification)).order_by("id")).all()
    assert [(n.recipient_id, n.kind, n.invoice_id) for n in notes] == [
        (ana, "invoice_dunning", invoice(engine, "F-1").id)
    ] * 2
    assert "flag the client for service suspension" in notes[1].text
    assert flagged_clients(engine) == ["Acme"]
    pay(engine, "F-1", 10000)
    assert flagged_clients(engine) == []


def test_marking_a_draft_sent_is_audited_and_happens_once(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    load(engine, office, tmp_path, "F-1;Acme;01/09/2026;01/10/2026;EUR;100,00")
    [draft] = run(engine, office, MONDAY).reminders

    mark_reminder(engine, draft, SENT, "ana", NOW)

    assert list_reminders(engine) == []
    assert list_reminders(engine, SENT)[0].id == draft
    with pytest.raises(ValueError, match="already sent"):
        mark_reminder(engine, draft, SENT, "ana", NOW)
    with engine.connect() as connection:
        audit = connection.execute(select(table(Audit))).one()
    assert (audit.action, audit.entity, audit.entity_id) == ("reminder_sent", "reminder", draft)


def test_today_s_drafts_to_a_client_are_marked_sent_together_and_no_other(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    load(
        engine,
        office,
        tmp_path,
        "F-1;Acme;01/09/2026;01/10/2026;EUR;100,00",
        "F-2;Bigco;01/09/2026;01/10/2026;EUR;50,00",
    )
    run(engine, office, MONDAY)
    drafted = {view.client: view.id for view in list_reminders(engine)}
    tuesday = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

    # Monday's draft is not today's on Tuesday: nothing is marked, and it says so.
    with pytest.raises(LookupError, match="no reminder drafted today for Acme"):
        mark_todays_sent(engine, office, "Acme", "ana", tuesday)

    assert mark_todays_sent(engine, office, "Acme", "ana", NOW) == [drafted["Acme"]]
    assert [view.client for view in list_reminders(engine)] == ["Bigco"]
    assert list_reminders(engine, SENT)[0].id == drafted["Acme"]
    with pytest.raises(LookupError, match="no reminder drafted today for Acme"):
        mark_todays_sent(engine, office, "Acme", "ana", NOW)


def test_the_scheduler_entry_runs_once_the_hour_has_come(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    load(engine, office, tmp_path, "F-1;Acme;01/09/2026;01/10/2026;EUR;100,00")

    early = daily_dunning(engine, office, lambda: datetime(2026, 11, 23, 7, 30, tzinfo=UTC))
    on_time = daily_dunning(engine, office, lambda: datetime(2026, 11, 23, 8, 1, tzinfo=UTC))
    later = daily_dunning(engine, office, lambda: datetime(2026, 11, 23, 15, 0, tzinfo=UTC))

    assert early is None  # 08:30 in Paris, before run_at 09:00
    assert on_time is not None and on_time.steps == 1  # 09:01 in Paris
    assert later is not None and later.steps == 0


def test_an_invoice_walked_day_by_day_from_issue_to_the_final_level(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    """Three months of daily runs on a moving clock: a promise, a partial payment, every level."""
    load(engine, office, tmp_path, "F-7;Acme;02/11/2026;02/12/2026;EUR;2000,00")
    clock = MovableClock(datetime(2026, 11, 2, 9, 30, tzinfo=UTC))  # 10:30 in Paris
    add_staff(engine, "Ana", StaffRole.ASSISTANT, ["ana@studio.example"], NOW)
    ran_on: list[date] = []
    due = date(2026, 12, 2)
    while clock().date() <= date(2027, 2, 15):
        today = clock().date()
        if today == date(2026, 12, 21):  # after the firm reminder: a promise for the 28th
            record_promise(engine, office, "F-7", date(2026, 12, 28), "ana", clock(), today=today)
        if today == date(2027, 1, 4):  # 500 EUR of 2,000 arrive
            pay(engine, "F-7", 50_000)
        summary = daily_dunning(engine, office, clock)
        assert summary is not None  # past the run's hour
        if summary.steps:
            ran_on.append(today)
        clock.advance(days=1)

    levels = steps(engine, "F-7")
    assert [level for _, level, _ in levels] == [1, 2, 3, 4]
    days = [run_on for _, _, run_on in levels]
    assert days == ran_on
    assert all(day.weekday() < 5 and day != date(2026, 12, 25) for day in days)
    assert days[0] == date(2026, 12, 3)  # D+1
    assert days[1] == date(2026, 12, 17)  # D+15
    # Nothing during the promise (to the 28th) nor the week's pause after the payment.
    assert not [d for d in days if date(2026, 12, 21) <= d <= date(2026, 12, 28)]
    assert not [d for d in days if date(2027, 1, 4) <= d < date(2027, 1, 11)]
    assert (days[2] - due).days >= 30 and (days[3] - due).days >= 45
    # A draft for each letter; the last level flags the client instead of writing.
    reminders = sorted(list_reminders(engine), key=lambda r: r.id)
    assert [r.run_on for r in reminders] == days[:3]
    letters = [reminder.text for reminder in reminders]
    assert format_currency(2000, "EUR", locale="fr_FR") in letters[0]
    # The formal notice follows the new balance, and claims the recovery fee once.
    assert format_currency(1500, "EUR", locale="fr_FR") in letters[2]
    fee = format_currency(40, "EUR", locale="fr_FR")
    assert fee in letters[2] and fee not in letters[1]
    assert flagged_clients(engine) == ["Acme"]
