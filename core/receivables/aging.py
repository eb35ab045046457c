"""Receivables as the dashboard shows them: overdue invoices, aged into buckets.

Amounts are integer cents in the database and Decimal here, so nothing is
ever rounded on the way. An invoice's balance is its total less what was
paid; it is overdue from the day after its due date while a balance remains
and it is neither disputed nor written off.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from core.base.i18n import N_
from core.base.instants import as_date
from core.base.kinds import Actor
from core.store.reader import Reader

# The next step once every level is done, stored in these words; the
# dashboard draws them in the interface's language.
ALL_LEVELS_DONE = N_("all reminder levels done: call the client")
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
CENTS = Decimal(100)
PENNY = Decimal("0.01")

_OVERDUE = """
SELECT i.id, i.number, cl.name, i.currency, i.total_cents, i.paid_cents, i.due_on,
       i.dunning_level, i.next_step, i.state, i.promised_on, i.next_step_on, r.status
  FROM invoice i
  JOIN client cl ON cl.id = i.client_id
  LEFT JOIN reminder r ON r.client_id = i.client_id AND r.run_on = :today
 WHERE i.state IN ('open', 'disputed') AND i.due_on < :today AND i.paid_cents < i.total_cents
 ORDER BY i.due_on, i.number
"""


def aging_bucket(days_past_due: int) -> str:
    """current, 1-30, 31-60, 61-90 or 90+ days past due."""
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1-30"
    if days_past_due <= 60:
        return "31-60"
    if days_past_due <= 90:
        return "61-90"
    return "90+"


@dataclass(frozen=True)
class OverdueInvoice:
    id: int
    number: str
    client: str
    currency: str
    total: Decimal
    balance: Decimal
    due_on: date
    days_past_due: int
    dunning_level: int
    next_step: str | None
    state: str
    promised_on: date | None
    # When the next dunning level falls due (None: paused, disputed or none left).
    next_step_on: date | None = None
    # The client's reminder of the day, if one was drafted: draft, sent or cancelled.
    reminder_today: str | None = None

    @property
    def bucket(self) -> str:
        return aging_bucket(self.days_past_due)

    @property
    def next_action(self) -> str:
        """The next dunning step in words, pauses included: what the panel shows."""
        if self.state == "disputed":
            return "disputed: reminders paused"
        return self.next_step or "—"


def overdue_invoices(reader: Reader, today: date, limit: int | None = None) -> list[OverdueInvoice]:
    """Invoices past due with a balance left, oldest due first; the first `limit` of them."""
    invoices = []
    sql = _OVERDUE if limit is None else f"{_OVERDUE} LIMIT {int(limit)}"
    for row in reader.rows(sql, {"today": today.isoformat()}):
        (id_, number, client, currency, total, paid, due, level, step, state, promised) = row[:11]
        step_on, reminder = row[11], row[12]
        due_on = as_date(due)
        invoices.append(
            OverdueInvoice(
                id=id_,
                number=number,
                client=client,
                currency=currency,
                total=(Decimal(total) / CENTS).quantize(PENNY),
                balance=(Decimal(total - paid) / CENTS).quantize(PENNY),
                due_on=due_on,
                days_past_due=(today - due_on).days,
                dunning_level=level,
                next_step=step,
                state=state,
                promised_on=as_date(promised) if promised else None,
                next_step_on=as_date(step_on) if step_on else None,
                reminder_today=reminder,
            )
        )
    return invoices


def bucket_totals(invoices: list[OverdueInvoice]) -> dict[str, dict[str, Decimal]]:
    """Balances per currency and bucket: {"EUR": {"1-30": Decimal(...), ...}}."""
    totals: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {bucket: Decimal(0) for bucket in BUCKETS}
    )
    for invoice in invoices:
        totals[invoice.currency][invoice.bucket] += invoice.balance
    return dict(totals)


# The same invoices as _OVERDUE, summed in the database per currency and
# bucket: the panel's totals without building a record per invoice. The
# buckets are aging_bucket's, as bounds on the due date.
_OVERDUE_TOTALS = """
SELECT i.currency,
       CASE WHEN i.due_on >= :d30 THEN '1-30'
            WHEN i.due_on >= :d60 THEN '31-60'
            WHEN i.due_on >= :d90 THEN '61-90'
            ELSE '90+' END AS bucket,
       count(*), SUM(i.total_cents - i.paid_cents)
  FROM invoice i
 WHERE i.state IN ('open', 'disputed') AND i.due_on < :today AND i.paid_cents < i.total_cents
 GROUP BY 1, 2
