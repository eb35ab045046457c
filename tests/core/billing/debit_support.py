"""What the direct debit tests share: a client, issued invoices, mandates, settings."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine

from core.billing.model import Mandate
from core.config.settings import Settings
from core.store.db import insert_many, write
from core.store.models.receivables import Invoice
from core.store.models.system import table
from core.store.models.threads import Client

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MANDATE = Mandate("MDT-DUPONT-1", date(2026, 1, 15), "DE89 3704 0044 0532 0130 00", "COBADEFFXXX")
OTHER = Mandate("MDT-MARTIN-1", date(2026, 3, 2), "FR1420041010050500013M02606", "PSSTFRPPPAR")


def billing_settings(**billing: object) -> Settings:
    values: dict[str, object] = {
        "creditor_id": "FR72ZZZ123456",
        "seller": {
            "name": "Studio Nord SAS",
            "iban": "FR7630006000011234567890189",
            "bic": "AGRIFRPP882",
        },
    }
    values.update(billing)
    return Settings(billing=values)


def add_invoices(
    engine: Engine, *numbers_and_cents: tuple[str, int], client: str = "Dupont SARL"
) -> list[int]:
    with write(engine) as connection:
        found = connection.execute(
            table(Client).select().where(table(Client).c.name == client)
        ).first()
        if found is None:
            insert_many(connection, table(Client), [{"name": client, "created_at": NOW}])
            found = connection.execute(
                table(Client).select().where(table(Client).c.name == client)
            ).first()
        assert found is not None
        rows = [
            {"number": number, "client_id": found.id, "issued_on": date(2026, 12, 1),
             "due_on": date(2026, 12, 31), "currency": "EUR", "total_cents": cents,
             "paid_cents": 0, "state": "open", "created_at": NOW, "updated_at": NOW}
            for number, cents in numbers_and_cents
        ]  # fmt: skip
        insert_many(connection, table(Invoice), rows)
        invoice = table(Invoice)
        return [
            connection.execute(invoice.select().where(invoice.c.number == number)).one().id
            for number, _ in numbers_and_cents
        ]


def camt054(path: Path, entries: list[tuple[str, str, str, str | None]]) -> Path:
    """A camt.054 of (amount, CRDT|DBIT, end-to-end id, return reason code or None)."""
    body = []
    for position, (amount, indicator, e2e, reason) in enumerate(entries, start=1):
        returned = f"<RtrInf><Rsn><Cd>{reason}</Cd></Rsn></RtrInf>" if reason is not None else ""
        party = "Dbtr" if indicator == "CRDT" else "Cdtr"
        body.append(
            f"""<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>
<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-12-{15 + position:02d}</Dt></BookgDt>
<AcctSvcrRef>RET{position:04d}</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>
<RltdPties><{party}><Nm>Dupont SARL</Nm></{party}></RltdPties>{returned}
</TxDtls></NtryDtls></Ntry>"""
        )
    path.write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>
<GrpHdr><MsgId>N{path.stem}</MsgId><CreDtTm>2026-12-20T06:00:00</CreDtTm></GrpHdr>
<Ntfctn><Id>N1</Id><CreDtTm>2026-12-20T06:00:00</CreDtTm>
<Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>
{"".join(body)}
</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"""
    )
    return path
