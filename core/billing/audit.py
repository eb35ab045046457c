"""The billing audit: the four questions asked of a month's billing.

**Who** (a client who left still billed, a client using the service not
billed), **what** (the right services, usage lines with their volumes),
**when** (from the month a contract starts until it ends) and **how much**.
Each question is a pure function over plain values, so that the audit reads
the same whatever store the drafts and the invoices come from:

- `missing_and_extra`: what the contracts should bill for the month
  (`Draft`s) against what was billed (`BilledItem`s): active contracts with
  no invoice for the period, invoices with no contract behind them or for a
  period after the contract's end;
- `unbilled_activity`: clients with activity in the month (events of their
  tracker tasks and chats, time logged on their projects) and no active
  contract, read from the store in a few aggregate queries;
- `usage_check`: usage billed against usage measured, per client and service;
- the partner's usage report (core.billing.partner) compared line by line.

`AuditReport` gathers the findings with their amounts and totals, and
serialises to JSON. A finding is a result, not an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.billing.model import Draft, Line, cents_of, totals_of
from core.store.reader import Reader
from core.time.report import client_of

# A service name matches a billed line's description when rapidfuzz scores them at least this.
FUZZY_SCORE = 85.0


def month_bounds(month: date) -> tuple[date, date]:
    """The first and the last day of `month`'s month."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def parse_month(text: str) -> date:
    """`2026-11` as the month's first day; ValueError otherwise."""
    try:
        year, number = (int(part) for part in text.strip().split("-"))
        return date(year, number, 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a month (YYYY-MM)") from None


@dataclass(frozen=True)
class BilledItem:
    """An issued invoice as the audit reads it: its billing key, client and lines."""

    contract_id: int | None
    period_start: date
    period_end: date
    client_id: int | None
    client: str
    number: str
    lines: tuple[Line, ...]

    @property
    def net_cents(self) -> int:
        return totals_of(self.lines).net_cents


# -- when: missing and extra invoices ---------------------------------------------


@dataclass(frozen=True)
class MissingInvoice:
    """An active contract with no invoice for the period: bill it (run the month again)."""

    contract_id: int
    client_id: int
    client: str
    period_start: date
    period_end: date
    net_cents: int
    gross_cents: int


@dataclass(frozen=True)
class ExtraInvoice:
    """An invoice nothing expected: for a period after the contract's end, or no contract.

    `reason`: "after_end" (the contract ended on `contract_end`, before the
    period) or "not_expected" (no contract expects that period).
    """

    number: str
    contract_id: int | None
    client_id: int | None
    client: str
    period_start: date
    period_end: date
    net_cents: int
    gross_cents: int
    reason: str
    contract_end: date | None = None


def missing_and_extra(
    expected: list[Draft],
    billed: list[BilledItem],
    month: date,
    contract_ends: Mapping[int, date] | None = None,
) -> tuple[list[MissingInvoice], list[ExtraInvoice]]:
    """Expected drafts with no invoice of their key, and invoices of the month no draft expects.

    Both sides are taken for the periods starting in `month`'s month; a
    billing key is (contract_id, period_start). `contract_ends`: contract id
    -> its last day, when known (says why an invoice is extra).
    """
    first, last = month_bounds(month)
    ends = contract_ends or {}
    drafts = [draft for draft in expected if first <= draft.period_start <= last]
    items = [item for item in billed if first <= item.period_start <= last]
    billed_keys = {(item.contract_id, item.period_start) for item in items}
    expected_keys = {(draft.contract_id, draft.period_start) for draft in drafts}
    missing = []
    for draft in drafts:
        if (draft.contract_id, draft.period_start) in billed_keys:
            continue
        totals = totals_of(draft.lines)
        missing.append(
            MissingInvoice(
                draft.contract_id,
                draft.client_id,
                draft.buyer.name,
                draft.period_start,
                draft.period_end,
                totals.net_cents,
                totals.gross_cents,
            )
        )
    extra = []
    for item in items:
        if (item.contract_id, item.period_start) in expected_keys:
            continue
        end = ends.get(item.contract_id) if item.contract_id is not None else None
        totals = totals_of(item.lines)
        extra.append(
            ExtraInvoice(
                item.number,
                item.contract_id,
                item.client_id,
                item.client,
                item.period_start,
                item.period_end,
                totals.net_cents,
                totals.gross_cents,
                "after_end" if end is not None and end < item.period_start else "not_expected",
                end,
            )
        )
    missing.sort(key=lambda found: (found.client.casefold(), found.contract_id))
    extra.sort(key=lambda found: (found.client.casefold(), found.number))
    return missing, extra


# -- who: activity without a contract -----------------------------------------------


@dataclass
class UnbilledActivity:
    """A client with activity in the month and no active contract: the evidence.

    `client_id` None: time logged on a project no client of pmdesk is known
    by (the project's name, or its configured client name, is `client`).
    """

    client_id: int | None
    client: str
    tracker_events: int = 0
    chat_events: int = 0
    threads: int = 0
    minutes: int = 0

    @property
    def hours(self) -> Decimal:
        return (Decimal(self.minutes) / 60).quantize(Decimal("0.01"))


def unbilled_activity(
    connection: Reader,
    month: date,
    clients_with_contract: set[int],
    projects: Mapping[str, str] | None = None,
) -> list[UnbilledActivity]:
    """Clients with tracker or chat events, or time logged, in the month and no contract.

    Two aggregate queries: events per client and thread kind (threads whose
    last event is before the month are skipped through their own column,
    the events of the others found through the (thread, occurred_at)
    index), and minutes per project of the month's time rows. `projects`:
    project id or name -> client name (the Worksection connector's mapping);
    a project not listed is its own client.
    """
    first, last = month_bounds(month)
    low = datetime.combine(first, datetime.min.time(), UTC)
    high = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC)
    found: dict[int | str, UnbilledActivity] = {}
    names = {
        int(client_id): str(name)
        for client_id, name in connection.rows("SELECT id, name FROM client")
    }
    for client_id, kind, threads, events in connection.rows(
        "SELECT t.client_id, t.kind, COUNT(DISTINCT t.id), COUNT(*)"
        " FROM thread t JOIN event e ON e.thread_id = t.id"
        " WHERE t.client_id IS NOT NULL AND t.last_event_at >= :low"
        " AND e.occurred_at >= :low AND e.occurred_at < :high"
        " GROUP BY t.client_id, t.kind",
        {"low": low, "high": high},
    ):
        client_id = int(client_id)
        if client_id in clients_with_contract:
            continue
        entry = found.get(client_id)
        if entry is None:
            entry = found[client_id] = UnbilledActivity(client_id, names.get(client_id, "?"))
        entry.threads += int(threads)
        if kind == "chat":
            entry.chat_events += int(events)
        else:
            entry.tracker_events += int(events)
    by_name = {name.casefold(): client_id for client_id, name in names.items()}
    for client_id, name in connection.rows(
        "SELECT client_id, name FROM project WHERE client_id IS NOT NULL"
    ):
        by_name.setdefault(str(name).casefold(), int(client_id))
    mapping = projects or {}
    for project_id, project_name, minutes in connection.rows(
        "SELECT project_id, project_name, SUM(minutes) FROM timerow"
        " WHERE month = :month GROUP BY project_id, project_name",
        {"month": first.strftime("%Y-%m")},
    ):
        name = client_of(mapping, project_id, project_name) or project_name or project_id
        if not name or not minutes:
            continue
        known = by_name.get(str(name).casefold())
        if known is not None and known in clients_with_contract:
            continue
        key: int | str = known if known is not None else str(name).casefold()
        entry = found.get(key)
        if entry is None:
            entry = found[key] = UnbilledActivity(
                known, names[known] if known is not None else str(name)
            )
        entry.minutes += int(minutes)
    return sorted(found.values(), key=lambda entry: entry.client.casefold())


