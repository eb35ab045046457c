"""Matching a statement's new lines: the book loaded, each line matched,
allocations and candidates stored, invoices' paid amounts moved.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, case, text

from core.base.collector import without_cycle_collection
from core.base.instants import as_date
from core.base.kinds import Actor
from core.config.banks import BanksConfig
from core.receivables.matching.book import Book, Line, OpenInvoice, Part, Proposal
from core.receivables.matching.rules import Delays
from core.store.audit import audit_row, write_audit
from core.store.db import chunks, insert_many, update_many, write
from core.store.models.receivables import (
    Allocation,
    BankTransaction,
    ClientIban,
    Invoice,
    MatchCandidate,
)
from core.store.models.system import table
from core.store.reader import stamp


@dataclass
class MatchSummary:
    auto: int = 0
    review: int = 0
    unmatched: int = 0
    # Line id -> its proposals, best first (the first applied when auto).
    proposals: dict[int, list[Proposal]] = field(default_factory=dict)


_OPEN = """
SELECT id, number, client_id, currency, issued_on, due_on, total_cents, paid_cents,
       creditor_reference
  FROM invoice WHERE state IN ('open', 'disputed') AND paid_cents < total_cents
"""


def load_book(connection: Connection, banks: BanksConfig) -> Book:
    # A few hundred distinct days among tens of thousands of invoices: each parsed once.
    days: dict[Any, date] = {}

    def day(value: str | date) -> date:
        parsed = days.get(value)
        if parsed is None:
            parsed = days[value] = as_date(value)
        return parsed

    invoices = [
        OpenInvoice(
            ident, number, client, currency, day(issued), day(due), total, total - paid, reference
        )
        for ident, number, client, currency, issued, due, total, paid, reference in (
            connection.execute(text(_OPEN)).all()
        )
    ]
    clients = {row[0]: row[1] for row in connection.execute(text("SELECT id, name FROM client"))}
    ibans = {
        row[0]: row[1] for row in connection.execute(text("SELECT iban, client_id FROM clientiban"))
    }
    by_name = {name: client for client, name in clients.items()}
    for name, listed in banks.client_ibans.items():
        if name in by_name:
            for iban in listed:
                ibans.setdefault(iban.replace(" ", "").upper(), by_name[name])
    return Book(invoices, clients, ibans, banks.matching, _delays(connection))


# The newest due date each live payment paid, most recent payments first.
_PAID = """
SELECT i.client_id, b.booking_date, max(i.due_on)
  FROM allocation a
  JOIN banktransaction b ON b.id = a.transaction_id
  JOIN invoice i ON i.id = a.invoice_id
 WHERE a.reversed_at IS NULL AND a.kind = 'payment' AND a.cents > 0
 GROUP BY a.transaction_id, i.client_id, b.booking_date
 ORDER BY a.transaction_id DESC
 LIMIT :limit
"""
# Enough recent payments to know each client's habit, not the whole history.
DELAY_HISTORY = 20_000


def _delays(connection: Connection) -> Delays:
    """Clients' payment delays, from the payments already matched (by rule or person)."""
    delays = Delays()
    for client, booked, due in connection.execute(text(_PAID), {"limit": DELAY_HISTORY}):
        delays.add(client, (as_date(booked) - as_date(due)).days)
    return delays


# What a Line is read from (see _line), then anything a query adds after it. A
# line's end-to-end id (a direct debit's is the invoice number) is read as part
# of its text, so a debit's credit is matched by the number at once.
_LINE_COLUMNS = (
    "id, booking_date, amount_cents, currency, counterparty_name, counterparty_iban, "
    "structured_reference, "
    "CASE WHEN end_to_end_id IS NULL THEN text ELSE text || ' ' || end_to_end_id END"
)
_LINES = (
    f"SELECT {_LINE_COLUMNS} FROM banktransaction "
    "WHERE match_state = 'new' ORDER BY booking_date, id"
)


def _line(row: Sequence[Any]) -> Line:
    return Line(row[0], as_date(row[1]), row[2], row[3], row[4], row[5], row[6], row[7])


