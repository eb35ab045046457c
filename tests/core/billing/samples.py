"""Issued documents built by hand for the documents' tests."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

from core.billing.model import DocumentKind, IssuedDocument, Line, Mandate, Party, PaymentMethod

SELLER = Party(
    name="Atelier Durand",
    address=("12 rue des Lilas",),
    postcode="69003",
    city="Lyon",
    siren="732829320",
    vat_number="FR44732829320",
    email="facturation@atelier-durand.fr",
    legal_form="SAS au capital de 10 000 €",
)
BUYER = Party(
    name="Boulangerie Martin",
    address=("3 place du Marché", "Bâtiment B"),
    postcode="75011",
    city="Paris",
    siren="542065479",
    vat_number="FR82542065479",
)


def invoice(**changes: Any) -> IssuedDocument:
    document = IssuedDocument(
        kind=DocumentKind.INVOICE,
        number="F-2026-0042",
        issued_on=date(2026, 12, 1),
        due_on=date(2026, 12, 31),
        service_start=date(2026, 11, 1),
        service_end=date(2026, 11, 30),
        seller=SELLER,
        buyer=BUYER,
        lines=(
            Line(
                "Maintenance du site",
                Decimal(1),
                45000,
                Decimal(20),
                date(2026, 11, 1),
                date(2026, 11, 30),
                unit="month",
            ),
            Line(
                "Hébergement",
                Decimal(16) / Decimal(30),
                3000,
                Decimal(20),
                date(2026, 11, 15),
                date(2026, 11, 30),
                unit="month",
                note="prorata 16/30 jours",
            ),
            Line(
                "Support",
                Decimal("2.5"),
                8000,
                Decimal("5.5"),
                date(2026, 11, 1),
                date(2026, 11, 30),
                unit="hour",
                note="12,5 h, 10 h incluses",
            ),
        ),
        currency="EUR",
        language="fr",
        creditor_reference="RF18F2026004200",
        seller_iban="FR7630006000011234567890189",
        seller_bic="AGRIFRPP",
    )
    return dataclasses.replace(document, **changes)


def direct_debit(**changes: Any) -> IssuedDocument:
    return invoice(
        payment_method=PaymentMethod.SEPA_DEBIT,
        mandate=Mandate("MDT-0007", date(2026, 3, 2), "DE89370400440532013000", "COBADEFFXXX"),
        debit_on=date(2026, 12, 10),
        creditor_id="FR72ZZZ123456",
        **changes,
    )


def credit_note(**changes: Any) -> IssuedDocument:
    original = invoice()
    fields: dict[str, Any] = {
        "kind": DocumentKind.CREDIT_NOTE,
        "number": "AV-2026-0003",
        "issued_on": date(2026, 12, 5),
        "due_on": date(2026, 12, 5),
        "lines": (dataclasses.replace(original.lines[1], quantity=-original.lines[1].quantity),),
        "corrects": "F-2026-0042",
    }
    return invoice(**{**fields, **changes})