# -- what: usage billed against usage measured -----------------------------------------


@dataclass(frozen=True)
class UsageDifference:
    """A client's service whose billed quantity differs from the measured one.

    `difference` = measured - billed: above 0 the client was under-billed,
    below 0 over-billed. `amount_cents` is the difference at the billed unit
    price, None when nothing of it was billed (no price to apply).
    """

    client_id: int | None
    client: str
    service: str
    line: str | None
    measured: Decimal
    billed: Decimal
    unit_price_cents: int | None

    @property
    def difference(self) -> Decimal:
        return self.measured - self.billed

    @property
    def amount_cents(self) -> int | None:
        if self.unit_price_cents is None:
            return None
        return cents_of(self.difference * self.unit_price_cents)

    @property
    def direction(self) -> str:
        return "under" if self.difference > 0 else "over"


def matching_line(
    service: str, lines: Iterable[Line], mapping: Mapping[str, str] | None = None
) -> str | None:
    """The description of the billed line that bills `service`, if any.

    In order: the mapping (service -> line description), the same words
    whatever their case, then the closest description by rapidfuzz when it
    scores at least FUZZY_SCORE.
    """
    descriptions = list(dict.fromkeys(line.description for line in lines))
    if not descriptions:
        return None
    wanted = (mapping or {}).get(service, service)
    folded = {description.casefold().strip(): description for description in descriptions}
    if wanted.casefold().strip() in folded:
        return folded[wanted.casefold().strip()]
    from rapidfuzz import fuzz, process, utils

    best = process.extractOne(
        wanted,
        descriptions,
        scorer=fuzz.token_sort_ratio,
        processor=utils.default_process,
        score_cutoff=FUZZY_SCORE,
    )
    return None if best is None else str(best[0])