"""
# Clients with an overdue invoice whose reminder of the day waits as a draft.
_DRAFTS_TODAY = """
SELECT count(DISTINCT cl.name)
  FROM invoice i
  JOIN client cl ON cl.id = i.client_id
  JOIN reminder r ON r.client_id = i.client_id AND r.run_on = :today
 WHERE i.state IN ('open', 'disputed') AND i.due_on < :today AND i.paid_cents < i.total_cents
   AND r.status = 'draft'
"""
# Most days no draft waits (none before the dunning run, none once they are
# sent): this one look at the day's reminders then spares reading the invoices.
_ANY_DRAFT_TODAY = "SELECT count(*) FROM reminder WHERE run_on = :today AND status = 'draft'"


class Overdue(NamedTuple):
    """The overdue invoices as a panel shows them: the oldest due first, and the totals of all."""

    invoices: list[OverdueInvoice]  # the first ones, oldest due first
    counted: int  # all of them, listed or not (`count` is a tuple method)
    totals: dict[str, dict[str, Decimal]]  # as bucket_totals gives them, over all of them
    drafts: int  # clients whose reminder of the day is a draft


def overdue_summary(reader: Reader, today: date, listed: int) -> Overdue:
    """The first `listed` overdue invoices as records; the count and totals summed in SQL."""
    bounds = {
        f"d{days}": date.fromordinal(today.toordinal() - days).isoformat() for days in (30, 60, 90)
    }
    params = {"today": today.isoformat(), **bounds}
    count = 0
    cents: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(BUCKETS, 0))
    for currency, bucket, invoices, balance in reader.rows(_OVERDUE_TOTALS, params):
        count += int(invoices)
        cents[currency][bucket] += int(balance)
    totals = {
        currency: {
            bucket: (Decimal(amount) / CENTS).quantize(PENNY) if amount else Decimal(0)
            for bucket, amount in buckets.items()
        }
        for currency, buckets in cents.items()
    }
    drafts = 0
    if reader.rows(_ANY_DRAFT_TODAY, {"today": today.isoformat()})[0][0]:
        drafts = int(reader.rows(_DRAFTS_TODAY, {"today": today.isoformat()})[0][0])
    return Overdue(overdue_invoices(reader, today, listed), count, totals, drafts)


_RECEIVABLE = """
SELECT i.currency, COALESCE(SUM(i.total_cents - i.paid_cents), 0)
  FROM invoice i
 WHERE i.state IN ('open', 'disputed') AND i.issued_on <= :end AND i.paid_cents < i.total_cents
 GROUP BY i.currency
"""
_SALES = """
SELECT i.currency, COALESCE(SUM(i.total_cents), 0)
  FROM invoice i
 WHERE i.issued_on >= :start AND i.issued_on <= :end
 GROUP BY i.currency
"""


@dataclass(frozen=True)
class Dso:
    """Days sales outstanding of one currency over a period."""

    currency: str
    receivables: Decimal
    credit_sales: Decimal
    days: int

    @property
    def value(self) -> Decimal | None:
        """receivables / credit sales x days in the period; None without sales."""
        if not self.credit_sales:
            return None
        return (self.receivables / self.credit_sales * self.days).quantize(Decimal("0.1"))


def days_sales_outstanding(reader: Reader, start: date, end: date) -> list[Dso]:
    """DSO per currency for the period from `start` to `end`, both days included.

    Receivables are the balances still open today of invoices issued by
    `end` (payments are known by amount, not by date, so a period in the
    past counts what is still unpaid now). Written-off invoices are not
    receivables.
    """
    days = (end - start).days + 1
    params = {"start": start.isoformat(), "end": end.isoformat()}
    owed: dict[str, int] = dict(reader.rows(_RECEIVABLE, params))
    sold: dict[str, int] = dict(reader.rows(_SALES, params))
    return [
        Dso(
            currency=currency,
            receivables=(Decimal(owed.get(currency, 0)) / CENTS).quantize(PENNY),
            credit_sales=(Decimal(sold.get(currency, 0)) / CENTS).quantize(PENNY),
            days=days,
        )
        for currency in sorted(set(owed) | set(sold))
    ]


# -- the review queue of bank statement lines (see core.receivables.matching) -------------------
#
# Its records are named tuples rather than dataclasses: this module loads with
# the dashboard, and a dataclass costs about a millisecond of start-up to define.

# Awaiting a person: lines with candidates ('review') and credits with none
# ('unmatched'), which the person rejects or applies to invoices they name.
AWAITING_REVIEW = "match_state IN ('review', 'unmatched')"
_REVIEW_LINES = f"""
SELECT id, booking_date, amount_cents, currency, counterparty_name, text
  FROM banktransaction
 WHERE {AWAITING_REVIEW}
 ORDER BY {{order}}
 LIMIT :limit
