"""Contracts (engagement letters): their terms, checked, stored in dated versions, audited.

A contract belongs to a client and runs from `start_on` until `end_on` (none:
no end set). Its terms (the buyer's legal identity, the VAT rate, the billing
frequency and timing, the payment terms and method, the lines) are kept in
versions: a change takes effect from a day and adds a version, so the terms
in force on any day stay readable and what was billed is never rewritten.
Every change leaves an audit row (core.store.audit).

Checks come first and say every problem at once (`ContractError.problems`):
an end before the start, a line with no price, an invalid IBAN, a mandate
without a signature date, an unknown client, terms out of range.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Connection, select

from core.base.kinds import Actor
from core.billing.model import Mandate, Party, PaymentMethod
from core.store.audit import audit_row, write_audit
from core.store.db import insert_many, insert_with_ids
from core.store.models.contracts import Contract, ContractLine, ContractVersion
from core.store.models.system import table
from core.store.models.threads import Client

E = TypeVar("E", bound=StrEnum)

CONTRACT = table(Contract)
VERSION = table(ContractVersion)
LINE = table(ContractLine)
CLIENT = table(Client)

# The languages a contract's invoices can be written in.
LANGUAGES = ("fr", "en")
MAX_TERMS_DAYS = 365
MAX_NOTICE_DAYS = 730


class Frequency(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"

    @property
    def months(self) -> int:
        return _MONTHS[self.value]


_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}


class Timing(StrEnum):
    # Bill the coming period at its start; or the past one, the month after it.
    ADVANCE = "advance"
    ARREARS = "arrears"


class LineKind(StrEnum):
    FEE = "fee"
    OPTION = "option"
    USAGE = "usage"


class UsageSource(StrEnum):
    # Hours logged in Worksection on the client's projects (core.time's rows).
    WORKSECTION_HOURS = "worksection_hours"
    # Events of the client's threads in pmdesk.
    PMDESK_EVENTS = "pmdesk_events"
    # A usage file imported for the period (core.billing.usage).
    FILE = "file"


class ContractError(ValueError):
    """A contract refused: every reason, each a short sentence."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Tier:
    """A band of a usage line's billable quantity: up to `up_to` (None: no limit)."""

    up_to: Decimal | None
    unit_price_cents: int


@dataclass(frozen=True)
class Line:
    """A contract line: a fee or an option of `amount_cents` each `per` month or
    year, or a usage line priced per unit (or by tiers) above an included
    quantity per month, its volume read from `source`.
    """

    kind: LineKind
    description: str
    amount_cents: int | None = None
    per: str = "month"
    unit_price_cents: int | None = None
    tiers: tuple[Tier, ...] = ()
    included: Decimal = Decimal(0)
    unit: str = "unit"
    source: UsageSource | None = None
    # What a usage file calls the service (the description when empty).
    service: str = ""

    @property
    def service_key(self) -> str:
        return (self.service or self.description).strip().casefold()


@dataclass(frozen=True)
class Terms:
    """What a contract version says: the buyer, the billing and payment terms, the lines."""

    legal_name: str
    lines: tuple[Line, ...]
    address: tuple[str, ...] = ()
    postcode: str = ""
    city: str = ""
    country: str = "FR"
    siren: str = ""
    vat_number: str = ""
    vat_rate: Decimal = Decimal(20)
    frequency: Frequency = Frequency.MONTHLY
    timing: Timing = Timing.ADVANCE
    payment_terms_days: int = 30
    payment_method: PaymentMethod = PaymentMethod.TRANSFER
    iban: str = ""
    bic: str = ""
    mandate_reference: str = ""
    mandate_signed_on: date | None = None
    billing_email: str = ""
    language: str = "fr"

    @property
    def buyer(self) -> Party:
        return Party(
            name=self.legal_name,
            address=self.address,
            postcode=self.postcode,
            city=self.city,
            country=self.country,
            siren=self.siren,
            vat_number=self.vat_number,
            email=self.billing_email,
        )

    @property
    def mandate(self) -> Mandate | None:
        if self.payment_method != PaymentMethod.SEPA_DEBIT or self.mandate_signed_on is None:
            return None
        return Mandate(self.mandate_reference, self.mandate_signed_on, self.iban, self.bic)


