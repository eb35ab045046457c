"""The receivables digest: one row per recipient and day, what it says, who gets it, when."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from core.config.settings import Settings
from core.conversations.people import add_staff
from core.receivables.digest import CLIENTS_SHOWN, REVIEW_SHOWN, queue_daily_digest, read_digest
from core.receivables.dunning import run_dunning
from core.receivables.invoices import import_invoices
from core.receivables.matching.matcher import match_new_lines
from core.store.db import insert_many, write
from core.store.models.outbox import Notification
from core.store.models.receivables import BankTransaction
from core.store.models.system import table

MONDAY = date(2026, 11, 23)
# 09:30 in Paris: the reminders' hour (09:00 by default) has come.
AFTER_RUN = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
HEADER = "number;client;issued_on;due_on;currency;total\n"
HOSTILE = "<b>Dupont & Fils</b> <a href='javascript:x'>"


@pytest.fixture
def office() -> Settings:
    return Settings(agency="Studio Nord", receivables={"calendar": "office"})


def load(engine: Engine, settings: Settings, tmp_path: Path, *lines: str) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    summary = import_invoices(engine, settings, path, clock=lambda: AFTER_RUN)
    assert not summary.rejections


def bank_lines(engine: Engine, *amounts: int, state: str = "review") -> None:
    rows = [
        {
            "dedupe_key": f"k{index}-{amount}", "account_iban": "",
            "booking_date": date(2026, 11, 20) + timedelta(days=index % 3), "value_date": None,
            "amount_cents": amount, "currency": "EUR", "counterparty_name": "Somebody",
            "counterparty_iban": None, "counterparty_account_raw": None, "end_to_end_id": None,
            "bank_reference": None, "structured_reference": None, "text": "virement",
            "file_hash": "h", "file_name": "f", "position": index, "imported_at": AFTER_RUN,
            "match_state": state, "matched_by": None, "matched_at": None,
        }
        for index, amount in enumerate(amounts)
    ]  # fmt: skip
    with write(engine) as connection:
        insert_many(connection, table(BankTransaction), rows)


def digests(engine: Engine) -> list[Any]:
    notification = table(Notification)
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(notification).where(notification.c.kind == "receivables_digest")
            )
        )


@pytest.fixture
def ledger(engine: Engine, office: Settings, tmp_path: Path) -> Engine:
    """Ana on duty, a manager, two clients with reminders due today."""
    add_staff(engine, "Ana", "assistant", ["ana@agency.example"], AFTER_RUN)
    add_staff(engine, "Max", "manager", ["max@agency.example"], AFTER_RUN)
    load(
        engine,
        office,
        tmp_path,
        "F-1;Acme;2026-10-01;2026-11-20;EUR;100,00",
        "F-2;Acme;2026-09-01;2026-11-01;EUR;250,00",
        f"F-3;{HOSTILE};2026-10-01;2026-11-20;EUR;80,00",
    )
    summary = run_dunning(engine, office, MONDAY, AFTER_RUN)
    assert len(summary.reminders) == 2
    return engine


def test_one_digest_per_recipient_and_day_however_often_it_is_asked(
    ledger: Engine, office: Settings
) -> None:
    assert queue_daily_digest(ledger, office, lambda: AFTER_RUN) == 1
    assert queue_daily_digest(ledger, office, lambda: AFTER_RUN + timedelta(hours=3)) == 0
    [row] = digests(ledger)
    assert row.dedupe_key.startswith("digest:2026-11-23:")
    assert row.status == "pending" and row.thread_id is None
    # The next business day is another digest (here: the review queue is what is left).
    bank_lines(ledger, 1234)
    tuesday = AFTER_RUN + timedelta(days=1)
    assert queue_daily_digest(ledger, office, lambda: tuesday) == 1
    assert [r.dedupe_key[:17] for r in digests(ledger)] == [
        "digest:2026-11-23",
        "digest:2026-11-24",
    ]


def test_it_goes_to_the_assistant_on_duty_only(ledger: Engine, office: Settings) -> None:
    queue_daily_digest(ledger, office, lambda: AFTER_RUN)
    [row] = digests(ledger)
    with ledger.connect() as connection:
        name = connection.execute(
            text("SELECT name FROM staff WHERE id = :id"), {"id": row.recipient_id}
        ).scalar()
    assert name == "Ana"


@pytest.mark.parametrize(
    ("when", "why"),
    [
        (datetime(2026, 11, 23, 7, 0, tzinfo=UTC), "08:00 in Paris: before the reminders' hour"),
        (datetime(2026, 11, 28, 10, 0, tzinfo=UTC), "a Saturday: the reminders do not run"),
        (datetime(2026, 12, 25, 10, 0, tzinfo=UTC), "Christmas: a public holiday"),
    ],
)
def test_nothing_before_the_hour_or_on_a_closed_day(
    ledger: Engine, office: Settings, when: datetime, why: str
) -> None:
    assert queue_daily_digest(ledger, office, lambda: when) == 0, why
    assert digests(ledger) == []


def test_nothing_without_an_assistant_or_without_anything_to_say(
    engine: Engine, office: Settings, ledger: Engine
) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE staff SET active = false WHERE role = 'assistant'"))
    assert queue_daily_digest(engine, office, lambda: AFTER_RUN) == 0
    with engine.begin() as connection:
        connection.execute(text("UPDATE staff SET active = true"))
        connection.execute(text("DELETE FROM dunningstep"))
        connection.execute(text("DELETE FROM reminder"))
    assert read_digest(engine, MONDAY).empty
    assert queue_daily_digest(engine, office, lambda: AFTER_RUN) == 0
    assert digests(engine) == []


def test_it_lists_todays_reminders_per_client_and_the_largest_lines_to_review(
    ledger: Engine, office: Settings
) -> None:
    bank_lines(ledger, 5000, 90000, 1200, 70000, 300, 42, 800000)
    queue_daily_digest(ledger, office, lambda: AFTER_RUN)
    [row] = digests(ledger)
    lines = row.text.split("\n")

    assert lines[0] == "Receivables · Mon 23 Nov 2026"
    assert "2 reminders drafted today" in row.text
    acme = next(line for line in lines if line.startswith("• Acme:"))
    assert "F-2 friendly reminder" in acme and "F-1 friendly reminder" in acme
    # Names are stored as written: the bot escapes them when it sends.
    assert f"• {HOSTILE}: F-3 friendly reminder" in lines
    assert "7 statement lines awaiting review" in row.text
    listed = [line for line in lines if line.startswith("• 2026-")]
    assert len(listed) == REVIEW_SHOWN
    assert [line.split(" · ")[1] for line in listed] == [
        "8,000.00 EUR", "900.00 EUR", "700.00 EUR", "50.00 EUR", "12.00 EUR",
    ]  # fmt: skip
    assert lines[-1] == "… and 2 more"


def test_a_reminder_sent_already_is_marked_and_a_candidate_is_named(
    ledger: Engine, office: Settings
) -> None:
    with ledger.begin() as connection:
        connection.execute(text("UPDATE reminder SET status = 'sent' WHERE id = 1"))
    bank_lines(ledger, 8000, state="new")  # F-3's amount from an unknown payer
    assert match_new_lines(ledger, office.banks, AFTER_RUN).review == 1
    digest = read_digest(ledger, MONDAY)
    assert [r.status for r in digest.reminders].count("sent") == 1
    queue_daily_digest(ledger, office, lambda: AFTER_RUN)
    [row] = digests(ledger)
    assert "[sent]" in row.text
    review = next(line for line in row.text.split("\n") if line.startswith("• 2026-"))
    assert "80.00 EUR · Somebody · “virement” → F-3 (" in review


def test_many_clients_are_counted_past_what_fits_in_one_message(
    engine: Engine, office: Settings, tmp_path: Path
) -> None:
    add_staff(engine, "Ana", "assistant", ["ana@agency.example"], AFTER_RUN)
    long_name = "Établissements " + "Très Longue Raison Sociale " * 2
    load(
        engine,
        office,
        tmp_path,
        *(f"G-{n};{long_name}{n};2026-10-01;2026-11-20;EUR;10,00" for n in range(40)),
    )
    run_dunning(engine, office, MONDAY, AFTER_RUN)
    bank_lines(engine, 1000, 2000)
    queue_daily_digest(engine, office, lambda: AFTER_RUN)
    [row] = digests(engine)
    lines = row.text.split("\n")
    named = [line for line in lines if line.startswith("• Établissements")]
    assert 0 < len(named) < CLIENTS_SHOWN  # cut by length before the count limit
    assert f"… and {40 - len(named)} more" in lines
    assert "2 statement lines awaiting review" in row.text  # the review section survives
    assert len(row.text) < 3000
