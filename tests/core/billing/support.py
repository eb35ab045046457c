"""What the billing tests share: clients in a real database, contracts written briefly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from core.billing.contracts import (
    Frequency,
    Line,
    LineKind,
    NewContract,
    Terms,
    Timing,
    add_contract,
)
from core.store.db import insert_with_ids, write
from core.store.models.system import table
from core.store.models.threads import Client

AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# A valid French IBAN (the example of the French banks' association).
IBAN = "FR7630006000011234567890189"


def add_clients(engine: Engine, *names: str) -> dict[str, int]:
    with write(engine) as connection:
        ids = insert_with_ids(
            connection,
            table(Client),
            [{"name": name, "language": "fr", "created_at": AT} for name in names],
        )
    return dict(zip(names, ids, strict=True))


def fee(description: str = "Hosting", euros: int = 310, per: str = "month") -> Line:
    return Line(LineKind.FEE, description, amount_cents=euros * 100, per=per)


def terms(**changes: Any) -> Terms:
    base = Terms(
        legal_name="Acme SARL",
        lines=(fee(),),
        address=("1 rue de la Paix",),
        postcode="75002",
        city="Paris",
        vat_rate=Decimal(20),
        frequency=Frequency.MONTHLY,
        timing=Timing.ADVANCE,
        language="en",
    )
    return replace(base, **changes)


def contract(
    reference: str = "C-1",
    client: str = "Acme",
    start: date = date(2026, 12, 1),
    end: date | None = None,
    **changes: Any,
) -> NewContract:
    return NewContract(reference, client, start, terms(**changes), end_on=end)


def store(engine: Engine, *contracts: NewContract) -> list[int]:
    with write(engine) as connection:
        return [add_contract(connection, item, actor="test", at=AT) for item in contracts]
