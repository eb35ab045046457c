"""Statements as banks write them: every line whole, on its account, with its sign and payer.

Each file under tests/data/statements/dialects is one bank's dialect; the
table gives the exact lines it must give. Files that are not statements of
payments are refused with one sentence, and statements with nothing booked
say so.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from core.config.banks import BanksConfig
from core.receivables.statements.importer import detect_format, import_statement, parse_statement
from core.receivables.statements.records import StatementError
from tests.support import MovableClock

DIALECTS = Path(__file__).parents[3] / "data" / "statements" / "dialects"
BANKS = BanksConfig()
DAY = date(2026, 11, 24)

# Per file: (booking date, cents, currency, account, payer, payer's account, text, bank reference).
Line = tuple[date, int, str, str, str, str | None, str, str | None]
EXPECTED: dict[str, list[Line]] = {
    # Two different lines under one bank reference: both kept.
    "mt940-shared-reference.sta": [
        (DAY, 300000, "EUR", "NL91ABNA0417164300", "Dupont Consulting SARL",
         "FR1420041010050500013M02606", "Invoice INV-2026-00042", "55555"),
        (DAY, -80000, "EUR", "NL91ABNA0417164300", "Immo Centrum BV", "NL02ABNA0123456789",
         "Rent December", "55555"),
    ],
    # RC takes a credit back (a debit), RD a debit (a credit).
    "mt940-reversals.sta": [
        (DAY, -20488, "EUR", "NL91ABNA0417164300", "Dupont Consulting SARL", None,
         "Reversal of credit INV-2026-00042", "REV1"),
        (DAY, 5000, "EUR", "NL91ABNA0417164300", "Energy Co", None,
         "Reversal of direct debit", "REV2"),
    ],
    # Two statements in one file, each on its own account and currency.
    "mt940-two-accounts.sta": [
        (DAY, 12000, "EUR", "NL91ABNA0417164300", "Dupont Consulting SARL", None,
         "Invoice INV-2026-00042", "A1"),
        (DAY, -2000, "USD", "DE89370400440532013000", "Kreditbank", None, "Card fee", "B1"),
        (DAY, 7550, "USD", "DE89370400440532013000", "Martin et Fils", None,
         "Invoice INV-2026-00051", "B2"),
    ],
    # German ?-subfields: the purpose cut at 27 characters is glued back.
    "mt940-german.sta": [
        (DAY, 120000, "EUR", "37040044/0532013000", "Martin und Sohn Handelsgesellschaft mbH",
         "DE44500105175407324931", "Rechnung INV-2026-00042 vom 01.11.", "9211124"),
        (DAY, -3550, "EUR", "37040044/0532013000", "Commerzbank", None,
         "Kontofuehrung November", "9211125"),
    ],
    # A SOH byte and the ABNANL2A / 940 header; labelled IBAN:, NAAM:, OMSCHRIJVING:.
    "mt940-abnamro.sta": [
        (DAY, -900, "EUR", "417164300", "", None,
         "BEA NR:XXXX 24.11.26/15.56 ALBERT HEIJN 1234 AMSTERDAM,PAS999", None),
        (DAY, 25000, "EUR", "417164300", "J JANSEN", "NL86INGB0002445588",
         "FACTUUR INV-2026-00077", None),
    ],
    # ING's header lines, the currency after the IBAN, /CNTP/ and /REMI/USTD|STRD/.
    "mt940-ing.sta": [
        (DAY, 120000, "EUR", "NL69INGB0123456789", "Dupont Consulting SARL",
         "FR1420041010050500013M02606", "Invoice INV-2026-00042", "00000000001005"),
        (DAY, 25000, "EUR", "NL69INGB0123456789", "Martin et Fils", "DE89370400440532013000",
         "RF18539007547034", "00000000001006"),
    ],
    # Rabobank's :940:, 13-digit amounts with a '.', the payer's IBAN under :61:, /ISDT/.
    "mt940-rabobank.sta": [
        (DAY, 12345, "EUR", "NL44RABO0123456789", "Triodos Klant BV", "NL02ABNA0123456789",
         "Factuur INV-2026-00042 november", None),
    ],
    # A leading '-', :28C: on two lines, the payer's IBAN as the 18-character customer
    # reference, an amount without decimals, a line without a transaction type.
    "mt940-sns.sta": [
        (DAY, 50000, "EUR", "NL12SNSB0123456789", "", "NL61SNSB0987654321",
         "P. de Vries Utrecht Factuur INV-2026-00042", None),
        (DAY, -1250, "EUR", "NL12SNSB0123456789", "", None, "Maandelijkse kosten", "KNAB77"),
    ],
    # Knab: amounts with a bare ',', and the payer after the text as "REK: .../NAAM: ...".
    "mt940-knab.sta": [
        (DAY, 120000, "EUR", "123456789", "J JANSEN BV", "NL86INGB0002445588",
         "FACTUUR INV-2026-00042 EN INV-2026-00043 MET DANK VOOR DE SAMEN", "B6K24XM00J000023"),
    ],
    # Triodos writes the German subfields with '>'.
    "mt940-triodos.sta": [
        (DAY, 4200, "EUR", "NL70TRIO0123456789", "G. Bakker", "NL86INGB0002445588",
         "Factuur INV-2026-00042 dank u wel", "TR1"),
    ],
    # A batch under one AcctSvcrRef told apart by TxId; a transaction's own CdtDbtInd.
    "camt053-batch.xml": [
        (DAY, 10000, "EUR", "BE68539007547034", "Alpha BV", "NL91ABNA0417164300",
         "INV-2026-00101", "BATCH-7"),
        (DAY, 10000, "EUR", "BE68539007547034", "Beta SPRL", None, "INV-2026-00102", "BATCH-7"),
        (DAY, 10000, "EUR", "BE68539007547034", "Gamma SA", None, "INV-2026-00103", "BATCH-7"),
        (DAY, 4500, "EUR", "BE68539007547034", "Delta GmbH", None, "Refund INV-2026-00099",
         "RET-1"),
        (DAY, -2000, "EUR", "BE68539007547034", "Employee One", None, "", None),
        (DAY, 4000, "EUR", "BE68539007547034", "Epsilon Ltd", None, "INV-2026-00104", None),
        (DAY, 4000, "EUR", "BE68539007547034", "Zeta Ltd", None, "INV-2026-00105", None),
    ],
    # No BookgDt: the value date, else the statement's creation date.
    "camt053-v08-dates.xml": [
        (date(2026, 11, 23), 150000, "CHF", "CH9300762011623852957", "Helvetia Design AG", None,
         "Rechnung INV-2026-00042", "CH-1"),
        (DAY, -1200, "CHF", "CH9300762011623852957", "", None, "Kontoführung", "CH-2"),
    ],
    # Blank header lines, a 10-character BANKID, LANGUAGE FRE, '+' and ',' amounts, all in
    # NAME with MEMO empty, an empty NAME, a missing </STMTTRN>, an empty BALAMT.
    "ofx-french.ofx": [
        (DAY, 120000, "EUR", "FR7630006000011234567890189",
         "VIR SEPA DUPONT CONSULTING SARL FACTURE INV-2026-00042", None,
         "VIR SEPA DUPONT CONSULTING SARL FACTURE INV-2026-00042", "7HKXQ1"),
        (DAY, -3550, "EUR", "FR7630006000011234567890189", "", None, "FRAIS TENUE DE COMPTE",
         "7HKXQ2"),
        (DAY, 25000, "EUR", "FR7630006000011234567890189", "Martin et Fils & Cie", None,
         "RF18 5390 0754 7034", "7HKXQ3"),
    ],
    # A Brazilian bank: Windows-1252 accents, time zones in dates, no NAME at all.
    "ofx-brazil.ofx": [
        (DAY, 450000, "BRL", "12345-6", "", None,
         "TED RECEBIDA AGÊNCIA SÃO PAULO FATURA INV-2026-00042", "20261124001"),
        (DAY, -1290, "BRL", "12345-6", "", None, "TARIFA BANCÁRIA", "20261124002"),
    ],
    # A namespace prefix on every element (Lithuanian banks), BookgDt as a date-time.
    "camt053-prefixed.xml": [
        (DAY, 87000, "EUR", "LT121000011101001000", "UAB Vilniaus Dizainas",
         "LT601010012345678901", "Saskaita INV-2026-00042", "LT-7781"),
    ],
    # OFX 2 without sign-on, two statements (one FITID on both accounts), <MEMO/>, PAYEE.
    "ofx-two-statements.ofx": [
        (date(2026, 11, 23), 50000, "USD", "1234567890", "Acme Corp", None,
         "Acme Corp INV-2026-00042", "US-1"),
        (DAY, 125, "USD", "9876543210", "Interest", None, "Interest", "US-1"),
    ],
}  # fmt: skip


def _lines(name: str) -> list[Line]:
    _fmt, lines = parse_statement(DIALECTS / name, BANKS)
    return [
        (
            line.booking_date, line.amount_cents, line.currency, line.account_iban,
            line.counterparty_name, line.counterparty_account, line.text, line.bank_reference,
        )
        for line in lines
    ]  # fmt: skip


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM banktransaction")).scalar_one())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_dialect_gives_its_exact_lines(name: str) -> None:
    assert _lines(name) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_dialect_imports_whole_into_an_empty_database_and_once(
    engine: Engine, clock: MovableClock, name: str
) -> None:
    first = import_statement(engine, DIALECTS / name, BANKS, clock())
    again = import_statement(engine, DIALECTS / name, BANKS, clock())

    assert (first.new, first.known) == (len(EXPECTED[name]), 0)
    assert (again.new, again.known) == (0, len(EXPECTED[name]))
    assert _count(engine) == len(EXPECTED[name])


@pytest.mark.parametrize("name", [name for name in sorted(EXPECTED) if name.startswith("mt940")])
def test_mt940_is_recognised_behind_any_bank_header(name: str) -> None:
    assert detect_format(DIALECTS / name) == "mt940"


def test_german_details_give_the_end_to_end_id() -> None:
    _fmt, lines = parse_statement(DIALECTS / "mt940-german.sta", BANKS)

    assert [line.end_to_end_id for line in lines] == ["E2E-7781", None]


def test_the_structured_reference_of_ing_is_read(engine: Engine) -> None:
    _fmt, lines = parse_statement(DIALECTS / "mt940-ing.sta", BANKS)

    assert [line.structured_reference for line in lines] == [None, "RF18539007547034"]


def test_an_overlapping_statement_with_shared_references_adds_only_the_new_line(
    engine: Engine, clock: MovableClock, tmp_path: Path
) -> None:
    # The same day again, with one more line under the same bank reference.
    content = (DIALECTS / "mt940-shared-reference.sta").read_text()
    later = content.replace(
        ":62F:",
        ":61:2611241124C800,00NTRFNONREF//55555\n:86:/REMI/Invoice INV-2026-00051\n:62F:",
    )
    (tmp_path / "later.sta").write_text(later)
    import_statement(engine, DIALECTS / "mt940-shared-reference.sta", BANKS, clock())

    result = import_statement(engine, tmp_path / "later.sta", BANKS, clock())

    assert (result.new, result.known) == (1, 2)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ofx-investment.ofx", "ofx-investment.ofx: an investment statement: nothing to match"),
        (
            "ofx-signon-error.ofx",
            "ofx-signon-error.ofx: the bank refused the sign-on: Signon invalid: check your "
            "user id and password (code 15500)",
        ),
    ],
)
def test_what_is_not_a_payment_statement_is_refused_saying_why(
    engine: Engine, clock: MovableClock, name: str, why: str
) -> None:
    with pytest.raises(StatementError) as raised:
        import_statement(engine, DIALECTS / name, BANKS, clock())

    assert str(raised.value) == why
    assert _count(engine) == 0


@pytest.mark.parametrize(
    ("name", "note"),
    [
        ("ofx-balance-only.ofx", "the statement gives balances only, no transactions"),
        ("camt054-info-only.xml", "2 entries information only (Sts INFO), not booked: left out"),
    ],
)
def test_a_statement_with_nothing_booked_imports_no_line_and_says_why(
    engine: Engine, clock: MovableClock, name: str, note: str
) -> None:
    result = import_statement(engine, DIALECTS / name, BANKS, clock())

    assert (result.new, result.known, result.notes) == (0, 0, [note])


def test_an_ofx_statement_error_is_refused_with_the_banks_message(
    engine: Engine, clock: MovableClock, tmp_path: Path
) -> None:
    path = tmp_path / "error.ofx"
    path.write_text(
        "<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>2003<SEVERITY>ERROR"
        "<MESSAGE>Account not found</STATUS></STMTTRNRS></BANKMSGSRSV1></OFX>"
    )

    with pytest.raises(StatementError, match=r"^error.ofx: the bank reported an error: "
                       r"Account not found \(code 2003\)$"):  # fmt: skip
        import_statement(engine, path, BANKS, clock())


def test_pending_camt_entries_are_left_out_and_counted(tmp_path: Path) -> None:
    content = (DIALECTS / "camt053-v08-dates.xml").read_text()
    path = tmp_path / "pending.xml"
    path.write_text(content.replace("<Cd>BOOK</Cd>", "<Cd>PDNG</Cd>", 1))
    notes: list[str] = []

    _fmt, lines = parse_statement(path, BANKS, notes=notes)

    assert [line.bank_reference for line in lines] == ["CH-2"]
    assert notes == ["1 entry pending (Sts PDNG), not booked: left out"]


@pytest.mark.parametrize(
    ("good", "bad", "why"),
    [
        (":61:2611241124RD50,00", ":61:2611241124RD5O,00", "line 7: :61: is not a transaction"),
        (":61:2611241124RD50,00", ":61:2611321124RD50,00", "line 7: :61: '261132' is not a date"),
        (":60F:C261123EUR1000,00", ":60F:C261123EUR", "line 4: :60F: is not a balance"),
        (":25:NL91ABNA0417164300", ":25:", "line 2: :25: names no account"),
    ],
)
def test_a_broken_mt940_field_refuses_the_file_naming_its_line(
    tmp_path: Path, good: str, bad: str, why: str
) -> None:
    content = (DIALECTS / "mt940-reversals.sta").read_text()
    assert good in content
    path = tmp_path / "broken.sta"
    path.write_text(content.replace(good, bad))

    with pytest.raises(StatementError) as raised:
        list(parse_statement(path, BANKS)[1])

    assert str(raised.value).startswith(f"broken.sta: {why}")


def test_an_unreadable_ofx_amount_names_the_transaction(tmp_path: Path) -> None:
    path = tmp_path / "bad.ofx"
    path.write_text((DIALECTS / "ofx-french.ofx").read_text().replace("-35,50", "-35,5x"))

    with pytest.raises(StatementError) as raised:
        list(parse_statement(path, BANKS)[1])

    assert str(raised.value) == (
        "bad.ofx: OFX/STMTRS[1]/BANKTRANLIST/STMTTRN[2]/TRNAMT: '-35,5x' is not an amount"
    )


def test_swift_blocks_frame_the_statement_and_entry_dates_cross_the_year(tmp_path: Path) -> None:
    path = tmp_path / "swift.sta"
    path.write_text(
        "{1:F01INGBNL2ABXXX0000000000}{2:I940INGBNL2AXXXN}{3:{108:B12345678S000001}}{4:\n"
        ":20:P270102\n:25:NL69INGB0123456789\n:28C:1/1\n:60F:C261231EUR0,00\n"
        ":61:2701021231C10,00NTRFNONREF//Y1\n:86:/REMI/Booked on new year's eve\n"
        ":62F:C270102EUR10,00\n-}{5:{CHK:ABCDEF123456}}\n"
    )

    assert detect_format(path) == "mt940"
    _fmt, lines = parse_statement(path, BANKS)
    found = [(line.booking_date, line.value_date, line.amount_cents, line.text) for line in lines]

    assert found == [
        (date(2026, 12, 31), date(2027, 1, 2), 1000, "Booked on new year's eve"),
    ]


def test_mt940_field_quirks_of_asn_citi_and_german_banks(tmp_path: Path) -> None:
    # Spaces where the entry date goes (ASN, Citi), a 30-day February value date
    # (German interest conventions), a garbled forward balance, a bank's own :NS: field.
    path = tmp_path / "quirks.sta"
    path.write_text(
        ":20:Q\n:25:NL91ABNA0417164300\n:28C:1/1\n:NS:22Test GmbH\n:60F:C260201EUR0,00\n"
        ":61:260201    D65,00NOVBNL86INGB0002445588\n:86:Sieraden\n"
        ":61:2602300228C10,00NTRFNONREF//FEB30\n:86:Zinsen\n"
        ":62F:D260228EUR55,00\n:65F:Dnullnull7414,3\n"
    )

    _fmt, lines = parse_statement(path, BANKS)
    found = [(line.booking_date, line.value_date, line.amount_cents) for line in lines]

    assert found == [
        (date(2026, 2, 1), date(2026, 2, 1), -6500),
        (date(2026, 2, 28), date(2026, 2, 28), 1000),
    ]


def test_a_camt_statement_with_balances_only_says_so(tmp_path: Path) -> None:
    path = tmp_path / "balances.xml"
    content = (DIALECTS / "camt053-v08-dates.xml").read_text()
    start, end = content.index("<Ntry>"), content.rindex("</Ntry>") + len("</Ntry>")
    path.write_text(content[:start] + content[end:])
    notes: list[str] = []

    _fmt, lines = parse_statement(path, BANKS, notes=notes)

    assert (list(lines), notes) == ([], ["the statement gives balances only, no entries"])


def test_a_camt_file_without_a_statement_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.xml"
    path.write_text(
        '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
        "<BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr></BkToCstmrStmt></Document>"
    )

    with pytest.raises(StatementError) as raised:
        list(parse_statement(path, BANKS)[1])

    assert str(raised.value) == "empty.xml: no statement (Stmt) in this camt.053 file"


CARD_AND_ERROR = """OFXHEADER:100
DATA:OFXSGML
VERSION:102

