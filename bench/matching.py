"""Payment matching on a labelled set: precision, auto rate, review ranking, speed.

    python -m bench.matching [--invoices 50000] [--lines 20000]

Scores the matcher and two simple baselines side by side on the same set:
Invoice Ninja's rule (the first open invoice whose number appears in the
text) and ERPNext's additive score (reference, amount, party and date each
count one; applied at 3 or more).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.payments_data import Dataset, generate
from core.config.banks import BanksConfig
from core.receivables.invoices import creditor_reference
from core.receivables.matching.book import Proposal
from core.receivables.matching.matcher import match_new_lines
from core.store.db import insert_many, open_database, write
from core.store.models.receivables import BankTransaction, Invoice
from core.store.models.system import table
from core.store.models.threads import Client


def load(engine, data: Dataset, now: datetime) -> None:  # type: ignore[no-untyped-def]
    with write(engine) as connection:
        insert_many(
            connection, table(Client), [{"name": n, "created_at": now} for n in data.clients]
        )
        insert_many(connection, table(Invoice), [
            {"id": i + 1, "number": number, "client_id": client + 1, "issued_on": issued,
             "due_on": due, "currency": "EUR", "total_cents": total, "paid_cents": 0,
             "state": "open", "created_at": now, "updated_at": now,
             "creditor_reference": creditor_reference(number)}
            for i, (number, client, issued, due, total) in enumerate(data.invoices)
        ])  # fmt: skip
        insert_many(connection, table(BankTransaction), [
            {"id": i + 1, "dedupe_key": f"k{i}", "account_iban": "",
             "booking_date": line.booking_date, "value_date": None,
             "amount_cents": line.amount, "currency": "EUR",
             "counterparty_name": line.payer, "counterparty_iban": line.iban,
             "counterparty_account_raw": None, "end_to_end_id": None, "bank_reference": None,
             "structured_reference": line.reference, "text": line.text, "file_hash": "h",
             "file_name": "bench", "position": i + 1, "imported_at": now, "match_state": "new",
             "matched_by": None, "matched_at": None}
            for i, line in enumerate(data.lines)
        ])  # fmt: skip


def score(name: str, decisions: list[tuple[tuple[int, ...] | None, tuple[int, ...] | None]],
          data: Dataset) -> dict[str, float]:  # fmt: skip
    """decisions[i] = (applied invoice indexes or None, top review candidate or None)."""
    auto = correct = with_truth = auto_true = review = first = 0
    for line, (applied, top) in zip(data.lines, decisions, strict=True):
        truth = tuple(sorted(line.truth))
        with_truth += bool(truth)
        if applied is not None:
            auto += 1
            correct += tuple(sorted(applied)) == truth
            auto_true += bool(truth)
        elif truth:
            review += 1
            first += top is not None and tuple(sorted(top)) == truth
    return {
        "precision": correct / auto if auto else 0.0,
        "auto rate": auto_true / with_truth if with_truth else 0.0,
        "review first": first / review if review else 0.0,
    }


def ninja(data: Dataset) -> list[tuple[tuple[int, ...] | None, tuple[int, ...] | None]]:
    by_number = {number.upper(): i for i, (number, *_rest) in enumerate(data.invoices)}
    found = []
    for line in data.lines:
        hits = [
            by_number[w] for w in re.findall(r"[A-Z0-9-]+", line.text.upper()) if w in by_number
        ]
        found.append(((min(hits),) if hits else None, None))
    return found


def erpnext(data: Dataset) -> list[tuple[tuple[int, ...] | None, tuple[int, ...] | None]]:
    by_number = {number.upper(): i for i, (number, *_rest) in enumerate(data.invoices)}
    by_amount: dict[int, list[int]] = {}
    by_party: dict[str, list[int]] = {}
    for i, (_n, client, _issued, _due, total) in enumerate(data.invoices):
        by_amount.setdefault(total, []).append(i)
        by_party.setdefault(data.clients[client].upper(), []).append(i)
    found = []
    for line in data.lines:
        refs = {
            by_number[w] for w in re.findall(r"[A-Z0-9-]+", line.text.upper()) if w in by_number
        }
        amounts = set(by_amount.get(line.amount, ())[:200])
        party = set(by_party.get(line.payer.upper(), ()))
        scores: dict[int, int] = {}
        for i in refs | amounts | party:
            due = data.invoices[i][3]
            near = abs((line.booking_date - due).days) <= 30
            scores[i] = (i in refs) + (i in amounts) + (i in party) + near
        if not scores:
            found.append((None, None))
            continue
        best = max(scores, key=lambda i: (scores[i], -i))
        found.append(((best,), None) if scores[best] >= 3 else (None, (best,)))
    return found


def _misses(data: Dataset, proposals: dict[int, list[Proposal]]) -> tuple[int, int, int]:
    """Review lines ranked wrong: how many, and why (a tie, or the truth not proposed)."""
    tied = absent = missed = 0
    for number, line in enumerate(data.lines, start=1):
        ranked = proposals.get(number, [])
        truth = tuple(sorted(line.truth))
        if not truth or not ranked or ranked[0].rule:
            continue
        keys = [tuple(sorted(i - 1 for i in proposal.invoice_ids)) for proposal in ranked]
        if keys[0] == truth:
            continue
        missed += 1
        if truth not in keys:
            absent += 1
            continue
        found = ranked[keys.index(truth)]
        first = ranked[0]
        tied += (found.confidence, found.distance) == (first.confidence, first.distance)
    return tied, absent, missed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--lines", type=int, default=20_000)
    args = parser.parse_args()
    data = generate(args.invoices, args.lines)
    now = datetime(2026, 11, 23, 9, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as folder:
        engine = open_database(str(Path(folder) / "bench.db"), bulk=True)
        load(engine, data, now)
        started = time.perf_counter()
        summary = match_new_lines(engine, BanksConfig(), now, keep_proposals=True)
        elapsed = time.perf_counter() - started
        engine.dispose()
    ours = []
    for i in range(len(data.lines)):
        proposals = summary.proposals.get(i + 1, [])
        best = tuple(n - 1 for n in proposals[0].invoice_ids) if proposals else None
        ours.append((best, None) if proposals and proposals[0].rule else (None, best))
    results = {
        "pmdesk": score("pmdesk", ours, data),
        "Invoice Ninja rule": score("ninja", ninja(data), data),
        "ERPNext score": score("erpnext", erpnext(data), data),
    }
    print(f"{len(data.lines)} lines against {len(data.invoices)} open invoices")
    by_kind: dict[str, list[int]] = {}
    for line, (applied, top) in zip(data.lines, ours, strict=True):
        truth = tuple(sorted(line.truth))
        figures = by_kind.setdefault(line.kind, [0, 0, 0, 0])
        figures[0] += 1
        if applied is not None:
            figures[1] += 1
            figures[2] += tuple(sorted(applied)) != truth
        else:
            figures[3] += top is not None and tuple(sorted(top)) == truth
    print(f"{'kind':10}{'lines':>7}{'auto':>7}{'wrong':>7}{'review first':>14}")
    for kind, (lines, auto, wrong, first) in sorted(by_kind.items()):
        print(f"{kind:10}{lines:>7}{auto:>7}{wrong:>7}{first:>8}/{lines - auto}")
    tied, absent, missed = _misses(data, summary.proposals)
    print(f"review lines whose true invoice is not first: {missed}; tied with the first on "
          f"every piece of evidence (same amount, confidence and date distance): {tied}; "
          f"not among the candidates: {absent}")  # fmt: skip
    print(f"matching (load, match, write): {elapsed:.2f} s; auto {summary.auto}, "
          f"review {summary.review}, unmatched {summary.unmatched}")  # fmt: skip
    print(f"{'':22}{'precision':>12}{'auto rate':>12}{'review first':>14}")
    for name, figures in results.items():
        print(f"{name:22}{figures['precision']:>12.2%}{figures['auto rate']:>12.2%}"
              f"{figures['review first']:>14.2%}")  # fmt: skip


if __name__ == "__main__":
    main()
