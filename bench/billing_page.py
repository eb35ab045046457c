"""Benchmark: the dashboard's Billing and Contracts pages on 2,000 contracts.

On the database of bench/billing_month.py (200 clients, 2,000 monthly
contracts billed in advance, options and usage lines), the pages are opened
headless through Textual's pilot, 120x40, and timed from the key that
opens them:

- **shown**: the page drawn, saying "loading" (the read runs in a worker:
  the dashboard never waits for it);
- **filled**: the month's drafts (or the contracts) in the table;

and beside them, in the same run, the peer: the same read without any
screen (core.billing.monthly `preview`, the documents of the month and the
audit for the Billing page; `load_contracts` for the Contracts page), so
that the ratio says what drawing the page adds.

    .venv/bin/python bench/billing_page.py [--contracts 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from billing_month import with_contracts
from billing_run import fresh
from figures import machine
from textual.app import App

import tui
from core.billing.contracts import load_contracts
from core.config.settings import Settings
from core.store.db import open_database
from tui.screens.billing import BillingDesk, BillingScreen, read_billing
from tui.screens.contracts import ContractsScreen
from tui.widgets.rows import RowList

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


class Bench(App[None]):
    CSS_PATH = Path(tui.__file__).parent / "pmdesk.tcss"


def money(cents: int, currency: str) -> str:
    return f"{Decimal(cents) / 100:.2f} {currency}"


async def opened(desk: BillingDesk, page: str, count: int) -> tuple[float, float]:
    """Seconds from the push to the page shown, and to its table filled."""
    app = Bench()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        start = time.perf_counter()
        screen = BillingScreen(desk) if page == "billing" else ContractsScreen(desk)
        app.push_screen(screen)
        # Shown: the page mounted and its title drawn (still "loading" while the worker reads).
        while not (screen.is_mounted and app.screen is screen and screen.query(RowList)):
            await asyncio.sleep(0.001)
        shown = time.perf_counter() - start
        table = screen.query_one(RowList)
        while table.row_count < count:
            await asyncio.sleep(0.001)
        await pilot.pause()
        filled = time.perf_counter() - start
    return shown, filled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(f"{args.contracts:,} monthly contracts: the pages opened headless, 120x40")
    rows: dict[str, list[tuple[float, float, float]]] = {"billing": [], "contracts": []}
    with tempfile.TemporaryDirectory() as folder:
        path = fresh(Path(folder), "pages.db")
        with_contracts(path, args.contracts)
        engine = open_database(str(path))
        settings = Settings()
        desk = BillingDesk(
            engine=lambda: engine,
            settings=lambda: settings,
            clock=lambda: NOW,
            tz=PARIS,
            money=money,
        )
        for _run in range(args.runs):
            for page in ("billing", "contracts"):
                start = time.perf_counter()
                if page == "billing":
                    read_billing(engine, settings, NOW.date().replace(day=1))
                else:
                    with engine.connect() as connection:
                        load_contracts(connection)
                peer = time.perf_counter() - start
                shown, filled = asyncio.run(opened(desk, page, args.contracts))
                rows[page].append((shown, filled, peer))
        engine.dispose()
    print("| page | run | shown | filled | the read alone | filled / read |")
    print("| --- | --- | --- | --- | --- | --- |")
    for page, found in rows.items():
        for run, (shown, filled, peer) in enumerate(found, start=1):
            print(
                f"| {page} | {run} | {shown * 1000:.0f} ms | {filled:.2f} s | {peer:.2f} s "
                f"| {filled / peer:.2f} |"
            )
        shown = statistics.median(item[0] for item in found)
        filled = statistics.median(item[1] for item in found)
        peer = statistics.median(item[2] for item in found)
        print(
            f"| {page} | **median** | **{shown * 1000:.0f} ms** | **{filled:.2f} s** "
            f"| **{peer:.2f} s** | **{filled / peer:.2f}** |"
        )


if __name__ == "__main__":
    main()
