"""The demo's bank statement: a camt.053 file paying some of its invoices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from core.config.settings import Settings
from core.conversations.people import add_staff
from core.demo.agency import _utc
from core.demo.scenario import Scenario
from core.receivables.dunning import (
    local_today,
)
from core.store.models.receivables import Invoice
from core.store.models.system import table

CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
# The agency's account (bank, branch, account number), and the payers' own.
AGENCY_ACCOUNT = ("30004", "00031", "00012345678")
PAYER_BANK = ("30002", "00550")


@dataclass(frozen=True)
class _Entry:
    """One entry of the demo's statement: a credit (cents > 0) or a debit."""

    days_ago: int
    cents: int
    payer: str
    text: str
    payer_account: str | None = None


def statement_path(folder: Path) -> Path:
    """Where the demo writes its statement: one file, replaced at each start."""
    return folder / "demo-statement.xml"


def seed_statement(engine: Engine, settings: Settings, folder: Path, now: datetime) -> Path:
    """The agency's bank statement of the week, written into `folder`, imported and matched.

    A camt.053 file, as a bank sends it, goes through the statement importer
    and the matching that `pmdesk payments import` runs: two credits name
    their invoice (number, or payer and exact amount) and are applied on
    their own; a deposit, a payment of the wrong amount from a third party
    and a credit no invoice explains wait in the review queue; a debit
    (the bank's fees) is kept out of matching. Returns the file.
    """
    from core.receivables.matching.matcher import match_new_lines
    from core.receivables.statements.importer import import_statement

    now = _utc(now)
    today = local_today(settings, now)
    path = statement_path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_camt053(path, _statement_entries(_open_balances(engine)), today, now)
    import_statement(engine, path, settings.banks, now)
    match_new_lines(engine, settings.banks, now)
    return path


# Demo invoices (1-based, as in DEMO_INVOICES) that the statement pays: the
# first two before they fall due, so the overdue list stays as the ladder left it.
PAID_BY_NUMBER, PAID_BY_AMOUNT, DEPOSIT_ON, SHORT_ON = 1, 12, 4, 7


def _open_balances(engine: Engine) -> list[tuple[str, str, int]]:
    """(number, client, balance in cents) of every demo invoice, in number order."""
    from sqlalchemy import select

    from core.store.models.threads import Client

    invoice, client = table(Invoice), table(Client)
    query = (
        select(invoice.c.number, client.c.name, invoice.c.total_cents - invoice.c.paid_cents)
        .join(client, client.c.id == invoice.c.client_id)
        .order_by(invoice.c.number)
    )
    with engine.connect() as connection:
        return [(row[0], row[1], int(row[2])) for row in connection.execute(query)]


def _statement_entries(invoices: Sequence[tuple[str, str, int]]) -> list[_Entry]:
    def payer_account(number: int) -> str:
        from schwifty import IBAN

        bank, branch = PAYER_BANK
        return str(IBAN.generate("FR", bank, f"{number:011d}", branch).compact)

    entries: list[_Entry] = []
    if len(invoices) >= PAID_BY_NUMBER:
        number, client, balance = invoices[PAID_BY_NUMBER - 1]
        entries.append(
            _Entry(3, balance, client.upper(), f"VIR SEPA FACTURE {number}", payer_account(1))
        )
    if len(invoices) >= PAID_BY_AMOUNT:
        _, client, balance = invoices[PAID_BY_AMOUNT - 1]
        entries.append(_Entry(2, balance, client, "VIREMENT REGLEMENT", payer_account(2)))
    if len(invoices) >= DEPOSIT_ON:
        _, client, balance = invoices[DEPOSIT_ON - 1]
        entries.append(_Entry(2, balance // 2, client, "ACOMPTE", payer_account(3)))
    if len(invoices) >= SHORT_ON:
        number, _, balance = invoices[SHORT_ON - 1]
        entries.append(
            _Entry(1, balance - 40_00, "SCI DES TILLEULS GESTION", f"REGLEMENT {number}")
        )
    entries.append(_Entry(1, 123_45, "CPAM DES ALPES-MARITIMES", "REMBOURSEMENT 2611"))
    entries.append(_Entry(1, -18_00, "", "FRAIS TENUE DE COMPTE"))
    return entries


def _write_camt053(path: Path, entries: Sequence[_Entry], today: date, now: datetime) -> None:
    """A camt.053.001.02 statement of `entries`, booked in the days before `today`."""
    from xml.etree import ElementTree

    from schwifty import IBAN

    def child(parent: ElementTree.Element, tag: str, text: str = "") -> ElementTree.Element:
        element = ElementTree.SubElement(parent, f"{{{CAMT053}}}{tag}")
        element.text = text or None
        return element

    def nested(parent: ElementTree.Element, path: str, text: str) -> None:
        *tags, last = path.split("/")
        for tag in tags:
            parent = child(parent, tag)
        child(parent, last, text)

    ElementTree.register_namespace("", CAMT053)
    created = now.replace(microsecond=0).isoformat()
    document = ElementTree.Element(f"{{{CAMT053}}}Document")
    report = child(document, "BkToCstmrStmt")
    header = child(report, "GrpHdr")
    child(header, "MsgId", f"STMT{today:%Y%m%d}")
    child(header, "CreDtTm", created)
    statement = child(report, "Stmt")
    child(statement, "Id", f"STMT{today:%Y%m%d}-1")
    child(statement, "CreDtTm", created)
    account = child(statement, "Acct")
    bank, branch, number = AGENCY_ACCOUNT
    nested(account, "Id/IBAN", str(IBAN.generate("FR", bank, number, branch).compact))
    child(account, "Ccy", "EUR")
    for index, entry in enumerate(entries, start=1):
        booked = (today - timedelta(days=entry.days_ago)).isoformat()
        ntry = child(statement, "Ntry")
        child(ntry, "Amt", f"{abs(entry.cents) // 100}.{abs(entry.cents) % 100:02d}").set(
            "Ccy", "EUR"
        )
        child(ntry, "CdtDbtInd", "CRDT" if entry.cents > 0 else "DBIT")
        child(ntry, "Sts", "BOOK")
        nested(ntry, "BookgDt/Dt", booked)
        nested(ntry, "ValDt/Dt", booked)
        child(ntry, "AcctSvcrRef", f"{today:%Y%m%d}{index:04d}")
        details = child(child(ntry, "NtryDtls"), "TxDtls")
        nested(details, "Refs/EndToEndId", "NOTPROVIDED")
        if entry.payer:
            parties = child(details, "RltdPties")
            nested(parties, "Dbtr/Nm", entry.payer)
            if entry.payer_account:
                nested(parties, "DbtrAcct/Id/IBAN", entry.payer_account)
        nested(details, "RmtInf/Ustrd", entry.text)
    ElementTree.indent(document)
    ElementTree.ElementTree(document).write(path, encoding="UTF-8", xml_declaration=True)


def _register_team(engine: Engine, scenario: Scenario, now: datetime) -> None:
    for member in scenario.staff:
        add_staff(engine, member.name, member.role, [member.email], now)


__all__ = ["seed_statement", "statement_path"]
