"""Benchmark: importing a large invoice export, re-importing it, and a dunning day.

Writes a French `;` CSV of `--invoices` (20,000) invoices for `--clients`
(2,000) clients, due over the past year and the coming month, to a temporary
directory, then times on a fresh SQLite database:

- the first import (every line created, clients created);
- the same file again (every line unchanged);
- the overdue list and DSO as `pmdesk invoices overdue` reads them;
- the first dunning run (one draft per client with overdue invoices,
  each rendered from its template) and the same day again (nothing added).

    .venv/bin/python bench/invoices.py [--invoices 20000] [--clients 2000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from core.config.settings import Settings
from core.receivables.aging import days_sales_outstanding, overdue_invoices
from core.receivables.dunning import run_dunning
from core.receivables.invoices import import_invoices
from core.store.db import open_database
from core.store.reader import EngineReader

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def write_csv(path: Path, invoices: int, clients: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    lines = ["number;client;issued_on;due_on;currency;total"]
    for number in range(1, invoices + 1):
        due = TODAY - timedelta(days=rng.randrange(-30, 365))
        issued = due - timedelta(days=30)
        euros, cents = rng.randrange(50, 20_000), rng.randrange(100)
        amount = f"{euros:,}".replace(",", " ") + f",{cents:02d}"
        lines.append(
            f"F-{number:07d};Client {rng.randrange(clients):05d};"
            f"{issued:%d/%m/%Y};{due:%d/%m/%Y};EUR;{amount}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def timed(label: str, action: object) -> object:
    start = time.perf_counter()
    result = action()  # type: ignore[operator]
    print(f"{label:<44} {time.perf_counter() - start:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=2_000)
    args = parser.parse_args()
    settings = Settings(receivables={"calendar": "24/7"})
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "invoices.csv"
        write_csv(csv, args.invoices, args.clients)
        engine = open_database(str(Path(folder) / "bench.db"))
        print(f"{args.invoices:,} invoices, {args.clients:,} clients, {csv.stat().st_size:,} bytes")
        first = timed("import (all created)", lambda: import_invoices(engine, settings, csv))
        again = timed(
            "same file again (all unchanged)", lambda: import_invoices(engine, settings, csv)
        )
        reader = EngineReader(engine)
        overdue = timed("overdue list", lambda: overdue_invoices(reader, TODAY))
        timed(
            "DSO over 90 days", lambda: days_sales_outstanding(reader, TODAY - timedelta(89), TODAY)
        )
        day = timed("dunning run", lambda: run_dunning(engine, settings, TODAY, NOW))
        repeat = timed("same day again", lambda: run_dunning(engine, settings, TODAY, NOW))
        print(
            f"created {first.count('created'):,}, unchanged {again.count('unchanged'):,}, "  # type: ignore[attr-defined]
            f"overdue {len(overdue):,}, drafts {len(day.reminders):,}, "  # type: ignore[arg-type, attr-defined]
            f"steps {day.steps:,}, second run steps {repeat.steps}"  # type: ignore[attr-defined]
        )


if __name__ == "__main__":
    main()
