"""Benchmark: the pain.008 file of 2,000 direct debits, from the database.

`--debits` (2,000) invoices of as many clients, each planned for collection on
one date under its own mandate (half of them used before, so the file has a
FRST and a RCUR block), then written with core.billing.sepa.debit_file: read
from SQLite, built by sepaxml and checked against the pain.008.001.02 schema it ships,
written whole and the debits marked exported (rolled back between rounds).
Its peer, run in the same rounds: sepaxml alone building and checking the same
payments without the database. Target: under 1 s.

    .venv/bin/python bench/sepa_debits.py [--debits 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from figures import machine  # noqa: E402
from sqlalchemy import text  # noqa: E402

from core.billing.debits import plan_debit  # noqa: E402
from core.billing.model import Mandate  # noqa: E402
from core.billing.sepa import build_pain008, creditor_of, debit_file  # noqa: E402
from core.config.settings import Settings  # noqa: E402
from core.store.db import insert_many, open_database, write  # noqa: E402
from core.store.models.receivables import Invoice  # noqa: E402
from core.store.models.system import table  # noqa: E402
from core.store.models.threads import Client  # noqa: E402

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY = date(2026, 12, 15)
IBANS = ("DE89370400440532013000", "FR1420041010050500013M02606", "GB29NWBK60161331926819")
SETTINGS = Settings(
    billing={
        "creditor_id": "FR72ZZZ123456",
        "seller": {"name": "Studio", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP882"},
    }
)


def seed(path: Path, count: int) -> None:
    engine = open_database(str(path))
    with write(engine) as connection:
        insert_many(
            connection,
            table(Client),
            [{"name": f"Client {n:05d}", "created_at": NOW} for n in range(count)],
        )
        insert_many(
            connection,
            table(Invoice),
            [
                {"number": f"F2026-{n:05d}", "client_id": n, "issued_on": DAY,
                 "due_on": DAY, "currency": "EUR", "total_cents": 1000 + n, "paid_cents": 0,
                 "state": "open", "created_at": NOW, "updated_at": NOW}
                for n in range(1, count + 1)
            ],
        )  # fmt: skip
        for n in range(1, count + 1):
            mandate = Mandate(f"MDT-{n:05d}", date(2026, 1, 2), IBANS[n % 3], "COBADEFFXXX")
            if n % 2:  # used before: this collection is RCUR
                connection.execute(
                    text(
                        "INSERT INTO mandatestate (reference, last_sequence, last_collect_on,"
                        " first_again, updated_at) VALUES (:r, 'FRST', '2026-11-15', 0, :u)"
                    ),
                    {"r": mandate.reference, "u": NOW.isoformat()},
                )
            plan_debit(connection, n, mandate, 1000 + n, DAY, now=NOW)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--debits", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        seed(base / "bench.db", args.debits)
        engine = open_database(str(base / "bench.db"))
        payments = [
            {"name": f"Client {n:05d}", "IBAN": IBANS[n % 3], "BIC": "COBADEFFXXX",
             "amount": 1000 + n, "type": "RCUR" if n % 2 else "FRST",
             "collection_date": DAY, "mandate_id": f"MDT-{n:05d}",
             "mandate_date": date(2026, 1, 2), "description": f"Invoice F2026-{n:05d}",
             "endtoend_id": f"F2026-{n:05d}"}
            for n in range(1, args.debits + 1)
        ]  # fmt: skip
        ours: list[float] = []
        peer: list[float] = []
        for _round in range(args.rounds):
            started = time.perf_counter()
            with engine.connect() as connection:
                transaction = connection.begin()
                made = debit_file(connection, DAY, SETTINGS, now=NOW, path=base / "dd.xml")
                transaction.rollback()
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            build_pain008(creditor_of(SETTINGS), payments)
            peer.append(time.perf_counter() - started)
        engine.dispose()
    print(machine())
    ours_median, peer_median = statistics.median(ours), statistics.median(peer)
    print(
        f"pain.008 of {made.count:,} debits ({len(made.data):,} bytes, blocks {made.blocks}):"
        f" median {ours_median:.3f} s over {args.rounds} rounds (min {min(ours):.3f},"
        f" max {max(ours):.3f}); target < 1 s: {'met' if ours_median < 1 else 'NOT met'}"
    )
    print(
        f"peer, sepaxml alone on the same payments: median {peer_median:.3f} s;"
        f" ratio {ours_median / peer_median:.2f}"
    )


if __name__ == "__main__":
    main()
