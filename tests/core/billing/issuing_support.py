"""Drafts and clients for the tests of issuing, numbering and credit notes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Engine, text

from core.billing.model import Draft, Line, Mandate, Party, PaymentMethod
from core.store.db import write

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
DECEMBER = date(2026, 12, 1)
DECEMBER_END = date(2026, 12, 31)


def add_client(engine: Engine, name: str = "Bigco") -> int:
    with write(engine) as connection:
        connection.execute(
            text("INSERT INTO client (name, language, created_at) VALUES (:name, 'fr', :at)"),
            {"name": name, "at": NOW.replace(tzinfo=None)},
        )
        return int(
            connection.execute(
                text("SELECT id FROM client WHERE name = :name"), {"name": name}
            ).scalar_one()
        )


def line(
    description: str = "Hosting",
    quantity: str = "1",
    price_cents: int = 10_000,
    rate: str = "20",
    start: date = DECEMBER,
    end: date = DECEMBER_END,
) -> Line:
    return Line(description, Decimal(quantity), price_cents, Decimal(rate), start, end)


def draft(
    contract_id: int,
    client_id: int,
    *lines: Line,
    period_start: date = DECEMBER,
    period_end: date = DECEMBER_END,
    buyer: str = "Bigco SAS",
    terms: int = 30,
    sepa: bool = False,
) -> Draft:
    return Draft(
        contract_id=contract_id,
        client_id=client_id,
        period_start=period_start,
        period_end=period_end,
        lines=lines or (line(),),
        buyer=Party(buyer, ("1 rue de la Paix",), "75002", "Paris", siren="123456789"),
        language="fr",
        payment_terms_days=terms,
        payment_method=PaymentMethod.SEPA_DEBIT if sepa else PaymentMethod.TRANSFER,
        mandate=Mandate("MD-1", date(2026, 1, 5), "FR7630006000011234567890189") if sepa else None,
        billing_email="billing@bigco.example",
    )


def numbers(engine: Engine, series: str = "F") -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                text("SELECT number FROM billingdocument WHERE series = :s ORDER BY sequence"),
                {"s": series},
            ).scalars()
        )
