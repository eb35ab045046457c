"""A small agency for the dashboard's tests: fixed data and a frozen clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, insert

from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.store.models.receivables import Invoice
from core.store.models.system import table
from core.store.models.threads import Client
from tests.support import START, MovableClock, make_event

HOSTILE = "[bold red]URGENT[/] \x1b[31mred\x1b[0m [link=https://evil.example]click[/link]\x07"


@pytest.fixture
def agency(engine: Engine, ingestor: Ingestor, clock: MovableClock) -> Engine:
    """Three clients, a team of three, clocks in every state, invoices in every bucket.

    The clock stands at START + 20 minutes: T1 is answered, T2 breached,
    T3 inside its warning window, T4 safe, and a hostile message waits on T5.
    """
    ana = add_staff(engine, "Ana Assistant", "assistant", ["ana@agency.example"], START)
    add_staff(engine, "Pat PM", "pm", ["pat@agency.example"], START)
    add_staff(engine, "Sam Staff", "specialist", ["sam@agency.example"], START)
    ingestor.ingest(
        [
            make_event("t1-m", 0, task="T1", client="Acme", text="Can you fix the banner?"),
            make_event("t1-r", 4, task="T1", client="Acme", role="staff", text="On it."),
            make_event("t2-m", 2, task="T2", client="Bigco", text="Site is down!"),
            make_event("t3-m", 8, task="T3", client="Acme", text="Any news on the logo?"),
            make_event(
                "t3-n",
                9,
                task="T3",
                client="Acme",
                role="staff",
                internal=True,
                text="ask Pat about the logo",
            ),
            make_event("t4-m", 18, task="T4", client="Corvid", text="New photos attached."),
            make_event("t5-m", 19, task="T5", client="Corvid", text=HOSTILE),
        ]
    )
    del ana
    today = date(2026, 11, 23)
    with engine.begin() as connection:
        clients = {
            name: connection.execute(
                insert(table(Client))
                .values(name=name, created_at=START)
                .returning(table(Client).c.id)
            ).scalar_one()
            for name in ("Delta Invoicing",)
        }
        for number, days, total in (
            ("F-101", 5, 120_000),
            ("F-102", 45, 50_050),
            ("F-103", 120, 9_900),
        ):
            connection.execute(
                insert(table(Invoice)).values(
                    number=number,
                    client_id=clients["Delta Invoicing"],
                    issued_on=today - timedelta(days=days + 30),
                    due_on=today - timedelta(days=days),
                    total_cents=total,
                    paid_cents=0,
                    dunning_level=1 if days > 30 else 0,
                    next_step="firm reminder",
                    created_at=START,
                    updated_at=START,
                )
            )
    clock.advance(minutes=20)
    return engine


@pytest.fixture
def dashboard_settings(settings: Settings, engine: Engine, engine_url: str) -> Settings:
    return settings.model_copy(
        update={
            "db": engine_url,
            "agency": "Atelier Test",
            "locale": "en_US",
            "timezone": "Europe/Paris",
        }
    )


@pytest.fixture
def no_browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    opened: list[str] = []

    def open_in_browser(url: str, *args: object, **kwargs: object) -> bool:
        opened.append(url)
        return True

    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    monkeypatch.delenv("SSH_TTY", raising=False)
    monkeypatch.setattr("webbrowser.open", open_in_browser)
    yield opened