<OFX><CREDITCARDMSGSRSV1>
<CCSTMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO</STATUS>
<CCSTMTRS><CURDEF>EUR<CCACCTFROM><ACCTID>4970XXXXXXXX1234</CCACCTFROM>
<BANKTRANLIST><STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20261124<TRNAMT>19.90<FITID>CC1
<NAME>Refund INV-2026-00042</STMTTRN></BANKTRANLIST></CCSTMTRS></CCSTMTTRNRS>
<CCSTMTTRNRS><TRNUID>2<STATUS><CODE>2003<SEVERITY>ERROR<MESSAGE>Account not found</STATUS>
</CCSTMTTRNRS></CREDITCARDMSGSRSV1></OFX>
"""


def test_a_card_statement_imports_and_a_failed_one_beside_it_is_said(tmp_path: Path) -> None:
    path = tmp_path / "card.ofx"
    path.write_text(CARD_AND_ERROR)
    notes: list[str] = []

    _fmt, lines = parse_statement(path, BANKS, notes=notes)
    found = [(line.account_iban, line.amount_cents, line.text) for line in lines]

    assert found == [("4970XXXXXXXX1234", 1990, "Refund INV-2026-00042")]
    assert notes == [
        "a statement left out: the bank reported an error: Account not found (code 2003)"
    ]


def test_an_investment_statement_beside_a_bank_statement_is_left_out_with_a_note(
    tmp_path: Path,
) -> None:
    investment = (DIALECTS / "ofx-investment.ofx").read_text()
    bank = (DIALECTS / "ofx-two-statements.ofx").read_text()
    block = investment[investment.index("<INVSTMTMSGSRSV1>") : investment.index("</OFX>")]
    path = tmp_path / "both.ofx"
    path.write_text(bank.replace("</OFX>", block + "</OFX>"))
    notes: list[str] = []

    _fmt, lines = parse_statement(path, BANKS, notes=notes)

    assert [line.bank_reference for line in lines] == ["US-1", "US-1"]
    assert notes == ["1 investment statement(s) left out: nothing to match"]