@dataclass(frozen=True)
class Version:
    effective_from: date
    terms: Terms


@dataclass(frozen=True)
class NewContract:
    """A contract as it is added: its client by name, its dates, its first terms."""

    reference: str
    client: str
    start_on: date
    terms: Terms
    end_on: date | None = None
    notice_days: int = 0


@dataclass(frozen=True)
class StoredContract:
    """A contract as stored, with every version, oldest first."""

    id: int
    reference: str
    client_id: int
    client: str
    start_on: date
    end_on: date | None
    notice_days: int
    versions: tuple[Version, ...] = field(default_factory=tuple)

    def terms_on(self, day: date) -> Terms | None:
        """The terms in force on `day`: the last version effective on or before it."""
        found = None
        for version in self.versions:
            if version.effective_from > day:
                break
            found = version.terms
        return found

    @property
    def latest(self) -> Terms:
        return self.versions[-1].terms

    def runs_on(self, day: date) -> bool:
        return self.start_on <= day and (self.end_on is None or day <= self.end_on)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reference": self.reference,
            "client": self.client,
            "start_on": self.start_on,
            "end_on": self.end_on,
            "notice_days": self.notice_days,
            "versions": [
                {"effective_from": version.effective_from, **terms_dict(version.terms)}
                for version in self.versions
            ],
        }


def fixed_cents_a_month(terms: Terms) -> int:
    """The fixed fees and options of a month, excluding VAT, in cents (usage not counted)."""
    total = Decimal(0)
    for line in terms.lines:
        if line.amount_cents is not None:
            total += Decimal(line.amount_cents) / (12 if line.per == "year" else 1)
    return int(total.quantize(Decimal(1)))


# -- text to values ------------------------------------------------------------------


def decimal_of(text: str | int | float | Decimal, what: str) -> Decimal:
    """A decimal written either way (1234.5, 1 234,50); ValueError naming `what` otherwise."""
    if isinstance(text, Decimal):
        return text
    if isinstance(text, int | float):
        return Decimal(str(text))
    cleaned = text.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    if "," in cleaned:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{what}: {text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{what}: {text!r} is not a number")
    return value


def cents_from(text: str | int | float | Decimal, what: str) -> int:
    """An amount in euros (150, 150.00, 1 234,50) as integer cents; more than cents refused."""
    value = decimal_of(text, what) * 100
    if value != value.to_integral_value():
        raise ValueError(f"{what}: {text!r} has more than two decimals")
    return int(value)


def enum_of(kind: type[E], text: str, what: str) -> E:
    try:
        return kind(text.strip().lower())
    except ValueError:
        choices = ", ".join(item.value for item in kind)
        raise ValueError(f"{what}: {text!r} is not one of {choices}") from None


def date_of(text: str | date, what: str) -> date:
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{what}: {text!r} is not an ISO date (write it like 2026-12-01)"
        ) from None


def tiers_of(text: str) -> tuple[Tier, ...]:
    """Tiers written `100:0.50,500:0.40,*:0.30` (up to 100 at 0.50, to 500 at 0.40, then 0.30)."""
    tiers = []
    for part in (item.strip() for item in text.split(",")):
        if not part:
            continue
        limit, sep, price = part.partition(":")
        if not sep:
            raise ValueError(f"tiers: {part!r} is not UP_TO:PRICE")
        up_to = None if limit.strip() in ("*", "") else decimal_of(limit, "tiers")
        tiers.append(Tier(up_to, cents_from(price, "tiers")))
    return tuple(tiers)


def tiers_text(tiers: Iterable[Tier]) -> str:
    return ",".join(
        f"{'*' if tier.up_to is None else tier.up_to}:{Decimal(tier.unit_price_cents) / 100:.2f}"
        for tier in tiers
    )


# -- checks ----------------------------------------------------------------------------