"""
_OLDEST_FIRST = "booking_date, id"
_LARGEST_FIRST = "amount_cents DESC, booking_date, id"
_REVIEW_COUNT = f"SELECT count(*) FROM banktransaction WHERE {AWAITING_REVIEW}"
_CANDIDATES = """
SELECT mc.transaction_id, mc.rank, mc.invoice_ids, mc.confidence, mc.reasons
  FROM matchcandidate mc
  JOIN banktransaction bt ON bt.id = mc.transaction_id
 WHERE bt.match_state = 'review'
 ORDER BY mc.transaction_id, mc.rank
"""
_CANDIDATE_INVOICES = """
SELECT i.id, i.number, cl.name, i.currency, i.total_cents - i.paid_cents
  FROM invoice i
  JOIN client cl ON cl.id = i.client_id
 WHERE i.id IN ({ids})
"""
_RECENT_MATCHES = """
SELECT bt.id, bt.booking_date, bt.amount_cents, bt.currency, bt.counterparty_name,
       bt.matched_by, bt.match_state
  FROM banktransaction bt
 WHERE bt.match_state IN ('matched', 'rejected')
 ORDER BY bt.matched_at DESC, bt.id DESC
 LIMIT :limit
"""
_ALLOCATED = """
SELECT a.transaction_id, i.number
  FROM allocation a JOIN invoice i ON i.id = a.invoice_id
 WHERE a.transaction_id IN ({ids}) AND a.reversed_at IS NULL
 ORDER BY a.id
