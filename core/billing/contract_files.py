"""Contracts from files, for a first load: CSV (one row per line) or TOML.

Each contract is taken or refused on its own, with its rows (CSV) or its
position (TOML) and every reason; the good ones are kept. A contract whose
reference is already stored with the same terms is unchanged, so importing
the same file again changes nothing; one stored with other terms is refused
(a change is made with `pmdesk contracts edit`, from a date).

The same field names serve the files, `pmdesk contracts add` and the line
specifications `KIND;DESCRIPTION;key=value;...` (see docs/billing.md).
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from core.base.kinds import Actor
from core.billing.contracts import (
    ContractError,
    Frequency,
    Line,
    LineKind,
    NewContract,
    StoredContract,
    Terms,
    Timing,
    UsageSource,
    add_contract,
    cents_from,
    client_ids,
    date_of,
    decimal_of,
    enum_of,
    load_contracts,
    terms_values,
    tiers_of,
)
from core.billing.model import PaymentMethod

if TYPE_CHECKING:
    from core.config.billing import BillingConfig

# The fields of a contract (one per CSV column, TOML key or `add` option).
CONTRACT_FIELDS = (
    "reference", "client", "legal_name", "address", "postcode", "city", "country", "siren",
    "vat_number", "vat_rate", "start", "end", "notice_days", "frequency", "timing",
    "payment_terms_days", "payment_method", "iban", "bic", "mandate_reference",
    "mandate_signed_on", "billing_email", "language",
)  # fmt: skip
# The fields of a line; in a CSV, each is a column prefixed `line_` (line_kind, line_amount).
LINE_FIELDS = (
    "kind", "description", "amount", "per", "unit_price", "tiers", "included", "unit",
    "source", "service",
)  # fmt: skip


class ContractFileError(ValueError):
    """A file that cannot be read as a whole: nothing of it is imported."""


@dataclass(frozen=True)
class ImportResult:
    where: str  # "line 4" or "contract 2"
    reference: str
    status: str  # created, unchanged, rejected
    reason: str = ""


@dataclass
class ContractImport:
    file: str
    results: list[ImportResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def rejections(self) -> list[ImportResult]:
        return [result for result in self.results if result.status == "rejected"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "counts": {
                status: self.count(status) for status in ("created", "unchanged", "rejected")
            },
            "contracts": [result.__dict__ for result in self.results],
        }


# -- values to a contract ----------------------------------------------------------------


def _text(values: Mapping[str, Any], key: str, default: str = "") -> str:
    value = values.get(key)
    return default if value is None or str(value).strip() == "" else str(value).strip()


def _address(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(item).strip() for item in value if str(item).strip())
    return tuple(part.strip() for part in str(value).replace("\n", "|").split("|") if part.strip())


def line_of(values: Mapping[str, Any]) -> Line:
    """A contract line from its fields; ValueError naming the field at fault."""
    kind = enum_of(LineKind, _text(values, "kind", "fee"), "kind")
    description = _text(values, "description")
    if kind == LineKind.USAGE:
        price = _text(values, "unit_price")
        tiers = values.get("tiers")
        if isinstance(tiers, list):
            tiers = ",".join(
                f"{'*' if tier.get('up_to') is None else tier['up_to']}:{tier['unit_price']}"
                for tier in tiers
            )
        source = _text(values, "source")
        return Line(
            kind=kind,
            description=description,
            unit_price_cents=cents_from(price, "unit_price") if price else None,
            tiers=tiers_of(str(tiers)) if tiers else (),
            included=decimal_of(_text(values, "included", "0"), "included"),
            unit=_text(values, "unit", "unit"),
            source=enum_of(UsageSource, source, "source") if source else None,
            service=_text(values, "service"),
        )
    amount = _text(values, "amount")
    return Line(
        kind=kind,
        description=description,
        amount_cents=cents_from(amount, "amount") if amount else None,
        per=_text(values, "per", "month").lower(),
    )


def line_of_spec(spec: str) -> Line:
    """A line written `KIND;DESCRIPTION;key=value;...`: `fee;Hosting;amount=150`."""
    parts = [part.strip() for part in spec.split(";")]
    if len(parts) < 2:
        raise ValueError(f"line {spec!r}: write it KIND;DESCRIPTION;key=value;...")
    values: dict[str, str] = {"kind": parts[0], "description": parts[1]}
    for part in parts[2:]:
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in LINE_FIELDS:
            raise ValueError(
                f"line {spec!r}: {part!r} is not one of {', '.join(LINE_FIELDS[2:])}=…"
            )
        values[key.strip()] = value.strip()
    return line_of(values)


def terms_of(values: Mapping[str, Any], lines: Sequence[Line], billing: BillingConfig) -> Terms:
    """A version's terms from their fields, [billing]'s defaults for those not given."""
    signed = _text(values, "mandate_signed_on")
    return Terms(
        legal_name=_text(values, "legal_name"),
        lines=tuple(lines),
        address=_address(values.get("address")),
        postcode=_text(values, "postcode"),
        city=_text(values, "city"),
        country=_text(values, "country", "FR").upper(),
        siren=_text(values, "siren").replace(" ", ""),
        vat_number=_text(values, "vat_number").replace(" ", "").upper(),
        vat_rate=decimal_of(_text(values, "vat_rate", str(billing.vat_rate)), "vat_rate"),
        frequency=enum_of(Frequency, _text(values, "frequency", "monthly"), "frequency"),
        timing=enum_of(Timing, _text(values, "timing", "advance"), "timing"),
        payment_terms_days=_int(values, "payment_terms_days", billing.payment_terms_days),
        payment_method=enum_of(
            PaymentMethod, _text(values, "payment_method", "transfer"), "payment_method"
        ),
        iban=_text(values, "iban").replace(" ", "").upper(),
        bic=_text(values, "bic").upper(),
        mandate_reference=_text(values, "mandate_reference"),
        mandate_signed_on=date_of(signed, "mandate_signed_on") if signed else None,
        billing_email=_text(values, "billing_email"),
        language=_text(values, "language", "fr").lower(),
    )


def values_of(terms: Terms) -> dict[str, Any]:
    """A version's terms as the fields `terms_of` reads (lines aside)."""
    signed = terms.mandate_signed_on
    return {**terms_values(terms), "mandate_signed_on": signed.isoformat() if signed else ""}


