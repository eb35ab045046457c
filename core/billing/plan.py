"""What each contract bills for a month: the drafts of a billing run, and what changed.

Periods follow the calendar: a month, a quarter (January, April, July,
October) or a year. A contract billed **in advance** bills a period in the
month its first day under contract falls in (the period's first month, or
the month the contract starts); one billed **in arrears** bills it the month
after its last day under contract (the period's last day, or the contract's
end). Days outside the contract are not billed: a fee is then **pro rata by
days** of the period, and the line's note says so in the client's language.

A fee or an option changed during the period is billed per version, each for
its own days (so a change from the 1st of next month never touches this
month). A change of frequency or timing ends the old regime's period the day
before it and starts the new one's on its day, so that no day is billed
twice or forgotten. Usage lines bill the usage of the period billed (in arrears) or of
the period before it (in advance), with the quantity included per month
deducted and the tiers applied, under the version in force on the usage's
last day.

Pure: the database is read in a few queries (contracts, versions, lines,
usage), then every draft is computed in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from core.base.i18n import translations
from core.billing.contracts import Line as ContractLine
from core.billing.contracts import (
    LineKind,
    StoredContract,
    Terms,
    Timing,
    UsageSource,
    load_contracts,
)
from core.billing.model import Draft, Line, cents_of
from core.billing.usage import Measures

if TYPE_CHECKING:
    from core.config.settings import Settings

_CENT = Decimal("0.01")


def first_of_month(day: date) -> date:
    return day.replace(day=1)


@cache
def month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


@cache
def period_of(day: date, months: int) -> tuple[date, date]:
    """The calendar period of `months` (1, 3 or 12) that holds `day`."""
    start_month = (day.month - 1) // months * months + 1
    start = date(day.year, start_month, 1)
    last_month = start_month + months - 1
    return start, month_end(date(day.year, last_month, 1))


def days_between(first: date, last: date) -> int:
    """Days from `first` to `last`, both included."""
    return (last - first).days + 1


def drafts_for(
    source: Connection | Engine | Session,
    month: date,
    settings: Settings,
    *,
    contracts: Sequence[StoredContract] | None = None,
) -> list[Draft]:
    """The drafts every contract bills in `month`, by client and contract reference.

    `source`: a connection (the caller's transaction), a session, or an engine.
    `contracts`: the contracts already loaded (load_contracts), else read.
    """
    if isinstance(source, Session):
        return drafts_for(source.connection(), month, settings, contracts=contracts)
    if isinstance(source, Engine):
        with source.connect() as connection:
            return drafts_for(connection, month, settings, contracts=contracts)
    found = contracts if contracts is not None else load_contracts(source)
    projects = settings.worksection.projects if settings.worksection else {}
    hour_clients = {
        contract.client
        for contract in found
        for version in contract.versions
        for line in version.terms.lines
        if line.source == UsageSource.WORKSECTION_HOURS
    }
    measures = Measures(source, projects, around=first_of_month(month), hour_clients=hour_clients)
    currency = settings.billing.currency
    drafts = [
        draft
        for contract in sorted(found, key=lambda item: (item.client.casefold(), item.reference))
        for draft in drafts_of(contract, first_of_month(month), measures, currency)
    ]
    return drafts


@dataclass(frozen=True)
class Span:
    """The days a contract bills (`first`..`last`) of a calendar period, under one regime.

    A regime is a run of versions with the same frequency and timing
    (`since`..`until`): days billed under another one are never billed again.
    """

    first: date
    last: date
    period_start: date
    period_end: date
    since: date


def regime(contract: StoredContract, day: date) -> tuple[Terms, date, date] | None:
    """The terms in force on `day`, and the days their frequency and timing last."""
    versions = contract.versions
    index = next(
        (n for n in range(len(versions) - 1, -1, -1) if versions[n].effective_from <= day), None
    )
    if index is None:
        return None
    terms = versions[index].terms
    kind = (terms.frequency, terms.timing)
    low = index
    while low > 0 and (versions[low - 1].terms.frequency, versions[low - 1].terms.timing) == kind:
        low -= 1
    high = index + 1
    while (
        high < len(versions)
        and (
            versions[high].terms.frequency,
            versions[high].terms.timing,
        )
        == kind
    ):
        high += 1
    since = contract.start_on if low == 0 else versions[low].effective_from
    until = versions[high].effective_from - timedelta(days=1) if high < len(versions) else date.max
    return terms, since, until


def billed_spans(contract: StoredContract, month: date) -> list[Span]:
    """What a contract bills in `month` (its first day): at most a period in advance and
    one in arrears (both only in the month its timing changes).
    """
    end = contract.end_on or date.max
    # The days whose regime and period may be due: the month's first, the
    # day before it, and the days around each change, start and end.
    # A span due in the month starts in it (advance) or ends in the month before
    # (arrears): only those two months' days can be due.
    low, high = first_of_month(month - timedelta(days=1)), month_end(month)
    days = {month, month - timedelta(days=1), contract.start_on}
    for version in contract.versions:
        days.update((version.effective_from, version.effective_from - timedelta(days=1)))
    if contract.end_on is not None:
        days.add(contract.end_on)
    found: dict[date, Span] = {}
    for day in sorted(day for day in days if low <= day <= high):
        ruling = regime(contract, day)
        if ruling is None:
            continue
        terms, since, until = ruling
        period = period_of(day, terms.frequency.months)
        first = max(period[0], contract.start_on, since)
        last = min(period[1], end, until)
        if first > last or first in found:
            continue
        # In advance: the month of the first day; in arrears: the month after the last.
        after = first_of_month(last) + timedelta(days=31)
        due = first if terms.timing == Timing.ADVANCE else after
        if first_of_month(due) == month:
            found[first] = Span(first, last, period[0], period[1], since)
    return [found[first] for first in sorted(found)]


def drafts_of(
    contract: StoredContract, month: date, measures: Measures, currency: str = "EUR"
) -> list[Draft]:
    """What one contract bills in `month` (its first day)."""
    found = []
    for span in billed_spans(contract, month):
        header = (
            contract.terms_on(min(max(month, span.first), span.last)) or contract.versions[0].terms
        )
        words = translations(header.language)
        lines = _fee_lines(
            contract, span.first, span.last, span.period_start, span.period_end, words
        )
        lines += _usage_lines(contract, header, span, measures, words)
        if not lines:
            continue
        found.append(
            Draft(
                contract_id=contract.id,
                client_id=contract.client_id,
                period_start=span.first,
                period_end=span.last,
                lines=tuple(lines),
                buyer=header.buyer,
                language=header.language,
                payment_terms_days=header.payment_terms_days,
                payment_method=header.payment_method,
                mandate=header.mandate,
                billing_email=header.billing_email,
                currency=currency,
            )
        )
    return found


def _segments(contract: StoredContract, first: date, last: date) -> list[tuple[date, date, Terms]]:
    """`first`..`last` cut where a version takes effect, each piece with its terms."""
    cuts = [
        version.effective_from
        for version in contract.versions
        if first < version.effective_from <= last
    ]
    starts = [first, *cuts]
    ends = [day - timedelta(days=1) for day in cuts] + [last]
    found = []
    for start, end in zip(starts, ends, strict=True):
        terms = contract.terms_on(start) or contract.versions[0].terms
        found.append((start, end, terms))
    return found


def _fee_lines(
    contract: StoredContract,
    first: date,
    last: date,
    period_start: date,
    period_end: date,
    words: Any,
) -> list[Line]:
    period_days = days_between(period_start, period_end)
    lines = []
    for start, end, terms in _segments(contract, first, last):
        months = terms.frequency.months
        unit = {1: "month", 3: "quarter", 12: "year"}[months]
        covered = days_between(start, end)
        for line in terms.lines:
            if line.kind == LineKind.USAGE or line.amount_cents is None:
                continue
            if covered == period_days and line.per == "month":
                quantity, price, shown_unit = Decimal(months), line.amount_cents, "month"
            else:
                per_period = Decimal(line.amount_cents) * (
                    months if line.per == "month" else Decimal(months) / 12
                )
                quantity, shown_unit = Decimal(1), unit
                price = cents_of(per_period * covered / period_days)
            note = ""
            if covered != period_days:
                note = words.gettext("pro rata {covered}/{days} days").format(
                    covered=covered, days=period_days
                )
            lines.append(
                Line(
                    description=line.description,
                    quantity=quantity,
                    unit_price_cents=price,
                    vat_rate=terms.vat_rate,
                    service_start=start,
                    service_end=end,
                    unit=shown_unit,
                    note=note,
                )
            )
    return lines


def _usage_lines(
    contract: StoredContract,
    header: Terms,
    span: Span,
    measures: Measures,
    words: Any,
) -> list[Line]:
    """The usage lines: of the period billed (arrears) or of the one before (advance)."""
    months = header.frequency.months
    if header.timing == Timing.ADVANCE:
        period = period_of(span.period_start - timedelta(days=1), months)
    else:
        period = period_of(span.period_start, months)
    end = contract.end_on or date.max
    window_first = max(period[0], contract.start_on, span.since)
    window_last = min(period[1], end)
    if header.timing == Timing.ARREARS:
        window_last = min(window_last, span.last)
    if window_first > window_last:
        return []
    terms = contract.terms_on(window_last) or header
    share = Decimal(days_between(window_first, window_last)) / days_between(*period)
    lines = []
    for line in terms.lines:
        if line.kind != LineKind.USAGE or line.source is None:
            continue
        used = measures.measure(
            line.source,
            contract.client_id,
            contract.client,
            line.service_key,
            window_first,
            window_last,
        ).quantize(_CENT, rounding=ROUND_HALF_UP)
        included = (line.included * months * share).quantize(_CENT, rounding=ROUND_HALF_UP)
        billable = max(used - included, Decimal(0))
        note = words.gettext("{used} {unit} used, {included} included, {first} to {last}").format(
            used=_plain(used),
            unit=line.unit,
            included=_plain(included),
            first=window_first.isoformat(),
            last=window_last.isoformat(),
        )
        tier_word = words.gettext("tier {number}")
        for quantity, price, tier in _priced(line, billable):
            lines.append(
                Line(
                    description=line.description,
                    quantity=quantity,
                    unit_price_cents=price,
                    vat_rate=terms.vat_rate,
                    service_start=window_first,
                    service_end=window_last,
                    unit=line.unit,
                    note=note if tier is None else f"{note}; {tier_word.format(number=tier)}",
                )
            )
    return lines


def _priced(line: ContractLine, billable: Decimal) -> list[tuple[Decimal, int, int | None]]:
    """(quantity, unit price, tier number) of a usage line's billable quantity."""
    if not line.tiers:
        return [(billable, line.unit_price_cents or 0, None)]
    found: list[tuple[Decimal, int, int | None]] = []
    below = Decimal(0)
    for number, tier in enumerate(line.tiers, 1):
        top = billable if tier.up_to is None else min(billable, tier.up_to)
        if top > below or number == 1:
            found.append((max(top - below, Decimal(0)), tier.unit_price_cents, number))
        if tier.up_to is None or billable <= tier.up_to:
            break
        below = tier.up_to
    return found


def _plain(value: Decimal) -> str:
    """A quantity without trailing zeros: 12.5, 10."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# -- what changed since last month ---------------------------------------------------------


@dataclass(frozen=True)
class PlanChange:
    """How a contract's bill differs from last month's.

    `kind`: new (billed now, not last month), not_billed (billed last month,
    not now), amount (the net amount changed), lines (lines added or gone).
    """

    client_id: int
    contract_id: int
    kind: str
    before_cents: int
    after_cents: int
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "contract_id": self.contract_id,
            "kind": self.kind,
            "before_cents": self.before_cents,
            "after_cents": self.after_cents,
            "added": list(self.added),
            "removed": list(self.removed),
        }


def planned_changes(previous: Sequence[Draft], current: Sequence[Draft]) -> list[PlanChange]:
    """What changed between last month's drafts and this month's, per contract.

    A contract with two drafts in a month (its timing changed) counts as one:
    their amounts added, their lines together.
    """
    before = _by_contract(previous)
    after = _by_contract(current)
    changes = []
    for contract_id in sorted(before.keys() | after.keys()):
        old, new = before.get(contract_id), after.get(contract_id)
        if old is None and new is not None:
            changes.append(PlanChange(new[0], contract_id, "new", 0, new[1]))
            continue
        if new is None and old is not None:
            changes.append(PlanChange(old[0], contract_id, "not_billed", old[1], 0))
            continue
        assert old is not None and new is not None
        added = tuple(sorted(new[2] - old[2]))
        removed = tuple(sorted(old[2] - new[2]))
        if added or removed:
            changes.append(PlanChange(new[0], contract_id, "lines", old[1], new[1], added, removed))
        elif old[1] != new[1]:
            changes.append(PlanChange(new[0], contract_id, "amount", old[1], new[1]))
    return changes


def _by_contract(drafts: Sequence[Draft]) -> dict[int, tuple[int, int, set[str]]]:
    """Per contract: its client, its drafts' net amount, their lines' descriptions."""
    found: dict[int, tuple[int, int, set[str]]] = {}
    for draft in drafts:
        client, net, names = found.get(draft.contract_id, (draft.client_id, 0, set()))
        names |= {line.description for line in draft.lines}
        found[draft.contract_id] = (client, net + draft.totals.net_cents, names)
    return found
