"""Reading issued invoices and credit notes back: one as an `IssuedDocument`
(what its PDF, its Factur-X XML, its email and its direct debit say), or a list.

The buyer, the lines, the mandate are what the document printed, stored when
it was issued; the seller is the configured one (`[billing.seller]`, named
after `agency` when it gives no name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from core.billing.model import DocumentKind, IssuedDocument, Line, Mandate, Party, PaymentMethod
from core.config.settings import Settings


class UnknownDocument(LookupError):
    pass


@dataclass(frozen=True)
class DocumentSummary:
    """One issued document in a list."""

    number: str
    kind: str
    issued_on: date
    due_on: date
    client_id: int
    buyer: str
    currency: str
    net_cents: int
    vat_cents: int
    gross_cents: int
    corrects: str | None
    # The receivables' balance of the invoice (what remains to pay); None for a credit note.
    balance_cents: int | None


def seller_of(settings: Settings) -> Party:
    """The seller as the configuration names it."""
    seller = settings.billing.seller
    return Party(
        name=seller.name or settings.agency,
        address=tuple(seller.address),
        postcode=seller.postcode,
        city=seller.city,
        country=seller.country,
        siren=seller.siren,
        vat_number=seller.vat_number,
        email=seller.email,
        legal_form=seller.legal_form,
    )


_DOCUMENT = text("SELECT * FROM billingdocument WHERE number = :number")
_LINES = text(
    "SELECT description, quantity, unit_price_cents, vat_rate, service_start, service_end, "
    "unit, note FROM billingline WHERE document_id = :id ORDER BY position"
)


def issued_document(connection: Connection, number: str, settings: Settings) -> IssuedDocument:
    """The issued invoice or credit note numbered `number`; UnknownDocument if none."""
    row = connection.execute(_DOCUMENT, {"number": number}).mappings().first()
    if row is None:
        raise UnknownDocument(f"no issued invoice or credit note numbered {number}")
    lines = tuple(
        Line(
            description=line["description"],
            quantity=Decimal(line["quantity"]),
            unit_price_cents=line["unit_price_cents"],
            vat_rate=Decimal(line["vat_rate"]),
            service_start=_day(line["service_start"]),
            service_end=_day(line["service_end"]),
            unit=line["unit"],
            note=line["note"],
        )
        for line in connection.execute(_LINES, {"id": row["id"]}).mappings()
    )
    method = PaymentMethod(row["payment_method"])
    kind = DocumentKind(row["kind"])
    seller = settings.billing.seller
    return IssuedDocument(
        kind=kind,
        number=row["number"],
        issued_on=_day(row["issued_on"]),
        due_on=_day(row["due_on"]),
        service_start=_day(row["service_start"]),
        service_end=_day(row["service_end"]),
        seller=seller_of(settings),
        buyer=party_of(row["buyer"]),
        lines=lines,
        currency=row["currency"],
        language=row["language"],
        creditor_reference=row["creditor_reference"],
        payment_method=method,
        seller_iban=seller.iban,
        seller_bic=seller.bic,
        mandate=mandate_of(row["mandate"]),
        debit_on=None if row["debit_on"] is None else _day(row["debit_on"]),
        creditor_id=settings.billing.creditor_id if method == PaymentMethod.SEPA_DEBIT else "",
        corrects=row["corrects"],
        billing_email=row["billing_email"],
        notes=(row["reason"],) if row["reason"] else (),
    )


def party_of(stored: str) -> Party:
    data: dict[str, Any] = json.loads(stored)
    data["address"] = tuple(data.get("address", ()))
    return Party(**data)


def mandate_of(stored: str | None) -> Mandate | None:
    if stored is None:
        return None
    data: dict[str, Any] = json.loads(stored)
    return Mandate(
        reference=data["reference"],
        signed_on=date.fromisoformat(data["signed_on"]),
        iban=data["iban"],
        bic=data.get("bic", ""),
    )


_LIST = """
SELECT d.number, d.kind, d.issued_on, d.due_on, d.client_id, d.buyer_name, d.currency,
       d.net_cents, d.vat_cents, d.gross_cents, d.corrects,
       CASE WHEN d.kind = 'invoice' THEN i.total_cents - i.paid_cents END
  FROM billingdocument d LEFT JOIN invoice i ON i.id = d.invoice_id
 WHERE d.issued_on >= :start AND d.issued_on <= :end
 ORDER BY d.issued_on, d.kind, d.sequence
"""


def list_documents(
    connection: Connection, start: date = date.min, end: date = date.max
) -> list[DocumentSummary]:
    """The documents issued from `start` to `end` (both included), by date then number."""
    rows = connection.execute(text(_LIST), {"start": start, "end": end})
    return [
        DocumentSummary(
            number=row[0],
            kind=row[1],
            issued_on=_day(row[2]),
            due_on=_day(row[3]),
            client_id=row[4],
            buyer=row[5],
            currency=row[6],
            net_cents=row[7],
            vat_cents=row[8],
            gross_cents=row[9],
            corrects=row[10],
            balance_cents=None if row[11] is None else int(row[11]),
        )
        for row in rows
    ]


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