def match_new_lines(
    engine: Engine, banks: BanksConfig, now: datetime, *, keep_proposals: bool = False
) -> MatchSummary:
    """Match every line not yet matched: apply what the rules allow, queue the rest.

    `keep_proposals` keeps every line's proposals in the summary (for
    scoring them); a large statement's would otherwise only cost memory.
    """
    # The indexes are hundreds of thousands of small acyclic objects.
    with without_cycle_collection(), write(engine) as connection:
        book = load_book(connection, banks)
        lines = [_line(row) for row in connection.execute(text(_LINES))]
        return _match(connection, book, lines, now, allow_auto=True, keep=keep_proposals)


# Lines matched between two writes: bounds what a large statement holds in memory.
FLUSH_LINES = 5000


def _match(
    connection: Connection,
    book: Book,
    lines: list[Line],
    now: datetime,
    *,
    allow_auto: bool,
    keep: bool = True,
) -> MatchSummary:
    summary = MatchSummary()
    store = _Store(now)
    for number, line in enumerate(lines, start=1):
        if number % FLUSH_LINES == 0:
            store.flush(connection)
            store = _Store(now)
        proposals = book.propose(line)
        if keep:
            summary.proposals[line.id] = proposals
        if proposals and allow_auto and proposals[0].rule:
            best = proposals[0]
            parts = book.plan(line, best.invoice_ids)
            book.apply(parts)
            book.learn_delays(line, parts)
            store.allocate(line, parts, f"rule:{best.rule}", best.confidence, best.reasons)
            store.state(line.id, "matched", f"rule:{best.rule}")
            if line.iban and line.iban not in book.ibans and best.rule != "payer+amount":
                client = book.invoices[best.invoice_ids[0]].client_id
                book.ibans[line.iban] = client
                store.learn(line.iban, client)
            summary.auto += 1
        elif proposals:
            store.candidates(line.id, proposals)
            store.state(line.id, "review", None)
            summary.review += 1
        else:
            store.state(line.id, "unmatched", None)
            summary.unmatched += 1
    store.flush(connection)
    return summary


# json.dumps with an option builds an encoder on every call: thousands of rows share one.
_JSON = json.JSONEncoder(ensure_ascii=False)


class _Store:
    """Everything a matching run writes, gathered and then written in bulk."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.allocations: list[dict[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        self.queue: list[dict[str, Any]] = []
        self.learned: list[dict[str, Any]] = []
        self.touched: dict[int, int] = defaultdict(int)

    def allocate(
        self, line: Line, parts: list[Part], by: Actor, confidence: float | None, reasons: list[str]
    ) -> None:
        for part in parts:
            self.allocations.append(
                {
                    "transaction_id": line.id,
                    "invoice_id": part.invoice_id,
                    "client_id": part.client_id,
                    "kind": part.kind,
                    "cents": part.cents,
                    "by": by,
                    "at": self.now,
                    "confidence": confidence,
                    "reason": "; ".join(reasons),
                    "reversed_at": None,
                    "reversed_by": None,
                }
            )
            if part.invoice_id is not None:
                self.touched[part.invoice_id] += part.cents

    def state(self, line_id: int, state: str, by: Actor | None) -> None:
        self.states.append(
            {
                "id": line_id,
                "match_state": state,
                "matched_by": by,
                "matched_at": self.now if by else None,
            }
        )

    def candidates(self, line_id: int, proposals: list[Proposal]) -> None:
        for rank, proposal in enumerate(proposals, start=1):
            self.queue.append(
                {
                    "transaction_id": line_id,
                    "rank": rank,
                    "invoice_ids": ",".join(map(str, proposal.invoice_ids)),
                    "confidence": round(proposal.confidence, 3),
                    "reasons": _JSON.encode(proposal.reasons),
                }
            )

    def learn(self, iban: str, client: int) -> None:
        self.learned.append(
            {"iban": iban, "client_id": client, "source": "confirmed", "learned_at": self.now}
        )

    def flush(self, connection: Connection) -> None:
        ids = [row["id"] for row in self.states]
        candidates = table(MatchCandidate)
        for part in chunks(ids):
            connection.execute(candidates.delete().where(candidates.c.transaction_id.in_(part)))
        if self.states:
            update_many(connection, table(BankTransaction), self.states)
        insert_many(connection, candidates, self.queue)
        insert_many(connection, table(ClientIban), self.learned)
        _write_allocations(connection, self.allocations, self.now)


def _write_allocations(connection: Connection, rows: list[dict[str, Any]], now: datetime) -> None:
    """Store allocations, audit each, and move the invoices' paid_cents by them."""
    if not rows:
        return
    insert_many(connection, table(Allocation), rows)
    audits = [
        audit_row(
            now,
            row["by"],
            "unallocate" if row.get("reversed_at") else "allocate",
            "invoice" if row["invoice_id"] is not None else "client",
            row["invoice_id"] if row["invoice_id"] is not None else row["client_id"],
            {
                "transaction": row["transaction_id"],
                "kind": row["kind"],
                "cents": row["cents"],
                "reason": row["reason"],
            },
        )
        for row in rows
    ]
    write_audit(connection, audits)
    deltas: dict[int, int] = defaultdict(int)
    for row in rows:
        if row["invoice_id"] is not None:
            deltas[row["invoice_id"]] += row["cents"]
    _move_paid(connection, deltas, now)


