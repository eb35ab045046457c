"""An agency's contracts on a real database, and an app showing the manager view over them."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

import tui
from core.billing.contracts import edit_contract
from core.config.settings import Settings
from core.store.db import write
from tests.core.billing.support import AT, add_clients, contract, fee, store
from tui.screens.billing import BillingDesk, BillingScreen
from tui.screens.manager import ManagerScreen

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)  # a Saturday in December
NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)
STYLESHEET = Path(tui.__file__).parent / "pmdesk.tcss"


def agency(engine: Engine) -> Engine:
    """Acme and Cido since November, Bigco from December; Acme's lines change in December."""
    add_clients(engine, "Acme", "Bigco", "Cido")
    store(
        engine,
        contract("C-ACME", "Acme", start=NOV),
        contract("C-BIG", "Bigco", start=DEC, legal_name="Bigco SAS", lines=(fee("Licence", 100),)),
        contract("C-CIDO", "Cido", start=NOV, legal_name="Cido SA"),
    )
    with write(engine) as connection:
        edit_contract(
            connection,
            "C-ACME",
            DEC,
            {"lines": (fee("Hosting", 310), fee("Backup", 20))},
            actor="test",
            at=AT,
        )
    return engine


def billing_settings(folder: Path) -> Settings:
    return Settings(
        agency="Studio Nord",
        billing={
            "folder": str(folder),
            "seller": {
                "name": "Studio Nord SAS",
                "address": ["4 quai des Chartrons"],
                "postcode": "33000",
                "city": "Bordeaux",
                "siren": "732829320",
                "vat_number": "FR44732829320",
                "iban": "FR7630006000011234567890189",
                "bic": "AGRIFRPP882",
            },
        },
    )


def money(cents: int, currency: str) -> str:
    return f"{Decimal(cents) / 100:.2f} {currency}"


def desk(engine: Engine, settings: Settings) -> BillingDesk:
    return BillingDesk(
        engine=lambda: engine,
        settings=lambda: settings,
        clock=lambda: NOW,
        tz=PARIS,
        money=money,
        actor="test",
    )


class BillingApp(App[None]):
    """The manager view alone, on the dashboard's stylesheet, with the billing pages' desk."""

    CSS_PATH = STYLESHEET

    def __init__(self, desk: BillingDesk, database: str) -> None:
        super().__init__()
        self.desk = desk
        self.database = database

    def on_mount(self) -> None:
        from core.store.connect import reader_for

        self.push_screen(
            ManagerScreen(lambda: reader_for(self.database), lambda: NOW, PARIS, billing=self.desk)
        )


async def until(pilot: Pilot[None], predicate: Callable[[], bool], seconds: float = 30.0) -> None:
    """Wait for what the screen shows, however loaded the machine."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the screen never got there")
        await pilot.pause(0.02)


def issued_and_read(screen: BillingScreen) -> Callable[[], bool]:
    """The issue over and the month read again after it."""

    def done() -> bool:
        seen = screen.snapshot
        return (
            not screen.busy
            and seen is not None
            and not seen.preview.to_issue
            and any(item.status == "already billed" for item in seen.preview.drafts)
        )

    return done


async def settled(pilot: Pilot[None]) -> Screen[object]:
    """The screen once no worker has run for two rounds of messages: a worker's answer
    may start another (the issue, then the month read again)."""
    idle = 0
    while idle < 2:
        await pilot.pause()
        busy = any(worker.is_running for worker in pilot.app.workers)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        idle = 0 if busy else idle + 1
    return pilot.app.screen
