"""Benchmark: the whole monthly billing run for 2,000 contracts, without documents, beside
its peer.

On a fresh SQLite database of 200 clients and 2,000 monthly contracts billed
in advance (a hosting fee; an option for one in three; a usage line read
from a usage file, above its quota, for one in four), `issue_month`
(core.billing.monthly) plans December and issues its 2,000 invoices, each
in a savepoint of its own, committed in groups of 100 with pmdesk's
durability (a sync per commit), as `pmdesk billing run` does. Then the same
run again, every contract already billed.

The peer, in the same run: the plain `sqlite3` script of bench/billing_run.py
writing the same rows (a savepoint per invoice, a BEGIN IMMEDIATE
transaction per group of 100, the
same lookups, tables and indexes), from the drafts planned beforehand: the
least the database itself needs to store the month, so that the ratio says
what pmdesk's planning and code add to it.

Target: the run of 2,000 contracts under 2 s. `--runs N` alternates pmdesk
and the peer N times and prints the medians.

    .venv/bin/python bench/billing_month.py [--contracts 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from billing_run import CLIENTS, fresh, peer_run
from figures import machine

from core.billing.contracts import Line, LineKind, NewContract, Terms, UsageSource, add_contract
from core.billing.monthly import issue_month
from core.billing.plan import drafts_for
from core.config.settings import Settings
from core.store.db import insert_many, open_database, write
from core.store.models.contracts import UsageRecord
from core.store.models.system import table

DEC = date(2026, 12, 1)
AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def with_contracts(path: Path, count: int) -> None:
    """`count` monthly contracts on the clients of `fresh`, and November's usage."""
    engine = open_database(str(path), bulk=True)
    with write(engine) as connection:
        clients = {f"client {n:03d}": (n + 1, f"Client {n:03d}") for n in range(CLIENTS)}
        for n in range(count):
            lines = [Line(LineKind.FEE, "Hosting", amount_cents=10_000 + n, per="month")]
            if n % 3 == 0:
                lines.append(Line(LineKind.OPTION, "Backup", amount_cents=24_000, per="year"))
            if n % 4 == 0:
                lines.append(
                    Line(
                        LineKind.USAGE, "Messages", unit_price_cents=5, included=Decimal(100),
                        unit="message", source=UsageSource.FILE, service="sms",
                    )
                )  # fmt: skip
            client = f"Client {n % CLIENTS:03d}"
            terms = Terms(legal_name=f"{client} SAS", lines=tuple(lines))
            add_contract(
                connection,
                NewContract(f"C-{n:05d}", client, date(2026, 1, 1), terms),
                actor="bench",
                at=AT,
                clients=clients,
            )
        insert_many(
            connection,
            table(UsageRecord),
            [
                {"client_id": n + 1, "service": "sms", "month": "2026-11", "quantity": "1250",
                 "file": "bench.csv", "imported_at": AT}
                for n in range(CLIENTS)
            ],
        )  # fmt: skip
    engine.dispose()


def pmdesk_run(path: Path, count: int) -> tuple[float, float, float]:
    engine = open_database(str(path))
    settings = Settings()
    start, cpu = time.perf_counter(), time.process_time()
    result = issue_month(engine, settings, DEC, DEC, "bench", clock=lambda: NOW)
    first, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert len(result.issued) == count, result.refused[:3]
    start = time.perf_counter()
    again = issue_month(engine, settings, DEC, DEC, "bench", clock=lambda: NOW)
    second = time.perf_counter() - start
    assert again.done_before and len(again.already_billed) == count
    engine.dispose()
    return first, second, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(
        f"{args.contracts:,} monthly contracts, {CLIENTS} clients: plan December and issue it,"
        " a savepoint per invoice, a commit per 100"
    )
    print(
        "| run | pmdesk: plan + issue | its CPU | again (all billed) | plain sqlite3 | its CPU "
        "| ratio | CPU ratio |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rows: list[tuple[float, ...]] = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(1, args.runs + 1):
            ours = fresh(Path(folder), f"pmdesk-{run}.db")
            with_contracts(ours, args.contracts)
            planned = drafts_for(open_database(str(ours)), DEC, Settings())
            assert len(planned) == args.contracts
            first, again, cpu = pmdesk_run(ours, args.contracts)
            peer, peer_cpu = peer_run(fresh(Path(folder), f"peer-{run}.db"), planned)
            row = (first, cpu, again, peer, peer_cpu, first / peer, cpu / peer_cpu)
            rows.append(row)
            print(
                f"| {run} | {first:.2f} s | {cpu:.2f} s | {again:.2f} s | {peer:.2f} s "
                f"| {peer_cpu:.2f} s | {first / peer:.2f} | {cpu / peer_cpu:.2f} |"
            )
    first, cpu, again, peer, peer_cpu, ratio, cpu_ratio = (
        statistics.median(column) for column in zip(*rows, strict=True)
    )
    print(
        f"| **median** | **{first:.2f} s** ({first / args.contracts * 1000:.2f} ms a contract) "
        f"| **{cpu:.2f} s** | **{again:.2f} s** | **{peer:.2f} s** | **{peer_cpu:.2f} s** "
        f"| **{ratio:.2f}** | **{cpu_ratio:.2f}** |"
    )
    print(f"load average after: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(
        f"target: < 2 s for {args.contracts:,}: {'met' if first < 2 else 'NOT met'} "
        f"({first / 2:.2f} of it)"
    )


if __name__ == "__main__":
    main()
