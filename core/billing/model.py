"""The plain values billing's parts pass each other.

A `Draft` is what the run would bill one contract for one period, before any
number is given; an `IssuedDocument` is what an issued invoice or credit note
says, with its number, read by the PDF, the Factur-X XML, the email and the
direct debit file. Amounts are integer cents (exact sums); quantities and VAT
rates are Decimals (a rate in percent: Decimal("20")).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class PaymentMethod(StrEnum):
    TRANSFER = "transfer"
    SEPA_DEBIT = "sepa_debit"


def cents_of(value: Decimal) -> int:
    """Cents rounded half up, as invoices round (0.5 cent is one more cent)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Line:
    """One line of an invoice: what, how much, at what price and rate, for which days.

    `note` says how the quantity came about, in the client's language
    ("pro rata 16/31 days", "12.5 h logged, 10 h included").
    """

    description: str
    quantity: Decimal
    unit_price_cents: int
    vat_rate: Decimal
    service_start: date
    service_end: date
    unit: str = "unit"
    note: str = ""

    @property
    def amount_cents(self) -> int:
        """The line's amount excluding VAT (negative on a credit note's lines)."""
        return cents_of(self.quantity * self.unit_price_cents)


@dataclass(frozen=True)
class VatTotal:
    """The lines of one VAT rate: their base and the VAT on it."""

    rate: Decimal
    base_cents: int
    vat_cents: int


@dataclass(frozen=True)
class Totals:
    """HT, TVA per rate and TTC. VAT is computed per rate on the sum of its lines."""

    net_cents: int
    vat: tuple[VatTotal, ...]
    vat_cents: int
    gross_cents: int


def totals_of(lines: tuple[Line, ...] | list[Line]) -> Totals:
    """The totals of some lines: VAT per rate on each rate's base, rates in increasing order."""
    bases: dict[Decimal, int] = {}
    for line in lines:
        bases[line.vat_rate] = bases.get(line.vat_rate, 0) + line.amount_cents
    vat = tuple(
        VatTotal(rate, base, cents_of(Decimal(base) * rate / 100))
        for rate, base in sorted(bases.items())
    )
    net = sum(item.base_cents for item in vat)
    vat_cents = sum(item.vat_cents for item in vat)
    return Totals(net, vat, vat_cents, net + vat_cents)


@dataclass(frozen=True)
class Party:
    """A seller or a buyer as an invoice names them."""

    name: str
    address: tuple[str, ...] = ()
    postcode: str = ""
    city: str = ""
    country: str = "FR"
    siren: str = ""
    vat_number: str = ""
    email: str = ""
    legal_form: str = ""


@dataclass(frozen=True)
class Mandate:
    """A SEPA direct debit mandate, signed with the engagement letter."""

    reference: str
    signed_on: date
    iban: str
    bic: str = ""


@dataclass(frozen=True)
class Draft:
    """What a billing run would issue for one contract and period, not yet numbered.

    (`contract_id`, `period_start`) is the billing key: a contract and period
    is billed once whatever is re-run.
    """

    contract_id: int
    client_id: int
    period_start: date
    period_end: date
    lines: tuple[Line, ...]
    buyer: Party
    language: str
    payment_terms_days: int
    payment_method: PaymentMethod = PaymentMethod.TRANSFER
    mandate: Mandate | None = None
    billing_email: str = ""
    currency: str = "EUR"

    @property
    def totals(self) -> Totals:
        return totals_of(self.lines)


@dataclass(frozen=True)
class IssuedDocument:
    """An issued invoice or credit note, as its PDF, its XML and its email say it.

    Never changes once issued; a credit note (`corrects`: the invoice's number)
    is how a correction is made.
    """

    kind: DocumentKind
    number: str
    issued_on: date
    due_on: date
    service_start: date
    service_end: date
    seller: Party
    buyer: Party
    lines: tuple[Line, ...]
    currency: str
    language: str
    # ISO 11649 "RF.." reference the payer quotes (core.receivables.invoices).
    creditor_reference: str
    payment_method: PaymentMethod = PaymentMethod.TRANSFER
    # Where a transfer goes (the seller's account).
    seller_iban: str = ""
    seller_bic: str = ""
    # Direct debit: the mandate, the day of the debit and the creditor identifier.
    mandate: Mandate | None = None
    debit_on: date | None = None
    creditor_id: str = ""
    corrects: str | None = None
    billing_email: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def totals(self) -> Totals:
        return totals_of(self.lines)