"""


class Candidate(NamedTuple):
    """What a statement line may pay, as ranked by the matcher (rank 1 is its best)."""

    rank: int
    numbers: tuple[str, ...]
    clients: tuple[str, ...]
    # The open balance of those invoices together, in `currency`.
    balance: Decimal
    currency: str
    confidence: float
    reasons: tuple[str, ...]


class ReviewLine(NamedTuple):
    """A credit the matcher would not apply on its own, with its ranked candidates.

    No candidate at all: nothing open fits it; the person rejects it or names
    the invoices it pays.
    """

    id: int
    booking_date: date
    amount: Decimal
    currency: str
    payer: str
    text: str
    candidates: tuple[Candidate, ...]


class RecentMatch(NamedTuple):
    """A line decided lately (matched or rejected), newest first: what an undo would reverse."""

    id: int
    booking_date: date
    amount: Decimal
    currency: str
    payer: str
    by: Actor
    invoices: str
    state: str = "matched"  # or "rejected": pays none of our invoices


def review_count(reader: Reader) -> int:
    """How many statement lines wait for a person to decide."""
    return int(reader.rows(_REVIEW_COUNT)[0][0])


def review_queue(
    reader: Reader, limit: int = 500, *, largest_first: bool = False
) -> list[ReviewLine]:
    """Lines awaiting review, oldest first (or largest first), each with its candidates
    best first; credits that have none are among them.

    An invoice of a candidate that no longer exists shows as its id, so a
    line is never hidden by what happened to one of its candidates.
    """
    order = _LARGEST_FIRST if largest_first else _OLDEST_FIRST
    lines = reader.rows(_REVIEW_LINES.format(order=order), {"limit": limit})
    wanted = {row[0] for row in lines}
    ranked: dict[int, list[tuple[int, list[int], float, list[str]]]] = defaultdict(list)
    invoice_ids: set[int] = set()
    for line_id, rank, ids, confidence, reasons in reader.rows(_CANDIDATES):
        if line_id not in wanted:
            continue
        parsed = [int(part) for part in str(ids).split(",") if part.strip()]
        invoice_ids.update(parsed)
        ranked[line_id].append((rank, parsed, float(confidence), list(json.loads(reasons))))
    invoices = _candidate_invoices(reader, sorted(invoice_ids))
    return [
        ReviewLine(
            id=row[0],
            booking_date=as_date(row[1]),
            amount=(Decimal(row[2]) / CENTS).quantize(PENNY),
            currency=row[3],
            payer=row[4] or "",
            text=row[5] or "",
            candidates=tuple(
                _candidate(rank, ids, confidence, reasons, invoices, row[3])
                for rank, ids, confidence, reasons in ranked.get(row[0], [])
            ),
        )
        for row in lines
    ]


def recent_matches(reader: Reader, limit: int = 20) -> list[RecentMatch]:
    """The lines matched (by a rule or a person) or rejected most recently, newest first."""
    rows = reader.rows(_RECENT_MATCHES, {"limit": limit})
    numbers: dict[int, list[str]] = defaultdict(list)
    if rows:
        # Integers read from the database, so written into the query as they are.
        ids = ",".join(str(int(row[0])) for row in rows)
        for line_id, number in reader.rows(_ALLOCATED.format(ids=ids)):
            numbers[line_id].append(number)
    return [
        RecentMatch(
            id=row[0],
            booking_date=as_date(row[1]),
            amount=(Decimal(row[2]) / CENTS).quantize(PENNY),
            currency=row[3],
            payer=row[4] or "",
            by=row[5] or "",
            invoices=(
                "rejected"
                if row[6] == "rejected"
                else ", ".join(numbers.get(row[0], [])) or "client credit"
            ),
            state=row[6],
        )
        for row in rows
    ]


_OPEN_BALANCES = """
SELECT i.id, i.number, cl.name, i.currency, i.total_cents - i.paid_cents, i.due_on
  FROM invoice i
  JOIN client cl ON cl.id = i.client_id
 WHERE i.state IN ('open', 'disputed') AND i.paid_cents < i.total_cents
 ORDER BY i.due_on, i.number
"""


class OpenBalance(NamedTuple):
    """An invoice a payment can still be applied to: what the invoice picker lists."""

    id: int
    number: str
    client: str
    currency: str
    balance: Decimal
    due_on: date


def open_balances(reader: Reader) -> list[OpenBalance]:
    """Every invoice with a balance left (open or disputed), oldest due first.

    The same invoices as a person may name in `pmdesk payments accept`.
    """
    return [
        OpenBalance(
            id=row[0],
            number=row[1],
            client=row[2],
            currency=row[3],
            balance=(Decimal(row[4]) / CENTS).quantize(PENNY),
            due_on=as_date(row[5]),
        )
        for row in reader.rows(_OPEN_BALANCES)
    ]


def _candidate_invoices(reader: Reader, ids: list[int]) -> dict[int, tuple[str, str, str, int]]:
    found: dict[int, tuple[str, str, str, int]] = {}
    for start in range(0, len(ids), 500):
        # Integers read from the database, so written into the query as they are.
        chunk = ",".join(str(int(i)) for i in ids[start : start + 500])
        for id_, number, client, currency, balance in reader.rows(
            _CANDIDATE_INVOICES.format(ids=chunk)
        ):
            found[id_] = (number, client, currency, balance)
    return found


def _candidate(
    rank: int,
    ids: list[int],
    confidence: float,
    reasons: list[str],
    invoices: dict[int, tuple[str, str, str, int]],
    currency: str,
) -> Candidate:
    known = [invoices[i] for i in ids if i in invoices]
    clients = tuple(dict.fromkeys(client for _number, client, _currency, _cents in known))
    return Candidate(
        rank=rank,
        numbers=tuple(invoices[i][0] if i in invoices else f"#{i}" for i in ids),
        clients=clients,
        balance=(Decimal(sum(cents for *_rest, cents in known)) / CENTS).quantize(PENNY),
        currency=known[0][2] if known else currency,
        confidence=confidence,
        reasons=tuple(str(reason) for reason in reasons),
    )