def contract_of(
    values: Mapping[str, Any], lines: Sequence[Line], billing: BillingConfig
) -> NewContract:
    """A new contract from its fields; ValueError naming the field at fault."""
    unknown = sorted(set(values) - set(CONTRACT_FIELDS) - {"line", "lines"})
    if unknown:
        raise ValueError(f"unknown field {', '.join(map(repr, unknown))}")
    start = _text(values, "start")
    if not start:
        raise ValueError("no start date")
    end = _text(values, "end")
    return NewContract(
        reference=_text(values, "reference"),
        client=_text(values, "client"),
        start_on=date_of(start, "start"),
        end_on=date_of(end, "end") if end else None,
        notice_days=_int(values, "notice_days", 0),
        terms=terms_of(values, lines, billing),
    )


def _int(values: Mapping[str, Any], key: str, default: int) -> int:
    text = _text(values, key)
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{key}: {text!r} is not a whole number") from None


# -- files ------------------------------------------------------------------------------


def import_contracts(
    connection: Connection,
    path: Path,
    billing: BillingConfig,
    *,
    actor: Actor,
    at: datetime,
) -> ContractImport:
    """Import a CSV or TOML file of contracts in the caller's transaction."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ContractFileError(f"{path}: cannot be read ({error.strerror})") from None
    if path.suffix.lower() == ".toml":
        entries = _toml_entries(raw, path)
    else:
        entries = _csv_entries(raw, path)
    summary = ContractImport(str(path))
    clients = client_ids(connection)
    stored = {contract.reference: contract for contract in load_contracts(connection)}
    for where, values, line_values in entries:
        reference = _text(values, "reference")
        try:
            lines = []
            for position, item in enumerate(line_values, 1):
                try:
                    lines.append(line_of(item))
                except ValueError as error:
                    raise ValueError(f"line {position}: {error}") from None
            contract = contract_of(values, lines, billing)
            if reference in stored:
                if _same(stored[reference], contract):
                    summary.results.append(ImportResult(where, reference, "unchanged"))
                    continue
                raise ValueError(
                    f"contract {reference!r} exists with other terms"
                    " (change it with pmdesk contracts edit)"
                )
            with connection.begin_nested():
                add_contract(connection, contract, actor=actor, at=at, clients=clients)
        except (ValueError, ContractError) as error:
            summary.results.append(ImportResult(where, reference, "rejected", str(error)))
            continue
        summary.results.append(ImportResult(where, reference, "created"))
        stored[reference] = load_contracts(connection, reference=reference)[0]
    return summary


def _same(stored: StoredContract, new: NewContract) -> bool:
    return (
        stored.client.casefold() == new.client.casefold()
        and stored.start_on == new.start_on
        and stored.end_on == new.end_on
        and stored.notice_days == new.notice_days
        and len(stored.versions) == 1
        and stored.latest == new.terms
    )


Entry = tuple[str, dict[str, Any], list[dict[str, Any]]]


def _toml_entries(raw: bytes, path: Path) -> list[Entry]:
    try:
        document = tomllib.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ContractFileError(f"{path}: not TOML ({error})") from None
    items = document.get("contract")
    if not isinstance(items, list):
        raise ContractFileError(f"{path}: no [[contract]] tables")
    entries = []
    for position, item in enumerate(items, 1):
        lines = item.get("line", item.get("lines", []))
        values = {key: _toml_value(value) for key, value in item.items()}
        entries.append(
            (
                f"contract {position}",
                values,
                [dict(line) for line in lines] if isinstance(lines, list) else [],
            )
        )
    return entries


def _toml_value(value: Any) -> Any:
    if isinstance(value, date | Decimal):
        return value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(value, float):
        return str(Decimal(str(value)))
    return value


def _csv_entries(raw: bytes, path: Path) -> list[Entry]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ContractFileError(f"{path}: not UTF-8 text ({error})") from None
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    rows = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip() for name in rows.fieldnames or ()]
    if "reference" not in header:
        raise ContractFileError(f"{path}: no column 'reference' (columns: {', '.join(header)})")
    known = set(CONTRACT_FIELDS) | {f"line_{name}" for name in LINE_FIELDS}
    unknown = [name for name in header if name and name not in known]
    if unknown:
        raise ContractFileError(f"{path}: unknown column {', '.join(map(repr, unknown))}")
    grouped: dict[str, tuple[list[int], dict[str, Any], list[dict[str, Any]]]] = {}
    for number, row in enumerate(rows, 2):
        values = {key.strip(): (value or "").strip() for key, value in row.items() if key}
        reference = values.get("reference", "")
        lines_found, contract, lines = grouped.setdefault(reference, ([], {}, []))
        lines_found.append(number)
        for name in CONTRACT_FIELDS:
            if values.get(name) and not contract.get(name):
                contract[name] = values[name]
        line = {name: values.get(f"line_{name}", "") for name in LINE_FIELDS}
        if any(line.values()):
            lines.append(line)
    return [(_where(numbers), contract, lines) for numbers, contract, lines in grouped.values()]


def _where(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"line {numbers[0]}"
    return f"lines {numbers[0]}-{numbers[-1]}"
