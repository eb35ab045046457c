"""What people decide on a statement line: accept a candidate, reject, restore,
undo an allocation; each one audited.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select, text

from core.base.kinds import Actor
from core.config.banks import BanksConfig
from core.receivables.matching.book import Line, Part
from core.receivables.matching.matcher import (
    _LINE_COLUMNS,
    _line,
    _match,
    _move_paid,
    _Store,
    load_book,
)
from core.store.audit import audit_row, write_audit
from core.store.db import write
from core.store.models.receivables import (
    Allocation,
    ClientIban,
)
from core.store.models.system import table


class MatchingError(Exception):
    """A request about a line or an invoice that cannot be done; the message says why."""


def _load_line(connection: Connection, line_id: int) -> tuple[Line, str]:
    row = connection.execute(
        text(f"SELECT {_LINE_COLUMNS}, match_state FROM banktransaction WHERE id = :id"),
        {"id": line_id},
    ).first()
    if row is None:
        raise MatchingError(f"no statement line #{line_id}")
    return _line(row), row[8]


def accept(
    engine: Engine,
    banks: BanksConfig,
    line_id: int,
    invoice_numbers: Sequence[str],
    actor: Actor,
    now: datetime,
) -> list[Part]:
    """Apply a line to the invoices named (or to its best candidate), as `actor` decided."""
    with write(engine) as connection:
        line, state = _load_line(connection, line_id)
        if state == "matched":
            raise MatchingError(f"line #{line_id} is already matched (undo it first)")
        if line.amount <= 0:
            raise MatchingError(f"line #{line_id} is a debit: nothing to match")
        book = load_book(connection, banks)
        reasons = [f"confirmed by {actor}"]
        if invoice_numbers:
            by_number = {invoice.number: invoice.id for invoice in book.invoices.values()}
            missing = [number for number in invoice_numbers if number not in by_number]
            if missing:
                raise MatchingError(f"no open invoice {', '.join(missing)}")
            ids: tuple[int, ...] = tuple(by_number[number] for number in invoice_numbers)
            confidence = None
        else:
            row = connection.execute(
                text(
                    "SELECT invoice_ids, confidence, reasons FROM matchcandidate "
                    "WHERE transaction_id = :id ORDER BY rank LIMIT 1"
                ),
                {"id": line_id},
            ).first()
            if row is None:
                raise MatchingError(f"line #{line_id} has no candidate: name the invoices")
            ids = tuple(int(part) for part in row[0].split(","))
            if any(book.invoices.get(i) is None or book.invoices[i].balance <= 0 for i in ids):
                raise MatchingError(f"line #{line_id}: its candidate is no longer open")
            confidence = row[1]
            reasons = [*json.loads(row[2]), *reasons]
        parts = book.plan(line, ids)
        store = _Store(now)
        store.allocate(line, parts, actor, confidence, reasons)
        store.state(line_id, "matched", actor)
        if line.iban and line.iban not in book.ibans:
            store.learn(line.iban, book.invoices[ids[0]].client_id)
        store.flush(connection)
        return parts


def reject(engine: Engine, line_id: int, actor: Actor, now: datetime) -> None:
    """Take a line out of the review queue: it pays none of our invoices."""
    with write(engine) as connection:
        _line_row, state = _load_line(connection, line_id)
        if state == "matched":
            raise MatchingError(f"line #{line_id} is matched: undo it instead")
        store = _Store(now)
        store.state(line_id, "rejected", actor)
        store.flush(connection)
        entry = audit_row(now, actor, "reject", "banktransaction", line_id, {"was": state})
        write_audit(connection, [entry])


def restore(engine: Engine, banks: BanksConfig, line_id: int, actor: Actor, now: datetime) -> str:
    """Bring a rejected line back: it is proposed again as a new line would be, never applied.

    Returns the state it comes back in (review, or unmatched when nothing fits now).
    """
    with write(engine) as connection:
        line, state = _load_line(connection, line_id)
        if state != "rejected":
            raise MatchingError(f"line #{line_id} is not rejected ({state})")
        _match(connection, load_book(connection, banks), [line], now, allow_auto=False)
        _line_row, back = _load_line(connection, line_id)
        detail = {"was": state, "now": back}
        write_audit(
            connection, [audit_row(now, actor, "restore", "banktransaction", line_id, detail)]
        )
        return back


def unallocate(
    engine: Engine, banks: BanksConfig, line_id: int, actor: Actor, now: datetime
) -> int:
    """Reverse a line's allocations (invoices owe again) and put it back in the review queue.

    Returns the cents given back to invoices.
    """
    with write(engine) as connection:
        return _unallocate(connection, banks, line_id, actor, now)


def undo_accept(
    engine: Engine,
    banks: BanksConfig,
    line_id: int,
    actor: str,
    now: datetime,
    window: timedelta,
) -> int:
    """Take back, within `window` of it, the match just made on a line.

    As `unallocate` (the invoices owe as before, in the state they were in;
    the line is back for review), and the account the match taught is
    forgotten; the audit records the undo. Refused once `window` is over:
    the match stays, and `unallocate` reverses it. Returns the cents given back.
    """
    with write(engine) as connection:
        line, _state = _load_line(connection, line_id)
        allocations = table(Allocation)
        at = connection.execute(
            select(func.max(allocations.c.at)).where(
                allocations.c.transaction_id == line_id, allocations.c.reversed_at.is_(None)
            )
        ).scalar()
        if at is None:
            raise MatchingError(f"line #{line_id} has no match to undo")
        if now >= at + window:
            seconds = int(window.total_seconds())
            raise MatchingError(
                f"too late: undo works for {seconds} seconds"
                " (in Recent decisions, u reverses the match)"
            )
        given_back = _unallocate(connection, banks, line_id, actor, now)
        ibans = table(ClientIban)
        if line.iban:
            connection.execute(
                ibans.delete().where(
                    ibans.c.iban == line.iban,
                    ibans.c.source == "confirmed",
                    ibans.c.learned_at == at,
                )
            )
        write_audit(
            connection,
            [
                audit_row(
                    now,
                    actor,
                    "undo_accept",
                    "banktransaction",
                    line_id,
                    {"accepted_at": at.isoformat()},
                )
            ],
        )
        return given_back


def _unallocate(
    connection: Connection, banks: BanksConfig, line_id: int, actor: str, now: datetime
) -> int:
    line, state = _load_line(connection, line_id)
    allocations = table(Allocation)
    rows = (
        connection.execute(
            select(allocations).where(
                allocations.c.transaction_id == line_id, allocations.c.reversed_at.is_(None)
            )
        )
        .mappings()
        .all()
    )
    if not rows:
        raise MatchingError(f"line #{line_id} has no allocation to undo ({state})")
    connection.execute(
        allocations.update()
        .where(allocations.c.transaction_id == line_id, allocations.c.reversed_at.is_(None))
        .values(reversed_at=now, reversed_by=actor)
    )
    reversed_rows = [
        {**dict(row), "cents": -row["cents"], "by": actor, "reversed_at": now} for row in rows
    ]
    deltas: dict[int, int] = defaultdict(int)
    for row in reversed_rows:
        if row["invoice_id"] is not None:
            deltas[row["invoice_id"]] += row["cents"]
    _move_paid(connection, deltas, now)
    write_audit(
        connection,
        [
            audit_row(
                now,
                actor,
                "unallocate",
                "invoice" if row["invoice_id"] is not None else "client",
                row["invoice_id"],
                {"transaction": line_id, "kind": row["kind"], "cents": -row["cents"]},
            )
            for row in reversed_rows
        ],
    )
    book = load_book(connection, banks)
    _match(connection, book, [line], now, allow_auto=False)
    return sum(-row["cents"] for row in reversed_rows if row["invoice_id"] is not None)
