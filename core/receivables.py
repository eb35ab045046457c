"""Receivables as the dashboard shows them: overdue invoices, aged into buckets.

Amounts are integer cents in the database and Decimal here, so nothing is
ever rounded on the way. An invoice's balance is its total less what was
paid; it is overdue from the day after its due date while a balance remains
and it is neither disputed nor written off.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .reader import Reader

BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
CENTS = Decimal(100)
PENNY = Decimal("0.01")

_OVERDUE = """
SELECT i.id, i.number, cl.name, i.currency, i.total_cents, i.paid_cents, i.due_on,
       i.dunning_level, i.next_step, i.state, i.promised_on, i.next_step_on
  FROM invoice i
  JOIN client cl ON cl.id = i.client_id
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

    @property
    def bucket(self) -> str:
        return aging_bucket(self.days_past_due)

    @property
    def next_action(self) -> str:
        """The next dunning step in words, pauses included: what the panel shows."""
        if self.state == "disputed":
            return "disputed: reminders paused"
        return self.next_step or "—"


def overdue_invoices(reader: Reader, today: date) -> list[OverdueInvoice]:
    """Invoices past due with a balance left, oldest due first."""
    invoices = []
    for row in reader.rows(_OVERDUE, {"today": today.isoformat()}):
        (id_, number, client, currency, total, paid, due, level, step, state, promised) = row[:11]
        step_on = row[11]
        due_on = _day(due)
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
                promised_on=_day(promised) if promised else None,
                next_step_on=_day(step_on) if step_on else None,
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


def _day(value: str | date) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


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
