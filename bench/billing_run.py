"""Benchmark: a billing run issuing 2,000 invoices, without documents, beside its peer.

On a fresh SQLite database of 200 clients, `run_drafts` (core.billing.run)
issues 2,000 drafts of three lines each (a retainer, an option at 5.5 %
VAT, a usage line with a decimal quantity): for each, in a savepoint of its
own as a run does, the billing key is looked up, the number taken, the
document, its lines, the receivables row and the audit row written, the
invoices committed in groups of 100 with pmdesk's durability (a sync per
commit, `synchronous = FULL`). Then the same run again, every draft
already billed.

The peer, in the same run: a plain `sqlite3` script writing the same rows
the same way (a savepoint per invoice, a BEGIN IMMEDIATE transaction per
group of 100, the same lookups, the same tables and indexes, the same
pragmas): the least the database itself needs, so that the ratio says what
pmdesk's code adds.

Target: the run of 2,000 under 2 s. `--runs N` alternates pmdesk and the
peer N times and prints the medians.

    .venv/bin/python bench/billing_run.py [--drafts 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from figures import machine

from core.billing.model import Draft, Line, Party
from core.billing.run import GROUP, run_drafts
from core.config.settings import Settings
from core.receivables.invoices import creditor_reference
from core.store.db import insert_many, open_database, write
from core.store.models.system import table
from core.store.models.threads import Client

ON = date(2026, 12, 1)
END = date(2026, 12, 31)
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CLIENTS = 200


def drafts(count: int) -> list[Draft]:
    return [
        Draft(
            contract_id=contract,
            client_id=contract % CLIENTS + 1,
            period_start=ON,
            period_end=END,
            lines=(
                Line("Retainer", Decimal(1), 45_000 + contract, Decimal(20), ON, END),
                Line("Backup option", Decimal(1), 1_500, Decimal("5.5"), ON, END, note="option"),
                Line(
                    "Hours above the quota",
                    Decimal("3.25"),
                    9_000,
                    Decimal(20),
                    ON,
                    END,
                    unit="h",
                    note="13.25 h logged, 10 h included",
                ),
            ),
            buyer=Party(f"Client {contract % CLIENTS:03d} SAS", ("1 rue de la Paix",), "75002"),
            language="fr",
            payment_terms_days=30,
        )
        for contract in range(1, count + 1)
    ]


def fresh(folder: Path, name: str) -> Path:
    path = folder / name
    engine = open_database(str(path))
    with write(engine) as connection:
        insert_many(
            connection,
            table(Client),
            [{"name": f"Client {n:03d}", "created_at": NOW} for n in range(CLIENTS)],
        )
    engine.dispose()
    return path


def pmdesk_run(path: Path, batch: list[Draft]) -> tuple[float, float, float]:
    engine = open_database(str(path))
    settings = Settings()
    start, cpu = time.perf_counter(), time.process_time()
    result = run_drafts(engine, settings, batch, on=ON, actor="bench", clock=lambda: NOW)
    first, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert len(result.issued) == len(batch), result.refused[:3]
    start = time.perf_counter()
    again = run_drafts(engine, settings, batch, on=ON, actor="bench", clock=lambda: NOW)
    second = time.perf_counter() - start
    assert again.count("already billed") == len(batch)
    engine.dispose()
    return first, second, cpu


def peer_run(path: Path, batch: list[Draft]) -> tuple[float, float]:
    """The same rows, written by a plain sqlite3 script as pmdesk commits them: a savepoint
    per invoice, a transaction per group of `GROUP` (core.billing.run)."""
    db = sqlite3.connect(path, isolation_level=None, timeout=10)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    stamp = NOW.replace(tzinfo=None).isoformat(sep=" ")
    due = (ON + timedelta(days=30)).isoformat()
    start, cpu = time.perf_counter(), time.process_time()
    for position, draft in enumerate(batch):
        if position % GROUP == 0:
            if position:
                db.execute("COMMIT")
            db.execute("BEGIN IMMEDIATE")
        totals = draft.totals
        db.execute("SAVEPOINT invoice")
        found = db.execute(
            "SELECT number FROM billingdocument WHERE contract_id = ? AND period_start = ?",
            (draft.contract_id, ON.isoformat()),
        ).fetchone()
        if found is not None:
            db.execute("RELEASE invoice")
            continue
        db.execute("SELECT max(last_issued_on) FROM billingcounter WHERE series = 'F'").fetchone()
        moved = db.execute(
            "UPDATE billingcounter SET last_sequence = last_sequence + 1, last_issued_on = ? "
            "WHERE series = 'F' AND year = 2026 RETURNING last_sequence",
            (ON.isoformat(),),
        ).fetchone()
        if moved is None:
            db.execute(
                "INSERT INTO billingcounter (series, year, last_sequence, last_issued_on) "
                "VALUES ('F', 2026, 1, ?)",
                (ON.isoformat(),),
            )
            moved = (1,)
        (sequence,) = moved
        number = f"F2026-{sequence:05d}"
        db.execute(
            "SELECT (SELECT count(*) FROM client WHERE id = ?), "
            "(SELECT count(*) FROM invoice WHERE number = ?)",
            (draft.client_id, number),
        ).fetchone()
        reference = creditor_reference(number)
        invoice_id = db.execute(
            "INSERT INTO invoice (number, client_id, issued_on, due_on, currency, total_cents, "
            "paid_cents, state, dunning_level, created_at, updated_at, creditor_reference, "
            "fee_cents, dunning_paid_cents) VALUES (?, ?, ?, ?, 'EUR', ?, 0, 'open', 0, ?, ?, ?, "
            "0, 0)",
            (number, draft.client_id, ON.isoformat(), due, totals.gross_cents, stamp, stamp,
             reference),
        ).lastrowid  # fmt: skip
        document_id = db.execute(
            "INSERT INTO billingdocument (number, series, year, sequence, kind, contract_id, "
            "period_start, period_end, client_id, issued_on, due_on, service_start, service_end, "
            "currency, language, payment_method, net_cents, vat_cents, gross_cents, buyer_name, "
            "buyer, billing_email, mandate, debit_on, creditor_reference, corrects, corrects_id, "
            "invoice_id, reason, issued_by, created_at) VALUES (?, 'F', 2026, ?, 'invoice', ?, ?, "
            "?, ?, ?, ?, ?, ?, 'EUR', 'fr', 'transfer', ?, ?, ?, ?, ?, '', NULL, NULL, ?, NULL, "
            "NULL, ?, '', 'bench', ?)",
            (number, sequence, draft.contract_id, ON.isoformat(), END.isoformat(),
             draft.client_id, ON.isoformat(), due, ON.isoformat(), END.isoformat(),
             totals.net_cents, totals.vat_cents, totals.gross_cents, draft.buyer.name,
             json.dumps({"name": draft.buyer.name}), reference, invoice_id, stamp),
        ).lastrowid  # fmt: skip
        db.executemany(
            "INSERT INTO billingline (document_id, position, description, quantity, unit, "
            "unit_price_cents, vat_rate, amount_cents, service_start, service_end, note, "
            "credits_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [
                (document_id, position, line.description, str(line.quantity), line.unit,
                 line.unit_price_cents, str(line.vat_rate), line.amount_cents,
                 line.service_start.isoformat(), line.service_end.isoformat(), line.note)
                for position, line in enumerate(draft.lines, start=1)
            ],
        )  # fmt: skip
        db.execute(
            "INSERT INTO audit (at, actor, action, entity, entity_id, detail) "
            "VALUES (?, 'bench', 'issue', 'billingdocument', ?, ?)",
            (stamp, document_id, json.dumps({"number": number})),
        )
        db.execute("RELEASE invoice")
    if batch:
        db.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    (count,) = db.execute("SELECT count(*) FROM billingdocument").fetchone()
    assert count == len(batch)
    db.close()
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafts", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    batch = drafts(args.drafts)
    print(f"machine: {machine()}")
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(f"{args.drafts:,} drafts of 3 lines, {CLIENTS} clients, one transaction per invoice")
    print(
        "| run | pmdesk: run | its CPU | again (all billed) | plain sqlite3 | its CPU "
        "| ratio | CPU ratio |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rows: list[tuple[float, ...]] = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(1, args.runs + 1):
            first, again, cpu = pmdesk_run(fresh(Path(folder), f"pmdesk-{run}.db"), batch)
            peer, peer_cpu = peer_run(fresh(Path(folder), f"peer-{run}.db"), batch)
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
        f"| **median** | **{first:.2f} s** ({first / args.drafts * 1000:.2f} ms an invoice) "
        f"| **{cpu:.2f} s** | **{again:.2f} s** | **{peer:.2f} s** | **{peer_cpu:.2f} s** "
        f"| **{ratio:.2f}** | **{cpu_ratio:.2f}** |"
    )
    print(
        f"target: < 2 s for {args.drafts:,}: {'met' if first < 2 else 'NOT met'} "
        f"({first / 2:.2f} of it)"
    )


if __name__ == "__main__":
    main()