def check_contract(contract: NewContract) -> list[str]:
    """Every problem of a contract (an empty list: none)."""
    problems = []
    if not contract.reference.strip():
        problems.append("the reference is empty")
    if not contract.client.strip():
        problems.append("no client")
    if contract.end_on is not None and contract.end_on < contract.start_on:
        problems.append(
            f"the end ({contract.end_on.isoformat()}) is before the start"
            f" ({contract.start_on.isoformat()})"
        )
    if not 0 <= contract.notice_days <= MAX_NOTICE_DAYS:
        problems.append(f"notice of {contract.notice_days} days is out of 0..{MAX_NOTICE_DAYS}")
    return problems + check_terms(contract.terms)


def check_terms(terms: Terms) -> list[str]:
    """Every problem of a version's terms."""
    from schwifty import BIC, IBAN
    from schwifty.exceptions import SchwiftyException
    from stdnum.eu import vat
    from stdnum.fr import siren

    problems = []
    if not terms.legal_name.strip():
        problems.append("the buyer's legal name is empty")
    if not (len(terms.country) == 2 and terms.country.isalpha() and terms.country.isupper()):
        problems.append(f"country {terms.country!r} is not an ISO code like FR")
    if terms.siren and not siren.is_valid(terms.siren):
        problems.append(f"SIREN {terms.siren!r} is not valid")
    if terms.vat_number and not vat.is_valid(terms.vat_number):
        problems.append(f"VAT number {terms.vat_number!r} is not valid")
    if not Decimal(0) <= terms.vat_rate <= Decimal(100):
        problems.append(f"VAT rate {terms.vat_rate} is out of 0..100")
    if not 0 <= terms.payment_terms_days <= MAX_TERMS_DAYS:
        problems.append(
            f"payment terms of {terms.payment_terms_days} days are out of 0..{MAX_TERMS_DAYS}"
        )
    if terms.language not in LANGUAGES:
        problems.append(f"language {terms.language!r} is not one of {', '.join(LANGUAGES)}")
    if terms.billing_email and "@" not in terms.billing_email:
        problems.append(f"billing email {terms.billing_email!r} is not an address")
    if terms.payment_method == PaymentMethod.SEPA_DEBIT:
        try:
            IBAN(terms.iban)
        except SchwiftyException as error:
            problems.append(f"IBAN {terms.iban!r} is not valid ({error})")
        if terms.bic:
            try:
                BIC(terms.bic)
            except SchwiftyException as error:
                problems.append(f"BIC {terms.bic!r} is not valid ({error})")
        if not terms.mandate_reference.strip():
            problems.append("the direct debit mandate has no reference")
        if terms.mandate_signed_on is None:
            problems.append("the direct debit mandate has no signature date")
    if not terms.lines:
        problems.append("the contract has no lines")
    for position, line in enumerate(terms.lines, 1):
        problems.extend(f"line {position} ({line.description}): {p}" for p in check_line(line))
    return problems


def check_line(line: Line) -> list[str]:
    problems = []
    if not line.description.strip():
        problems.append("no description")
    if line.kind in (LineKind.FEE, LineKind.OPTION):
        if line.amount_cents is None:
            problems.append("no price")
        elif line.amount_cents < 0:
            problems.append("a negative price")
        if line.per not in ("month", "year"):
            problems.append(f"{line.per!r}: a fee is per month or per year")
        return problems
    if line.unit_price_cents is None and not line.tiers:
        problems.append("no price (a unit price or tiers)")
    if line.unit_price_cents is not None and line.tiers:
        problems.append("both a unit price and tiers")
    if line.unit_price_cents is not None and line.unit_price_cents < 0:
        problems.append("a negative unit price")
    if line.source is None:
        problems.append("no usage source (worksection_hours, pmdesk_events or file)")
    if line.included < 0:
        problems.append("a negative included quantity")
    limits = [tier.up_to for tier in line.tiers]
    if line.tiers:
        if limits[-1] is not None or any(limit is None for limit in limits[:-1]):
            problems.append("tiers: only the last has no limit, and it must have none")
        bounded = [limit for limit in limits if limit is not None]
        if bounded != sorted(set(bounded)) or any(limit <= 0 for limit in bounded):
            problems.append("tiers: limits must rise")
        if any(tier.unit_price_cents < 0 for tier in line.tiers):
            problems.append("tiers: a negative price")
    return problems


