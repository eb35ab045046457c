"""A statement's lines are all new to an empty database, whatever they share, in every format.

Hypothesis writes statements whose lines share bank references, end-to-end
ids, payers, texts, amounts and days (or repeat whole), in each format, and
imports each into a fresh database: no line may come back "already known",
and the same file again adds nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config.banks import BankCsvProfile, BanksConfig
from core.receivables.statements.importer import import_statement
from core.store.db import open_database
from tests.support import MovableClock

ACCOUNT = "FR7630006000011234567890189"
FIRST_DAY = date(2026, 11, 20)
BANKS = BanksConfig(
    csv_profiles={
        "bank": BankCsvProfile(
            delimiter=";", decimal=".", date_format="%Y-%m-%d", booking_date="date",
            amount="amount", counterparty_name="payer", text=["text"],
            end_to_end_id="e2e", bank_reference="ref", account_iban=ACCOUNT,
        )
    }
)  # fmt: skip


@dataclass(frozen=True)
class Entry:
    day: int
    cents: int
    reference: str | None
    end_to_end: str | None
    payer: str
    text: str

    @property
    def booked(self) -> date:
        return FIRST_DAY + timedelta(days=self.day)

    @property
    def amount(self) -> str:
        return f"{abs(self.cents) // 100}.{abs(self.cents) % 100:02d}"


# Few values, so lines often share some of them or repeat whole.
entries = st.builds(
    Entry,
    day=st.integers(0, 1),
    cents=st.sampled_from([100, 2500, -2500, 120000]),
    reference=st.sampled_from([None, "55555", "REF2"]),
    end_to_end=st.sampled_from([None, "E2E-1", "NOTPROVIDED"]),
    payer=st.sampled_from(["Alpha", "Beta"]),
    text=st.sampled_from(["INV-2026-00001", "INV-2026-00002", "Fees"]),
)
statements = st.lists(entries, min_size=1, max_size=8)


def _camt(lines: list[Entry], kind: str) -> str:
    root, report = {
        "053": ("BkToCstmrStmt", "Stmt"),
        "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
    }[kind]
    entries = []
    for line in lines:
        party = "Dbtr" if line.cents > 0 else "Cdtr"
        reference = f"<AcctSvcrRef>{line.reference}</AcctSvcrRef>" if line.reference else ""
        e2e = f"<Refs><EndToEndId>{line.end_to_end}</EndToEndId></Refs>" if line.end_to_end else ""
        entries.append(
            f'<Ntry><Amt Ccy="EUR">{line.amount}</Amt>'
            f"<CdtDbtInd>{'CRDT' if line.cents > 0 else 'DBIT'}</CdtDbtInd><Sts>BOOK</Sts>"
            f"<BookgDt><Dt>{line.booked}</Dt></BookgDt>{reference}<NtryDtls><TxDtls>{e2e}"
            f"<RltdPties><{party}><Nm>{line.payer}</Nm></{party}></RltdPties>"
            f"<RmtInf><Ustrd>{line.text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        )
    return (
        f'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.{kind}.001.02">'
        f"<{root}><GrpHdr><MsgId>M</MsgId></GrpHdr><{report}><Id>S</Id>"
        f"<Acct><Id><IBAN>{ACCOUNT}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        f"{''.join(entries)}</{report}></{root}></Document>"
    )


def _mt940(lines: list[Entry]) -> str:
    fields = [":20:S", f":25:{ACCOUNT}", ":28C:1/1", ":60F:C261119EUR0,00"]
    for line in lines:
        mark = "C" if line.cents > 0 else "D"
        day = line.booked.strftime("%y%m%d")
        amount = line.amount.replace(".", ",")
        fields.append(f":61:{day}{day[2:]}{mark}{amount}NTRFNONREF//{line.reference or ''}")
        eref = f"/EREF/{line.end_to_end}" if line.end_to_end else ""
        fields.append(f":86:{eref}/REMI/{line.text}/NAME/{line.payer}")
    fields.append(":62F:C261122EUR0,00")
    return "\n".join(fields) + "\n"


def _ofx(lines: list[Entry]) -> str:
    transactions = "".join(
        f"<STMTTRN><TRNTYPE>OTHER<DTPOSTED>{line.booked:%Y%m%d}"
        f"<TRNAMT>{'-' if line.cents < 0 else ''}{line.amount}"
        f"{f'<FITID>{line.reference}' if line.reference else ''}"
        f"<NAME>{line.payer}<MEMO>{line.text}</STMTTRN>"
        for line in lines
    )
    return (
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>1"
        f"<STMTRS><CURDEF>EUR<BANKACCTFROM><BANKID>1<ACCTID>{ACCOUNT}<ACCTTYPE>CHECKING"
        f"</BANKACCTFROM><BANKTRANLIST>{transactions}</BANKTRANLIST></STMTRS></STMTTRNRS>"
        "</BANKMSGSRSV1></OFX>\n"
    )


def _csv(lines: list[Entry]) -> str:
    rows = ["date;amount;payer;text;e2e;ref"]
    for line in lines:
        amount = f"{'-' if line.cents < 0 else ''}{line.amount}"
        rows.append(
            f"{line.booked};{amount};{line.payer};{line.text};{line.end_to_end or ''};"
            f"{line.reference or ''}"
        )
    return "\n".join(rows) + "\n"


WRITERS: dict[str, tuple[Callable[[list[Entry]], str], str]] = {
    "camt053": (partial(_camt, kind="053"), "xml"),
    "camt054": (partial(_camt, kind="054"), "xml"),
    "mt940": (_mt940, "sta"),
    "ofx": (_ofx, "ofx"),
    "csv": (_csv, "csv"),
}


def _never_known_into_an_empty_database(fmt: str, lines: list[Entry]) -> None:
    write, suffix = WRITERS[fmt]
    clock = MovableClock()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"statement.{suffix}"
        path.write_text(write(lines), encoding="utf-8")
        engine = open_database(str(Path(folder) / "pmdesk.db"))
        try:
            first = import_statement(engine, path, BANKS, clock(), fmt=fmt)
            again = import_statement(engine, path, BANKS, clock(), fmt=fmt)
        finally:
            engine.dispose()
    assert (first.new, first.known) == (len(lines), 0)
    assert (again.new, again.known) == (0, len(lines))


_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(statements)
def test_camt053_lines_are_never_known_to_an_empty_database(lines: list[Entry]) -> None:
    _never_known_into_an_empty_database("camt053", lines)


@_SETTINGS
@given(statements)
def test_camt054_lines_are_never_known_to_an_empty_database(lines: list[Entry]) -> None:
    _never_known_into_an_empty_database("camt054", lines)


@_SETTINGS
@given(statements)
def test_mt940_lines_are_never_known_to_an_empty_database(lines: list[Entry]) -> None:
    _never_known_into_an_empty_database("mt940", lines)


@_SETTINGS
@given(statements)
def test_ofx_lines_are_never_known_to_an_empty_database(lines: list[Entry]) -> None:
    _never_known_into_an_empty_database("ofx", lines)


@_SETTINGS
@given(statements)
def test_csv_lines_are_never_known_to_an_empty_database(lines: list[Entry]) -> None:
    _never_known_into_an_empty_database("csv", lines)