def compare_usage(
    client_id: int | None,
    client: str,
    service: str,
    measured: Decimal,
    lines: Iterable[Line],
    mapping: Mapping[str, str] | None = None,
) -> UsageDifference | None:
    """One service's measured quantity against the client's billed lines; None when equal."""
    lines = list(lines)
    description = matching_line(service, lines, mapping)
    matched = [
        line for line in lines if description is not None and line.description == description
    ]
    billed = sum((line.quantity for line in matched), Decimal(0))
    if billed == measured:
        return None
    price = matched[0].unit_price_cents if matched else None
    return UsageDifference(client_id, client, service, description, measured, billed, price)


def usage_check(
    billed: list[BilledItem],
    measured: Mapping[tuple[int, str], Decimal],
    mapping: Mapping[str, str] | None = None,
) -> list[UsageDifference]:
    """Usage billed against usage measured, per client and service (the differing ones).

    `measured`: (client id, service) -> the usage source's quantity for the
    period; `billed`: the month's invoices, whose lines are matched to
    services by `matching_line`.
    """
    lines: dict[int, list[Line]] = {}
    names: dict[int, str] = {}
    for item in billed:
        if item.client_id is not None:
            lines.setdefault(item.client_id, []).extend(item.lines)
            names[item.client_id] = item.client
    found = []
    for (client_id, service), quantity in sorted(measured.items()):
        difference = compare_usage(
            client_id,
            names.get(client_id, str(client_id)),
            service,
            quantity,
            lines.get(client_id, []),
            mapping,
        )
        if difference is not None:
            found.append(difference)
    return found


# -- the report ---------------------------------------------------------------------


@dataclass
class AuditReport:
    """The month's findings, question by question, with their totals."""

    month: date
    missing: list[MissingInvoice] = field(default_factory=list)
    extra: list[ExtraInvoice] = field(default_factory=list)
    unbilled: list[UnbilledActivity] = field(default_factory=list)
    usage: list[UsageDifference] = field(default_factory=list)
    # The partner's usage report, when one was given.
    partner: Any = None

    @property
    def findings(self) -> int:
        count = len(self.missing) + len(self.extra) + len(self.unbilled) + len(self.usage)
        if self.partner is not None:
            count += len(self.partner.differences) + len(self.partner.unknown_clients)
        return count

    def totals(self) -> dict[str, int]:
        """Counts and amounts (cents excluding VAT) per kind of finding."""
        differences = list(self.usage)
        if self.partner is not None:
            differences += self.partner.differences
        under = [item for item in differences if item.direction == "under"]
        over = [item for item in differences if item.direction == "over"]
        return {
            "missing_invoices": len(self.missing),
            "missing_net_cents": sum(item.net_cents for item in self.missing),
            "extra_invoices": len(self.extra),
            "extra_net_cents": sum(item.net_cents for item in self.extra),
            "clients_without_contract": len(self.unbilled),
            "under_billed_lines": len(under),
            "under_billed_cents": sum(item.amount_cents or 0 for item in under),
            "over_billed_lines": len(over),
            "over_billed_cents": -sum(item.amount_cents or 0 for item in over),
            "unknown_clients": 0 if self.partner is None else len(self.partner.unknown_clients),
            "refused_rows": 0 if self.partner is None else len(self.partner.refused),
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: dates ISO, quantities as strings, amounts in cents."""
        return {
            "month": self.month.strftime("%Y-%m"),
            "totals": self.totals(),
            "when": {
                "missing_invoices": [_plain(item) for item in self.missing],
                "extra_invoices": [_plain(item) for item in self.extra],
            },
            "who": {"activity_without_contract": [_activity(item) for item in self.unbilled]},
            "what": {"usage": [_difference(item) for item in self.usage]},
            "partner": None if self.partner is None else self.partner.as_dict(),
        }


def _plain(item: Any) -> dict[str, Any]:
    return {name: _value(value) for name, value in vars(item).items()}


def _value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _activity(item: UnbilledActivity) -> dict[str, Any]:
    return {**_plain(item), "hours": str(item.hours)}


def _difference(item: UsageDifference) -> dict[str, Any]:
    return {
        **_plain(item),
        "difference": str(item.difference),
        "amount_cents": item.amount_cents,
        "direction": item.direction,
    }
