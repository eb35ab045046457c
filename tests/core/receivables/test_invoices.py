"""Importing invoices from real files, their references, states, aging and DSO."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from stdnum import iso11649

from core.config.settings import Settings
from core.receivables.aging import (
    aging_bucket,
    bucket_totals,
    days_sales_outstanding,
    overdue_invoices,
)
from core.receivables.invoices import (
    InvoiceFileError,
    UnknownProfile,
    creditor_reference,
    import_invoices,
    invoice_state,
)
from core.store.models.receivables import Invoice
from core.store.models.system import table
from core.store.models.threads import Client
from core.store.reader import EngineReader
from tests.support import MovableClock

FRENCH = (
    "number;client;issued_on;due_on;currency;total\n"
    "F-2026-0001;Acme SARL;01/10/2026;31/10/2026;EUR;1 234,50\n"
    'F-2026-0002;"Durand; Fils & Cie";15/10/2026;14/11/2026;EUR;"12\u00a0000,00"\n'
    "F-2026-0003;Acme SARL;2026-11-01;2026-12-01;eur;99,9\n"
)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def invoices(engine: Engine) -> dict[str, dict[str, object]]:
    query = select(table(Invoice), table(Client).c.name.label("client_name")).join(
        table(Client), table(Client).c.id == table(Invoice).c.client_id
    )
    with engine.connect() as connection:
        return {row.number: dict(row._mapping) for row in connection.execute(query)}


def count(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table(model))).scalar())


def test_a_french_export_with_semicolons_decimal_commas_and_french_dates(
    engine: Engine, settings: Settings, clock: MovableClock, tmp_path: Path
) -> None:
    summary = import_invoices(engine, settings, write(tmp_path, "f.csv", FRENCH), clock=clock)

    assert [result.status for result in summary.results] == ["created"] * 3
    stored = invoices(engine)
    assert stored["F-2026-0001"]["total_cents"] == 123450
    assert stored["F-2026-0001"]["issued_on"] == date(2026, 10, 1)
    assert stored["F-2026-0001"]["due_on"] == date(2026, 10, 31)
    assert stored["F-2026-0002"]["total_cents"] == 1_200_000
    assert stored["F-2026-0002"]["client_name"] == "Durand; Fils & Cie"
    assert stored["F-2026-0003"]["total_cents"] == 9990
    assert stored["F-2026-0003"]["currency"] == "EUR"
    assert summary.clients_created == ["Acme SARL", "Durand; Fils & Cie"]


def test_a_comma_export_with_decimal_points_and_a_tool_profile(
    engine: Engine, clock: MovableClock, tmp_path: Path
) -> None:
    settings = Settings(
        receivables={
            "profiles": {
                "default": {},
                "pennylane": {
                    "number": "Invoice #",
                    "client": "Customer",
                    "issued_on": "Date",
                    "due_on": "Due",
                    "currency": None,
                    "total": "Amount incl. VAT",
                    "default_currency": "GBP",
                    "date_formats": ["%m/%d/%Y"],
                },
            }
        }
    )
    path = write(
        tmp_path,
        "p.csv",
        "Invoice #,Customer,Date,Due,Amount incl. VAT\n"
        'INV-7,Bigco,11/02/2026,12/02/2026,"1,234.50"\n'
        "INV-8,Bigco,2026-11-03,2026-12-03,80\n",
    )

    summary = import_invoices(engine, settings, path, "pennylane", clock=clock)

    assert summary.count("created") == 2
    stored = invoices(engine)
    assert stored["INV-7"]["total_cents"] == 123450
    assert stored["INV-7"]["issued_on"] == date(2026, 11, 2)
    assert stored["INV-7"]["currency"] == "GBP"
    assert stored["INV-8"]["total_cents"] == 8000


def test_json_invoices_as_a_list_or_under_invoices(
    engine: Engine, settings: Settings, clock: MovableClock, tmp_path: Path
) -> None:
    items = [
        {
            "number": "J-1",
            "client": "Acme",
            "issued_on": "2026-10-01",
            "due_on": "2026-10-31",
            "currency": "EUR",
            "total": 1500.25,
        },
        {
            "number": "J-2",
            "client": "Acme",
            "issued_on": "01/10/2026",
            "due_on": "31/10/2026",
            "currency": "EUR",
            "total": "300.00",
        },
    ]
    first = write(tmp_path, "a.json", json.dumps(items, indent=2))
    second = write(tmp_path, "b.json", json.dumps({"invoices": items}))

    assert import_invoices(engine, settings, first, clock=clock).count("created") == 2
    assert import_invoices(engine, settings, second, clock=clock).count("unchanged") == 2
    assert invoices(engine)["J-1"]["total_cents"] == 150025


def test_bad_lines_are_rejected_with_their_line_and_reason_and_the_rest_is_kept(
    engine: Engine, settings: Settings, clock: MovableClock, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "bad.csv",
        "number;client;issued_on;due_on;currency;total\n"
        "F-1;Acme;01/10/2026;31/10/2026;EUR;100,00\n"
        "F-2;Acme;32/10/2026;31/10/2026;EUR;100,00\n"
        "F-3;;01/10/2026;31/10/2026;EUR;100,00\n"
        "F-4;Acme;01/10/2026;31/10/2026;EUR;cent euros\n"
        "F-5;Acme;01/10/2026;01/09/2026;EUR;100,00\n"
        "F-6;Acme;01/10/2026;31/10/2026;EURO;100,00\n"
        "F-7;Acme;01/10/2026;31/10/2026;EUR;-100,00\n"
        "F-1;Acme;01/10/2026;31/10/2026;EUR;200,00\n"
        "F-9;Acme;01/10/2026\n"
        "\n"
        "F-10;Acme;01/10/2026;31/10/2026;EUR;1,005\n"
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ;Acme;01/10/2026;31/10/2026;EUR;1,00\n",
    )

    summary = import_invoices(engine, settings, path, clock=clock)

    reasons = {result.line: result.reason for result in summary.rejections}
    assert reasons == {
        3: "issued_on '32/10/2026' is not a date (ISO or %d/%m/%Y, %d.%m.%Y)",
        4: "client is empty",
        5: "total 'cent euros' is not an amount",
        6: "due date 2026-09-01 is before the issue date 2026-10-01",
        7: "currency 'EURO' is not an ISO 4217 code such as EUR",
        8: "total '-100,00' is negative (a credit note is not an invoice)",
        9: "number F-1 already on line 2",
        10: "3 fields, the header has 6",
        12: "total '1,005' has more than two decimals",
        13: "invoice number 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' is too long for a creditor reference "
        "(26 letters and digits, at most 21)",
    }
    assert summary.count("created") == 1
    assert list(invoices(engine)) == ["F-1"]
    assert invoices(engine)["F-1"]["total_cents"] == 10000


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "latin1.csv",
            ("number;client;issued_on;due_on;currency;total\nF-1;Société Générale;" * 1)
            + "01/10/2026;31/10/2026;EUR;1,00\n",
            "latin1.csv: line 2: not UTF-8",
        ),
        (
            "quotes.csv",
            'number;client;issued_on;due_on;currency;total\nF-1;"Acme"x;01/10/2026;31/10/2026;EUR;1\n',
            "quotes.csv: line 2: ';' expected after '\"'",
        ),
        (
            "unclosed.csv",
            "number;client;issued_on;due_on;currency;total\nF-1;Acme;01/10/2026;31/10/2026;EUR;1\n"
            'F-2;"Acme;01/10/2026;31/10/2026;EUR;1\n',
            "unclosed.csv: line 3: unexpected end of data",
        ),
        (
            "columns.csv",
            "number;customer;issued_on;due_on;currency;total\nF-1;Acme;01/10/2026;31/10/2026;EUR;1\n",
            "columns.csv: line 1: missing column 'client'",
        ),
        ("broken.json", '[{"number": "F-1",\n "client": }]', "broken.json: line 2: malformed JSON"),
        ("empty.csv", "", "empty.csv: the file is empty"),
    ],
)
def test_a_malformed_file_is_refused_whole_naming_the_file_and_line(
    engine: Engine,
    settings: Settings,
    clock: MovableClock,
    tmp_path: Path,
    name: str,
    content: str,
    message: str,
) -> None:
    encoding = "latin-1" if name == "latin1.csv" else "utf-8"
    path = write(tmp_path, name, content, encoding)

    with pytest.raises(InvoiceFileError) as raised:
        import_invoices(engine, settings, path, clock=clock)

    assert str(raised.value).startswith(f"{tmp_path}/{message}")
    assert count(engine, Invoice) == 0
    assert count(engine, Client) == 0


def test_the_same_file_twice_changes_nothing_and_an_updated_one_updates_in_place(
    engine: Engine, settings: Settings, clock: MovableClock, tmp_path: Path
) -> None:
    path = write(tmp_path, "f.csv", FRENCH)
    import_invoices(engine, settings, path, clock=clock)
    before = invoices(engine)

    again = import_invoices(engine, settings, path, clock=clock)

    assert [result.status for result in again.results] == ["unchanged"] * 3
    assert invoices(engine) == before
    updated = write(
        tmp_path,
        "f2.csv",
        FRENCH.replace("1 234,50", "1 300,00").replace("2026-12-01", "2026-12-15")
        + "F-2026-0004;Acme SARL;2026-11-20;2026-12-20;EUR;10\n",
    )
    clock.advance(days=1)

    result = import_invoices(engine, settings, updated, clock=clock)

    assert {r.number: r.status for r in result.results} == {
        "F-2026-0001": "updated",
        "F-2026-0002": "unchanged",
        "F-2026-0003": "updated",
        "F-2026-0004": "created",
    }
    after = invoices(engine)
    assert count(engine, Invoice) == 4
    assert after["F-2026-0001"]["total_cents"] == 130000
    assert after["F-2026-0001"]["id"] == before["F-2026-0001"]["id"]
    assert after["F-2026-0003"]["due_on"] == date(2026, 12, 15)
    assert after["F-2026-0001"]["updated_at"] == clock()
    assert after["F-2026-0002"]["updated_at"] == before["F-2026-0002"]["updated_at"]


def test_unknown_clients_are_refused_when_configured_so(
    engine: Engine, clock: MovableClock, tmp_path: Path
) -> None:
    settings = Settings(receivables={"unknown_clients": "refuse"})
    import_invoices(
        engine,
        Settings(),
        write(
            tmp_path,
            "known.csv",
            "number,client,issued_on,due_on,currency,total\n"
            "K-1,Acme SARL,2026-10-01,2026-10-31,EUR,5\n",
        ),
        clock=clock,
    )

    summary = import_invoices(engine, settings, write(tmp_path, "f.csv", FRENCH), clock=clock)

    assert [(r.line, r.status, r.reason) for r in summary.results] == [
        (2, "created", None),
        (3, "rejected", "unknown client 'Durand; Fils & Cie'"),
        (4, "created", None),
    ]
    assert count(engine, Client) == 1


def test_an_unknown_profile_is_refused(
    engine: Engine, settings: Settings, clock: MovableClock, tmp_path: Path
) -> None:
    with pytest.raises(UnknownProfile, match="no CSV profile named 'sage'"):
        import_invoices(engine, settings, write(tmp_path, "f.csv", FRENCH), "sage", clock=clock)


def test_every_invoice_gets_a_valid_creditor_reference(
    engine: Engine, settings: Settings, clock: MovableClock, tmp_path: Path
) -> None:
    import_invoices(engine, settings, write(tmp_path, "f.csv", FRENCH), clock=clock)

    references = {number: row["creditor_reference"] for number, row in invoices(engine).items()}

    assert all(iso11649.is_valid(str(reference)) for reference in references.values())
    assert str(references["F-2026-0001"]).endswith("F20260001")
    assert len(set(references.values())) == 3
    assert creditor_reference("f-2026/0001") == references["F-2026-0001"]
    with pytest.raises(ValueError, match="no letter or digit"):
        creditor_reference("--/")


@pytest.mark.parametrize(
    ("stored", "paid", "due", "expected"),
    [
        ("open", 0, date(2026, 12, 1), "open"),
        ("open", 0, date(2026, 11, 23), "due today"),
        ("open", 0, date(2026, 11, 22), "overdue"),
        ("open", 40, date(2026, 12, 1), "partially paid"),
        ("open", 40, date(2026, 11, 1), "overdue"),
        ("open", 100, date(2026, 11, 1), "paid"),
        ("paid", 100, date(2026, 11, 1), "paid"),
        ("disputed", 0, date(2026, 11, 1), "disputed"),
        ("written_off", 0, date(2026, 11, 1), "written off"),
    ],
)
def test_the_state_follows_dates_and_balance(
    stored: str, paid: int, due: date, expected: str
) -> None:
    assert invoice_state(stored, 100, paid, due, date(2026, 11, 23)) == expected


def test_aging_buckets_and_their_totals(
    engine: Engine, settings: Settings, clock: MovableClock, tmp_path: Path
) -> None:
    lines = ["number,client,issued_on,due_on,currency,total"]
    for days, amount in ((0, 1), (1, 2), (30, 4), (31, 8), (60, 16), (61, 32), (90, 64), (91, 128)):
        due = date.fromordinal(date(2026, 11, 23).toordinal() - days)
        lines.append(f"A-{days},Acme,2026-01-01,{due.isoformat()},EUR,{amount}")
    import_invoices(
        engine, settings, write(tmp_path, "a.csv", "\n".join(lines) + "\n"), clock=clock
    )

    overdue = overdue_invoices(EngineReader(engine), date(2026, 11, 23))

    assert [(invoice.days_past_due, invoice.bucket) for invoice in overdue] == [
        (91, "90+"),
        (90, "61-90"),
        (61, "61-90"),
        (60, "31-60"),
        (31, "31-60"),
        (30, "1-30"),
        (1, "1-30"),
    ]
    assert bucket_totals(overdue)["EUR"] == {
        "current": Decimal(0),
        "1-30": Decimal(6),
        "31-60": Decimal(24),
        "61-90": Decimal(96),
        "90+": Decimal(128),
    }
    assert aging_bucket(0) == "current"


def test_dso_is_receivables_over_credit_sales_times_days(
    engine: Engine, settings: Settings, clock: MovableClock, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "d.csv",
        "number,client,issued_on,due_on,currency,total\n"
        "D-1,Acme,2026-09-01,2026-10-01,EUR,3000\n"
        "D-2,Acme,2026-10-15,2026-11-15,EUR,1000\n"
        "D-3,Acme,2026-11-01,2026-12-01,EUR,2000\n"
        "D-4,Acme,2026-06-01,2026-07-01,EUR,500\n",
    )
    import_invoices(engine, settings, path, clock=clock)
    with engine.begin() as connection:
        connection.execute(
            table(Invoice)
            .update()
            .where(table(Invoice).c.number == "D-1")
            .values(paid_cents=300000)
        )
        connection.execute(
            table(Invoice).update().where(table(Invoice).c.number == "D-2").values(paid_cents=40000)
        )

    [dso] = days_sales_outstanding(EngineReader(engine), date(2026, 9, 1), date(2026, 11, 29))

    # Receivables: 600 + 2000 + 500 (issued before the period, still owed); sales: 6000.
    assert dso.receivables == Decimal(3100)
    assert dso.credit_sales == Decimal(6000)
    assert dso.days == 90
    assert dso.value == Decimal("46.5")


def test_an_invoice_stored_without_a_reference_gets_one_on_reimport(
    engine: Engine, settings: Settings, clock: MovableClock, tmp_path: Path
) -> None:
    path = write(tmp_path, "f.csv", FRENCH)
    import_invoices(engine, settings, path, clock=clock)
    with engine.begin() as connection:
        connection.execute(table(Invoice).update().values(creditor_reference=None))

    again = import_invoices(engine, settings, path, clock=clock)

    assert [result.status for result in again.results] == ["unchanged"] * 3
    references = [row["creditor_reference"] for row in invoices(engine).values()]
    assert all(iso11649.is_valid(str(reference)) for reference in references)
