"""Statement lines and their matches as the command line and the review
screen show them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from core.base.kinds import Actor
from core.receivables.aging import AWAITING_REVIEW


@dataclass
class MatchView:
    line: int
    booking_date: str
    amount_cents: int
    currency: str
    payer: str
    text: str
    state: str
    # "auto", a person; in the review queue "proposed", or "no candidate"
    # for a credit nothing open fits.
    by: Actor
    invoices: list[str]
    cents: list[int]
    confidence: float | None
    reasons: list[str]


def list_matches(engine: Engine, *, review_only: bool = False) -> list[MatchView]:
    """Matched lines with their allocations, and the review queue with each line's best
    candidate (credits with none included, marked "no candidate")."""
    awaiting = AWAITING_REVIEW if review_only else f"({AWAITING_REVIEW} OR match_state = 'matched')"
    with engine.connect() as connection:
        numbers: dict[int, str] = dict(
            connection.execute(text("SELECT id, number FROM invoice")).all()
        )
        lines = connection.execute(
            text(
                "SELECT id, booking_date, amount_cents, currency, counterparty_name, text, "
                f"match_state, matched_by FROM banktransaction WHERE {awaiting} "
                "ORDER BY booking_date, id"
            )
        ).all()
        allocated: dict[int, list[Any]] = defaultdict(list)
        for row in connection.execute(
            text(
                "SELECT transaction_id, invoice_id, kind, cents, confidence, reason "
                "FROM allocation WHERE reversed_at IS NULL ORDER BY id"
            )
        ):
            allocated[row[0]].append(row)
        queued: dict[int, Any] = {}
        for row in connection.execute(
            text(
                "SELECT transaction_id, invoice_ids, confidence, reasons "
                "FROM matchcandidate WHERE rank = 1"
            )
        ):
            queued[row[0]] = row
    views = []
    for line in lines:
        if line[6] == "matched":
            parts = allocated.get(line[0], [])
            by = "auto" if (line[7] or "").startswith("rule:") else line[7] or ""
            invoices = [
                numbers.get(part[1], "") if part[1] is not None else "client credit"
                for part in parts
            ]
            invoices = [
                f"{name} ({part[2]})" if part[2] != "payment" else name
                for name, part in zip(invoices, parts, strict=True)
            ]
            cents = [part[3] for part in parts]
            confidence = parts[0][4] if parts else None
            reasons = parts[0][5].split("; ") if parts else []
        else:
            best = queued.get(line[0])
            by = "proposed" if best else "no candidate"
            ids = [int(i) for i in best[1].split(",")] if best else []
            invoices = [numbers.get(i, str(i)) for i in ids]
            cents = []
            confidence = best[2] if best else None
            reasons = json.loads(best[3]) if best else []
        views.append(
            MatchView(
                line=line[0],
                booking_date=str(line[1]),
                amount_cents=line[2],
                currency=line[3],
                payer=line[4],
                text=line[5],
                state=line[6],
                by=by,
                invoices=invoices,
                cents=cents,
                confidence=confidence,
                reasons=reasons,
            )
        )
    return views
