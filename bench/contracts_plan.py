"""What a month bills for 2,000 contracts: `drafts_for` read from a real SQLite file.

The contracts mix the frequencies, both timings, pro rata starts and ends,
a dated change for one in ten, and a usage line (file, Worksection hours or
pmdesk events) for one in four, with usage rows to read. Prints the machine
line, then the median and the slowest of the runs (loading included).

    python -m bench.contracts_plan [--contracts 2000] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.figures import machine
from core.billing.contracts import (
    Frequency,
    Line,
    LineKind,
    NewContract,
    Terms,
    Timing,
    UsageSource,
    add_contract,
    edit_contract,
    load_contracts,
)
from core.billing.model import Draft
from core.billing.plan import drafts_for
from core.config.settings import Settings
from core.store.db import insert_many, insert_with_ids, open_database, write
from core.store.models.contracts import UsageRecord
from core.store.models.system import table
from core.store.models.threads import Client
from core.store.models.time import TimeRow

AT = datetime(2026, 11, 1, tzinfo=UTC)
SOURCES = (UsageSource.FILE, UsageSource.WORKSECTION_HOURS, UsageSource.PMDESK_EVENTS)


def build(path: Path, count: int) -> None:
    engine = open_database(str(path), bulk=True)
    with write(engine) as connection:
        names = [f"Client {n:05d}" for n in range(count)]
        ids = insert_with_ids(
            connection,
            table(Client),
            [{"name": name, "language": "fr", "created_at": AT} for name in names],
        )
        clients = {name.casefold(): (id_, name) for name, id_ in zip(names, ids, strict=True)}
        for n, name in enumerate(names):
            lines = [Line(LineKind.FEE, "Hosting", amount_cents=10_000 + n, per="month")]
            if n % 3 == 0:
                lines.append(Line(LineKind.OPTION, "Backup", amount_cents=24_000, per="year"))
            if n % 4 == 0:
                lines.append(
                    Line(
                        LineKind.USAGE,
                        "Usage",
                        unit_price_cents=50,
                        included=Decimal(10),
                        unit="unit",
                        source=SOURCES[n % 3],
                        service="usage",
                    )
                )
            terms = Terms(
                legal_name=name,
                lines=tuple(lines),
                frequency=list(Frequency)[n % 3],
                timing=list(Timing)[n % 2],
            )
            start = date(2026, 1, 1) + timedelta(days=n % 300)
            end = start + timedelta(days=400) if n % 5 == 0 else None
            add_contract(
                connection,
                NewContract(f"C-{n:05d}", name, start, terms, end_on=end),
                actor="bench",
                at=AT,
                clients=clients,
            )
            if n % 10 == 0:
                edit_contract(
                    connection,
                    f"C-{n:05d}",
                    date(2026, 12, 15),
                    {"payment_terms_days": 45},
                    actor="bench",
                    at=AT,
                )
        insert_many(
            connection,
            table(UsageRecord),
            [
                {"client_id": id_, "service": "usage", "month": f"2026-{month:02d}",
                 "quantity": "42", "file": "bench.csv", "imported_at": AT}
                for id_ in ids for month in range(1, 13)
            ],
        )  # fmt: skip
        insert_many(
            connection,
            table(TimeRow),
            [
                {"id": f"t{n}", "day": date(2026, 1, 1) + timedelta(days=n % 365),
                 "month": "2026-01", "minutes": 90, "project_name": names[n % count],
                 "synced_at": AT}
                for n in range(50_000)
            ],
        )  # fmt: skip
    engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contracts", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plan.db"
        build(path, args.contracts)
        engine = open_database(str(path))
        settings = Settings()
        loads, plans, totals = [], [], []
        drafts: list[Draft] = []
        for _ in range(args.runs):
            started = time.perf_counter()
            drafts = drafts_for(engine, date(2027, 1, 1), settings)
            totals.append(time.perf_counter() - started)
            with engine.connect() as connection:
                started = time.perf_counter()
                contracts = load_contracts(connection)
                loaded = time.perf_counter()
                drafts_for(connection, date(2027, 1, 1), settings, contracts=contracts)
                loads.append(loaded - started)
                plans.append(time.perf_counter() - loaded)
        engine.dispose()
    print(machine())
    print(
        f"drafts_for, {args.contracts} contracts, {len(drafts)} drafts,"
        f" {sum(len(d.lines) for d in drafts)} lines, over {args.runs} runs:"
        f" whole median {statistics.median(totals):.3f} s (slowest {max(totals):.3f} s);"
        f" reading the contracts {statistics.median(loads):.3f} s,"
        f" planning with the usage reads {statistics.median(plans):.3f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