def allocate_return(
    connection: Connection,
    line_id: int,
    invoice_id: int,
    cents: int,
    by: Actor,
    reason: str,
    now: datetime,
) -> None:
    """Give a returned payment back: the line's negative `cents` allocated to the invoice.

    The invoice owes again (paid_cents falls, a paid invoice opens again); the
    credit it came from stays allocated, and the return line is matched.
    """
    row = {
        "transaction_id": line_id,
        "invoice_id": invoice_id,
        "client_id": None,
        "kind": "payment",
        "cents": -abs(cents),
        "by": by,
        "at": now,
        "confidence": None,
        "reason": reason,
        "reversed_at": None,
        "reversed_by": None,
    }
    _write_allocations(connection, [row], now)
    connection.execute(
        table(BankTransaction)
        .update()
        .where(table(BankTransaction).c.id == line_id)
        .values(match_state="matched", matched_by=by, matched_at=now)
    )


_MOVE_PAID = """
UPDATE invoice SET paid_cents = paid_cents + ?,
       state = CASE WHEN paid_cents + ? >= total_cents AND state = 'open' THEN 'paid'
                    WHEN paid_cents + ? < total_cents AND state = 'paid' THEN 'open'
                    ELSE state END,
       updated_at = ?
 WHERE id = ?
"""


def _move_paid(connection: Connection, deltas: dict[int, int], now: datetime) -> None:
    """paid_cents += delta; an invoice paid in full becomes paid, and open again if undone.

    One UPDATE for all, computed by the database from the stored values:
    nothing is read back first.
    """
    if not deltas:
        return
    if connection.dialect.name == "sqlite":
        # Straight to the driver, as core.store.db's bulk writes do: per-row
        # parameter processing would cost more than the updates.
        connection.exec_driver_sql(
            _MOVE_PAID, [(d, d, d, stamp(now), i) for i, d in deltas.items()]
        )
        return
    invoice = table(Invoice)
    paid = invoice.c.paid_cents + bindparam("delta")
    state = case(
        (and_(paid >= invoice.c.total_cents, invoice.c.state == "open"), "paid"),
        (and_(paid < invoice.c.total_cents, invoice.c.state == "paid"), "open"),
        else_=invoice.c.state,
    )
    statement = (
        invoice.update()
        .where(invoice.c.id == bindparam("invoice"))
        .values(paid_cents=paid, state=state, updated_at=now)
    )
    connection.execute(
        statement, [{"invoice": ident, "delta": delta} for ident, delta in deltas.items()]
    )