# -- storage ----------------------------------------------------------------------------


def client_ids(connection: Connection) -> dict[str, tuple[int, str]]:
    """Every client by its name folded: (id, name)."""
    return {
        str(name).casefold(): (int(key), str(name))
        for key, name in connection.execute(select(CLIENT.c.id, CLIENT.c.name))
    }


def add_contract(
    connection: Connection,
    contract: NewContract,
    *,
    actor: Actor,
    at: datetime,
    clients: Mapping[str, tuple[int, str]] | None = None,
) -> int:
    """Store a new contract (its first version effective from its start); its id.

    Raises ContractError with every problem, the client unknown or the
    reference taken among them; nothing is written then.
    """
    problems = check_contract(contract)
    known = clients if clients is not None else client_ids(connection)
    client = known.get(contract.client.strip().casefold())
    if client is None and contract.client.strip():
        problems.append(f"unknown client {contract.client!r}")
    taken = connection.execute(
        select(CONTRACT.c.id).where(CONTRACT.c.reference == contract.reference.strip())
    ).first()
    if taken is not None:
        problems.append(f"contract {contract.reference!r} already exists")
    if problems or client is None:
        raise ContractError(problems)
    (contract_id,) = insert_with_ids(
        connection,
        CONTRACT,
        [
            {
                "reference": contract.reference.strip(),
                "client_id": client[0],
                "start_on": contract.start_on,
                "end_on": contract.end_on,
                "notice_days": contract.notice_days,
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    _insert_version(connection, contract_id, contract.start_on, contract.terms, at)
    detail = {
        "reference": contract.reference.strip(),
        "client": client[1],
        "start_on": contract.start_on,
        "end_on": contract.end_on,
        "notice_days": contract.notice_days,
        **terms_dict(contract.terms),
    }
    write_audit(connection, [audit_row(at, actor, "contract.add", "contract", contract_id, detail)])
    return contract_id


def edit_contract(
    connection: Connection,
    reference: str,
    effective_from: date,
    changes: Mapping[str, Any],
    *,
    actor: Actor,
    at: datetime,
) -> StoredContract:
    """A new version from `effective_from`: the terms then in force with `changes`.

    `changes` names fields of `Terms` (`lines` replaces every line). The day
    must come after the last version's (or be that day while it is still to
    come, which replaces that version): the past is never rewritten.
    """
    contract = find_contract(connection, reference)
    unknown = sorted(set(changes) - {item.name for item in fields(Terms)})
    if unknown:
        raise ContractError([f"unknown term {name!r}" for name in unknown])
    last = contract.versions[-1]
    today = at.date()
    problems = []
    if effective_from < contract.start_on:
        problems.append(
            f"the change takes effect ({effective_from.isoformat()}) before the contract starts"
            f" ({contract.start_on.isoformat()})"
        )
    if effective_from < last.effective_from or (
        effective_from == last.effective_from and effective_from <= today
    ):
        problems.append(
            f"a change takes effect after the last one ({last.effective_from.isoformat()}),"
            " which is never rewritten"
        )
    if contract.end_on is not None and effective_from > contract.end_on:
        problems.append(f"the contract ends on {contract.end_on.isoformat()}")
    base = contract.terms_on(effective_from) or last.terms
    terms = replace(base, **changes)
    problems += check_terms(terms)
    if problems:
        raise ContractError(problems)
    if terms == base:
        raise ContractError(["nothing changes"])
    replaced = effective_from == last.effective_from
    if replaced:
        connection.execute(
            VERSION.delete().where(
                VERSION.c.contract_id == contract.id,
                VERSION.c.effective_from == effective_from,
            )
        )
    _insert_version(connection, contract.id, effective_from, terms, at)
    before, after = terms_dict(base), terms_dict(terms)
    detail = {
        "reference": contract.reference,
        "effective_from": effective_from,
        "replaces_planned_version": replaced,
        "changes": {
            key: {"from": before[key], "to": after[key]}
            for key in after
            if before[key] != after[key]
        },
    }
    connection.execute(CONTRACT.update().where(CONTRACT.c.id == contract.id).values(updated_at=at))
    write_audit(
        connection, [audit_row(at, actor, "contract.edit", "contract", contract.id, detail)]
    )
    return find_contract(connection, reference)


def end_contract(
    connection: Connection,
    reference: str,
    *,
    on: date | None = None,
    notice_from: date | None = None,
    actor: Actor,
    at: datetime,
) -> StoredContract:
    """Set the contract's last day: `on`, or `notice_from` plus its notice."""
    contract = find_contract(connection, reference)
    if (on is None) == (notice_from is None):
        raise ContractError(["give the last day or the day notice is given, one of them"])
    if on is not None:
        last_day = on
    else:
        assert notice_from is not None
        last_day = notice_from + timedelta(days=contract.notice_days)
    if last_day < contract.start_on:
        raise ContractError(
            [
                f"the end ({last_day.isoformat()}) is before the start"
                f" ({contract.start_on.isoformat()})"
            ]
        )
    if last_day < contract.versions[-1].effective_from:
        raise ContractError(
            [
                f"a change takes effect on {contract.versions[-1].effective_from.isoformat()},"
                " after that end"
            ]
        )
    connection.execute(
        CONTRACT.update().where(CONTRACT.c.id == contract.id).values(end_on=last_day, updated_at=at)
    )
    detail = {
        "reference": contract.reference,
        "end_on": {"from": contract.end_on, "to": last_day},
        "notice_from": notice_from,
        "notice_days": contract.notice_days if notice_from is not None else None,
    }
    write_audit(connection, [audit_row(at, actor, "contract.end", "contract", contract.id, detail)])
    return replace(contract, end_on=last_day)


def find_contract(connection: Connection, reference: str) -> StoredContract:
    """A contract by its reference; ContractError when there is none."""
    found = load_contracts(connection, reference=reference.strip())
    if not found:
        raise ContractError([f"no contract {reference!r}"])
    return found[0]


def load_contracts(connection: Connection, *, reference: str | None = None) -> list[StoredContract]:
    """Every contract with its versions and lines (three queries), by reference."""
    contracts = select(
        CONTRACT.c.id,
        CONTRACT.c.reference,
        CONTRACT.c.client_id,
        CLIENT.c.name,
        CONTRACT.c.start_on,
        CONTRACT.c.end_on,
        CONTRACT.c.notice_days,
    ).join(CLIENT, CLIENT.c.id == CONTRACT.c.client_id)
    versions = select(VERSION).order_by(VERSION.c.contract_id, VERSION.c.effective_from)
    lines = select(LINE).order_by(LINE.c.version_id, LINE.c.position)
    if reference is not None:
        contracts = contracts.where(CONTRACT.c.reference == reference)
        ids = select(CONTRACT.c.id).where(CONTRACT.c.reference == reference).scalar_subquery()
        versions = versions.where(VERSION.c.contract_id == ids)
        lines = lines.join(VERSION, VERSION.c.id == LINE.c.version_id).where(
            VERSION.c.contract_id == ids
        )
    lines_of: dict[int, list[Line]] = {}
    for row in connection.execute(lines).mappings().all():
        lines_of.setdefault(row["version_id"], []).append(_line_of_row(row))
    versions_of: dict[int, list[Version]] = {}
    for row in connection.execute(versions).mappings().all():
        terms = _terms_of_row(row, tuple(lines_of.get(row["id"], ())))
        versions_of.setdefault(row["contract_id"], []).append(Version(row["effective_from"], terms))
    found = [
        StoredContract(
            id=row[0],
            reference=row[1],
            client_id=row[2],
            client=row[3],
            start_on=row[4],
            end_on=row[5],
            notice_days=row[6],
            versions=tuple(versions_of.get(row[0], ())),
        )
        for row in connection.execute(contracts.order_by(CONTRACT.c.reference)).all()
    ]
    return [contract for contract in found if contract.versions]


def terms_dict(terms: Terms) -> dict[str, Any]:
    """The terms as plain values (JSON, audit, comparison)."""
    values = asdict(terms)
    values["address"] = list(terms.address)
    values["lines"] = [line_dict(line) for line in terms.lines]
    return values


def terms_values(terms: Terms) -> dict[str, Any]:
    """A version's terms as plain field values (lines aside): what a version row
    stores and what a contract file's fields say."""
    return {
        "legal_name": terms.legal_name,
        "address": list(terms.address),
        "postcode": terms.postcode,
        "city": terms.city,
        "country": terms.country,
        "siren": terms.siren,
        "vat_number": terms.vat_number,
        "vat_rate": str(terms.vat_rate),
        "frequency": terms.frequency.value,
        "timing": terms.timing.value,
        "payment_terms_days": terms.payment_terms_days,
        "payment_method": terms.payment_method.value,
        "iban": terms.iban,
        "bic": terms.bic,
        "mandate_reference": terms.mandate_reference,
        "mandate_signed_on": terms.mandate_signed_on,
        "billing_email": terms.billing_email,
        "language": terms.language,
    }


def line_dict(line: Line) -> dict[str, Any]:
    values: dict[str, Any] = {"kind": line.kind.value, "description": line.description}
    if line.kind == LineKind.USAGE:
        values.update(
            unit_price_cents=line.unit_price_cents,
            tiers=tiers_text(line.tiers) if line.tiers else None,
            included=line.included,
            unit=line.unit,
            source=line.source.value if line.source else None,
            service=line.service,
        )
    else:
        values.update(amount_cents=line.amount_cents, per=line.per)
    return values


def _insert_version(
    connection: Connection, contract_id: int, effective_from: date, terms: Terms, at: datetime
) -> None:
    (version_id,) = insert_with_ids(
        connection,
        VERSION,
        [
            {
                "contract_id": contract_id,
                "effective_from": effective_from,
                **terms_values(terms),
                "legal_name": terms.legal_name.strip(),
                "address": "\n".join(terms.address),
                "mandate_signed_on": terms.mandate_signed_on,
                "created_at": at,
            }
        ],
    )
    insert_many(
        connection,
        LINE,
        [
            {
                "version_id": version_id,
                "position": position,
                "kind": line.kind.value,
                "description": line.description.strip(),
                "amount_cents": line.amount_cents,
                "per": line.per,
                "unit_price_cents": line.unit_price_cents,
                "tiers": (
                    json.dumps(
                        [
                            [None if t.up_to is None else str(t.up_to), t.unit_price_cents]
                            for t in line.tiers
                        ]
                    )
                    if line.tiers
                    else None
                ),
                "included": str(line.included),
                "unit": line.unit,
                "source": line.source.value if line.source else None,
                "service": line.service,
            }
            for position, line in enumerate(terms.lines, 1)
        ],
    )


def _line_of_row(row: Any) -> Line:
    tiers = (
        tuple(
            Tier(None if up_to is None else Decimal(up_to), int(price))
            for up_to, price in json.loads(row["tiers"])
        )
        if row["tiers"]
        else ()
    )
    return Line(
        kind=LineKind(row["kind"]),
        description=row["description"],
        amount_cents=row["amount_cents"],
        per=row["per"],
        unit_price_cents=row["unit_price_cents"],
        tiers=tiers,
        included=Decimal(row["included"]),
        unit=row["unit"],
        source=UsageSource(row["source"]) if row["source"] else None,
        service=row["service"],
    )


def _terms_of_row(row: Any, lines: tuple[Line, ...]) -> Terms:
    return Terms(
        legal_name=row["legal_name"],
        lines=lines,
        address=tuple(row["address"].splitlines()) if row["address"] else (),
        postcode=row["postcode"],
        city=row["city"],
        country=row["country"],
        siren=row["siren"],
        vat_number=row["vat_number"],
        vat_rate=Decimal(row["vat_rate"]),
        frequency=Frequency(row["frequency"]),
        timing=Timing(row["timing"]),
        payment_terms_days=row["payment_terms_days"],
        payment_method=PaymentMethod(row["payment_method"]),
        iban=row["iban"],
        bic=row["bic"],
        mandate_reference=row["mandate_reference"],
        mandate_signed_on=row["mandate_signed_on"],
        billing_email=row["billing_email"],
        language=row["language"],
    )
