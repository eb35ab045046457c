"""Bank statements: every format to the same records, nothing twice, bad files refused whole."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from core.config.banks import BankCsvProfile, BanksConfig
from core.receivables.statements.importer import detect_format, import_statement, parse_statement
from core.receivables.statements.records import StatementError
from core.store.db import write
from tests.support import MovableClock

DATA = Path(__file__).parents[3] / "data" / "statements"
DIALECTS = DATA / "dialects"
FILES = ["camt053.xml", "camt054.xml", "mt940.sta", "statement.ofx", "statement.csv"]
BANKS = BanksConfig(
    csv_profiles={
        "bank": BankCsvProfile(
            delimiter=";", skip_lines=1, booking_date="Date opération", value_date="Date valeur",
            credit="Crédit", debit="Débit", counterparty_name="Contrepartie",
            counterparty_iban="IBAN contrepartie", reference="Référence", text=["Libellé"],
            bank_reference="Réf. banque", account_iban="FR7630006000011234567890189",
        )
    }
)  # fmt: skip


def _essentials(name: str) -> list[tuple[object, ...]]:
    _fmt, lines = parse_statement(DATA / name, BANKS)
    return [
        (
            line.booking_date, line.value_date, line.amount_cents, line.currency,
            line.account_iban, line.counterparty_name,
            (line.counterparty_account or "").replace(" ", ""), line.bank_reference,
            line.structured_reference, line.position,
        )
        for line in lines
    ]  # fmt: skip


def test_each_format_is_detected_and_parsed_to_the_same_records() -> None:
    formats = [detect_format(DATA / name) for name in FILES]
    records = [_essentials(name) for name in FILES]

    assert formats == ["camt053", "camt054", "mt940", "ofx", "csv"]
    assert all(found == records[0] for found in records[1:])
    first = records[0]
    assert [row[2] for row in first] == [120000, 25000, -3550]
    assert first[1][8] == "RF18539007547034"
    _fmt, lines = parse_statement(DATA / "mt940.sta", BANKS)
    assert next(iter(lines)).end_to_end_id == "E2E-0001"


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM banktransaction")).scalar_one())


@pytest.mark.parametrize("name", FILES)
def test_the_same_file_twice_adds_nothing(engine: Engine, clock: MovableClock, name: str) -> None:
    first = import_statement(engine, DATA / name, BANKS, clock())
    again = import_statement(engine, DATA / name, BANKS, clock())

    assert (first.new, first.known) == (3, 0)
    assert (again.new, again.known) == (0, 3)
    assert _count(engine) == 3


def test_an_overlapping_statement_adds_only_its_new_days(
    engine: Engine, clock: MovableClock, tmp_path: Path
) -> None:
    import_statement(engine, DATA / "mt940.sta", BANKS, clock())
    later = (
        (DATA / "mt940.sta")
        .read_text()
        .replace(
            ":62F:C261122EUR2414,50",
            ":61:2611231123C99,00NTRFNONREF//BANKREF0004\n:86:/REMI/Invoice INV-2026-00050\n"
            ":62F:C261123EUR2513,50",
        )
    )
    (tmp_path / "later.sta").write_text(later)

    result = import_statement(engine, tmp_path / "later.sta", BANKS, clock())

    assert (result.new, result.known) == (1, 3)
    assert _count(engine) == 4


def test_lines_without_bank_reference_dedupe_on_content_and_occurrence(
    engine: Engine, clock: MovableClock, tmp_path: Path
) -> None:
    # Two identical payments on one day stay two; the file again adds nothing.
    row = "21/11/2026;21/11/2026;Same;;Payer;;;10,00;\n"
    header = (DATA / "statement.csv").read_text().splitlines()[:2]
    path = tmp_path / "twice.csv"
    path.write_text("\n".join(header) + "\n" + row + row)

    first = import_statement(engine, path, BANKS, clock())
    again = import_statement(engine, path, BANKS, clock())

    assert (first.new, again.new, again.known) == (2, 0, 2)


BROKEN = {
    "camt053.xml": ("<Amt Ccy=\"EUR\">250.00</Amt>", "<Amt Ccy=\"EUR\">2x0.00</Amt>",
                    "Stmt[1]/Ntry[2]/Amt"),
    "camt054.xml": ("<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>XXXX</CdtDbtInd>",
                    "Ntfctn[1]/Ntry[3]/CdtDbtInd"),
    "mt940.sta": (":61:2611221122C250,00", ":61:26112X1122C250,00", "line 8"),
    "statement.ofx": ("<TRNAMT>250.00", "<TRNAMT>abc", "STMTTRN[2]/TRNAMT"),
    "statement.csv": (";;250,00;", ";;25O,00;", "line 4"),
}  # fmt: skip


@pytest.mark.parametrize("name", FILES)
def test_a_malformed_file_is_refused_whole_naming_where(
    engine: Engine, clock: MovableClock, tmp_path: Path, name: str
) -> None:
    good, bad, where = BROKEN[name]
    content = (DATA / name).read_text(encoding="utf-8")
    assert good in content
    path = tmp_path / name
    path.write_text(content.replace(good, bad), encoding="utf-8")

    with pytest.raises(StatementError) as raised:
        import_statement(engine, path, BANKS, clock())

    assert name in str(raised.value) and where in str(raised.value)
    assert _count(engine) == 0  # the good first line was not kept either


def test_broken_xml_names_the_line(engine: Engine, clock: MovableClock, tmp_path: Path) -> None:
    path = tmp_path / "cut.xml"
    path.write_text((DATA / "camt053.xml").read_text()[:2000])

    with pytest.raises(StatementError, match=r"cut.xml: line \d+: not well-formed"):
        import_statement(engine, path, BANKS, clock())
    assert _count(engine) == 0


def test_invalid_counterparty_iban_is_kept_as_written(
    engine: Engine, clock: MovableClock, tmp_path: Path
) -> None:
    path = tmp_path / "bad-iban.xml"
    shutil.copy(DATA / "camt053.xml", path)
    path.write_text(path.read_text().replace("DE89370400440532013000", "DE00370400440532013000"))

    import_statement(engine, path, BANKS, clock())

    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT counterparty_iban, counterparty_account_raw FROM banktransaction "
                "ORDER BY id"
            )
        ).all()
    assert rows[0] == ("FR1420041010050500013M02606", None)
    assert rows[1] == (None, "DE00370400440532013000")


def test_csv_needs_a_known_profile(engine: Engine, clock: MovableClock) -> None:
    with pytest.raises(StatementError, match="unknown CSV profile 'other'"):
        import_statement(engine, DATA / "statement.csv", BANKS, clock(), profile="other")
    with pytest.raises(StatementError, match="unknown format"):
        import_statement(engine, DATA / "statement.csv", BANKS, clock(), fmt="qif")


def test_a_batched_camt_entry_gives_one_line_per_transaction(tmp_path: Path) -> None:
    batch = """<Ntry><Amt Ccy="EUR">300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
      <BookgDt><Dt>2026-11-23</Dt></BookgDt><AcctSvcrRef>BATCH1</AcctSvcrRef><NtryDtls>
      <TxDtls><Amt Ccy="EUR">100.00</Amt><RmtInf><Ustrd>INV-1</Ustrd></RmtInf></TxDtls>
      <TxDtls><Amt Ccy="EUR">200.00</Amt><RmtInf><Ustrd>INV-2</Ustrd></RmtInf></TxDtls>
      </NtryDtls></Ntry>
      <Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>PDNG</Sts>
      <BookgDt><Dt>2026-11-23</Dt></BookgDt></Ntry>
    </Stmt>"""
    path = tmp_path / "batch.xml"
    path.write_text((DATA / "camt053.xml").read_text().replace("</Stmt>", batch))

    _fmt, lines = parse_statement(path, BANKS)
    found = [(line.amount_cents, line.bank_reference, line.text) for line in lines][3:]

    # The pending entry is not booked yet: left out.
    assert found == [(10000, "BATCH1/1", "INV-1"), (20000, "BATCH1/2", "INV-2")]


def test_the_same_statement_in_another_format_adds_nothing(
    engine: Engine, clock: MovableClock
) -> None:
    # The bank's references name the entries whatever the file's format.
    first = import_statement(engine, DATA / "statement.csv", BANKS, clock())
    again = [import_statement(engine, DATA / name, BANKS, clock()) for name in FILES[:4]]

    assert first.new == 3
    assert [(result.new, result.known) for result in again] == [(0, 3)] * 4


def _earlier_keys(engine: Engine, keys: dict[int, str], drop: str | None = None) -> None:
    """Make the database look as an earlier version left it: its keys, its lost lines."""
    with write(engine) as connection:
        if drop:
            connection.execute(text(f"DELETE FROM banktransaction WHERE {drop}"))
        for position, key in keys.items():
            connection.execute(
                text("UPDATE banktransaction SET dedupe_key = :key WHERE position = :position"),
                {"key": hashlib.sha256(key.encode()).hexdigest()[:40], "position": position},
            )


def test_lines_stored_under_the_earlier_identity_are_still_known(
    engine: Engine, clock: MovableClock
) -> None:
    # Earlier, a line was named by the bank's reference alone, so of two lines
    # sharing one only the first was kept: the second comes in now, once.
    shared = DIALECTS / "mt940-shared-reference.sta"
    import_statement(engine, shared, BANKS, clock())
    _earlier_keys(engine, {1: "ref|NL91ABNA0417164300|55555"}, drop="amount_cents < 0")

    first = import_statement(engine, shared, BANKS, clock())
    again = import_statement(engine, shared, BANKS, clock())

    assert (first.new, first.known) == (1, 1)
    assert (again.new, again.known) == (0, 2)
    assert _count(engine) == 2


def test_lines_without_bank_reference_stored_earlier_are_still_known(
    engine: Engine, clock: MovableClock
) -> None:
    # Earlier, such a line was named by its end-to-end id and amount, else by its
    # content and its rank among identical ones.
    abn = DIALECTS / "mt940-abnamro.sta"
    import_statement(engine, abn, BANKS, clock())
    _earlier_keys(
        engine,
        {
            1: "txt|417164300|2026-11-24|2026-11-24|-900|EUR|||"
            "BEA NR:XXXX 24.11.26/15.56 ALBERT HEIJN 1234 AMSTERDAM,PAS999|1",
            2: "e2e|417164300|2611240001|25000|EUR",
        },
    )

    result = import_statement(engine, abn, BANKS, clock())

    assert (result.new, result.known) == (0, 2)
