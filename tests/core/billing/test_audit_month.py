"""The audit of a month read from the database: contracts, issued invoices,
activity, usage sources and a partner's report put to the four questions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from core.billing.audit_month import audit_month
from core.billing.contracts import Frequency, Line, LineKind, Timing, UsageSource
from core.billing.partner import PartnerProfile
from core.billing.plan import drafts_for
from core.billing.run import run_drafts
from core.billing.usage import import_usage
from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.store.db import write
from core.store.reader import Reader
from tests.core.billing.support import AT, add_clients, contract, store
from tests.support import make_event

NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)
SUPPORT = Line(
    LineKind.USAGE, "Support", unit_price_cents=6000, included=Decimal(10), unit="h",
    source=UsageSource.FILE,
)  # fmt: skip


def issue(engine: Engine, settings: Settings, month: date, *, but: str | None = None) -> None:
    drafts = [d for d in drafts_for(engine, month, settings) if d.buyer.name != but]
    result = run_drafts(engine, settings, drafts, on=month, actor="test")
    assert not result.refused


def usage(engine: Engine, path: Path, hours: int) -> None:
    path.write_text(f"client,service,quantity,period\nDupont,Support,{hours},2026-11\n")
    with write(engine) as connection:
        import_usage(connection, path, at=AT)


def test_the_month_is_put_to_the_four_questions(
    engine: Engine, reader: Reader, settings: Settings, ingestor: Ingestor, tmp_path: Path
) -> None:
    add_clients(engine, "Acme", "Bigco", "Cido", "Dupont", "Eve")
    store(
        engine,
        contract("C-1", "Acme", NOV),
        contract("C-2", "Bigco", NOV, legal_name="Bigco SA"),
        # Quarterly: nothing to bill in November, but Cido is under contract.
        contract("C-3", "Cido", date(2026, 10, 1), legal_name="Cido SAS",
                 frequency=Frequency.QUARTERLY),
        contract("C-4", "Dupont", NOV, legal_name="Dupont SARL", lines=(SUPPORT,),
                 timing=Timing.ARREARS),
    )  # fmt: skip
    usage(engine, tmp_path / "usage.csv", 12)
    issue(engine, settings, NOV, but="Bigco SA")  # Bigco's November forgotten
    issue(engine, settings, DEC)  # Dupont's November hours, in arrears
    # Hours found later: 15 used, 2 billed above the 10 included, 5 now.
    usage(engine, tmp_path / "usage.csv", 15)
    ingestor.ingest([make_event("e1", 0, client="Eve"), make_event("c1", 0, client="Cido")])
    partner = tmp_path / "partner.csv"
    partner.write_text("client;service;qty;month\nAcme;Hosting;2;2026-11\nZed;Hosting;1;2026-11\n")
    with engine.connect() as connection:
        report = audit_month(
            connection, reader, NOV, settings, partner=partner,
            profile=PartnerProfile(quantity="qty", period="month"),
        )  # fmt: skip

    assert [(m.client, m.contract_id, m.net_cents) for m in report.missing] == [
        ("Bigco SA", 2, 31000)
    ]
    assert report.extra == []
    assert [u.client for u in report.unbilled] == ["Eve"]
    [support] = report.usage
    assert (support.client, support.line, support.measured, support.billed) == (
        "Dupont",
        "Support",
        Decimal(5),
        Decimal(2),
    )
    assert (support.direction, support.amount_cents) == ("under", 18000)
    assert report.partner is not None
    [hosting] = report.partner.differences
    assert (hosting.client, hosting.measured, hosting.billed) == ("Acme", Decimal(2), Decimal(1))
    assert report.partner.unknown_clients[0].client == "Zed"
