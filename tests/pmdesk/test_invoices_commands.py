"""`pmdesk invoices` as an accountant runs it: a real process, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FRENCH = (
    "number;client;issued_on;due_on;currency;total\n"
    "F-2026-0001;Acme SARL;01/09/2026;01/10/2026;EUR;1 234,50\n"
    "F-2026-0002;Acme SARL;15/09/2026;15/10/2026;EUR;300,00\n"
    "F-2026-0003;Bigco;2026-10-01;2026-11-20;EUR;99\n"
    "F-2026-0004;Bigco;2026-11-01;2026-12-01;EUR;500\n"
)


def pmdesk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmdesk", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def office(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Reminders on French office days; Bigco reads English."""
    config = Path(env["PMDESK_CONFIG"])
    config.write_text(
        'agency = "Studio Nord"\n'
        + config.read_text()
        + '[clients.Bigco]\nlanguage = "en"\n'
        + '[receivables]\ncalendar = "office"\n'
        + "[receivables.profiles.default]\n"
        + "[receivables.profiles.tool]\n"
        + 'number = "No"\nclient = "Customer"\nissued_on = "Date"\ndue_on = "Due"\n'
        + 'total = "Amount"\ncurrency = ""\n'
    )
    return env


@pytest.fixture
def french_csv(tmp_path: Path) -> Path:
    path = tmp_path / "november.csv"
    path.write_text(FRENCH, encoding="utf-8")
    return path


def test_import_reports_each_line_and_a_reimport_changes_nothing(
    office: dict[str, str], french_csv: Path, tmp_path: Path
) -> None:
    first = pmdesk("invoices", "import", str(french_csv), env=office)
    second = pmdesk("invoices", "import", str(french_csv), "--json", env=office)

    assert first.returncode == 0, first.stderr
    assert "4 created, 0 updated, 0 unchanged, 0 rejected" in first.stdout
    assert "new clients: Acme SARL, Bigco" in first.stdout
    summary = json.loads(second.stdout)
    assert (summary["created"], summary["unchanged"]) == (0, 4)
    assert [line["line"] for line in summary["lines"]] == [2, 3, 4, 5]

    bad = tmp_path / "bad.csv"
    bad.write_text(FRENCH.replace("300,00", "trois cents") + "F-2026-0005;Acme SARL;x;y;EUR;1\n")
    result = pmdesk("invoices", "import", str(bad), env=office)

    assert result.returncode == 1
    assert "0 created, 0 updated, 3 unchanged, 2 rejected" in result.stdout
    assert "line 3: total 'trois cents' is not an amount" in result.stderr
    assert "line 6: issued_on 'x' is not a date" in result.stderr


def test_a_broken_file_is_refused_whole(office: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_bytes(FRENCH.encode() + b'F-9;"Acme;01/10/2026;31/10/2026;EUR;1\n')
    latin = tmp_path / "latin.csv"
    latin.write_bytes(FRENCH.replace("Acme SARL", "Société").encode("latin-1"))

    results = [pmdesk("invoices", "import", str(path), env=office) for path in (broken, latin)]

    assert [result.returncode for result in results] == [2, 2]
    assert f"pmdesk: {broken}: line 6: unexpected end of data" in results[0].stderr
    assert f"pmdesk: {latin}: line 2: not UTF-8" in results[1].stderr
    assert all("Traceback" not in result.stderr for result in results)
    overdue = pmdesk("invoices", "overdue", "--at", "2026-11-23", "--json", env=office)
    assert json.loads(overdue.stdout)["invoices"] == []


def test_the_overdue_list_with_buckets_levels_and_dso(
    office: dict[str, str], french_csv: Path
) -> None:
    pmdesk("invoices", "import", str(french_csv), env=office)
    pmdesk("invoices", "remind", "--run", "--at", "2026-11-23", env=office)

    result = pmdesk("invoices", "overdue", "--at", "2026-11-23", "--json", env=office)
    table = pmdesk("invoices", "overdue", "--at", "2026-11-23", env=office)

    data = json.loads(result.stdout)
    rows = [
        (row["number"], row["balance"], row["days_past_due"], row["bucket"], row["dunning_level"])
        for row in data["invoices"]
    ]
    assert rows == [
        ("F-2026-0001", "1234.50", 53, "31-60", 1),
        ("F-2026-0002", "300.00", 39, "31-60", 1),
        ("F-2026-0003", "99.00", 3, "1-30", 1),
    ]
    # D+15 is a Saturday: planned for the Monday, a business day of the office calendar.
    assert data["invoices"][2]["next_step"] == "firm reminder on 2026-12-07 (99.00 due)"
    assert data["totals"]["EUR"]["31-60"] == "1534.50"
    [dso] = data["dso"]
    # 2133.50 owed of 2133.50 sold over 90 days.
    assert (dso["receivables"], dso["credit_sales"], dso["value"]) == ("2133.50", "2133.50", "90.0")
    assert table.returncode == 0
    assert "3 overdue invoices on 2026-11-23" in table.stdout
    assert "DSO EUR over 90 days: 90.0 days" in table.stdout


def test_reminders_drafted_listed_sent_and_paused(office: dict[str, str], french_csv: Path) -> None:
    pmdesk("invoices", "import", str(french_csv), env=office)

    saturday = pmdesk("invoices", "remind", "--run", "--at", "2026-11-21", env=office)
    monday = pmdesk("invoices", "remind", "--run", "--at", "2026-11-23", env=office)
    again = pmdesk("invoices", "remind", "--run", "--at", "2026-11-23", "--json", env=office)
    listed = json.loads(pmdesk("invoices", "reminders", "--json", env=office).stdout)

    assert "2026-11-21 is not a business day" in saturday.stdout
    assert "2026-11-23: 2 reminder drafts, 3 invoice steps, 0 staff alerts" in monday.stdout
    assert json.loads(again.stdout)["reminders"] == []
    drafts = {draft["client"]: draft for draft in listed["reminders"]}
    assert [line["number"] for line in drafts["Acme SARL"]["invoices"]] == [
        "F-2026-0001",
        "F-2026-0002",
    ]
    assert drafts["Acme SARL"]["language"] == "fr" and "Studio Nord" in drafts["Acme SARL"]["text"]
    assert drafts["Bigco"]["language"] == "en" and "Total to pay" in drafts["Bigco"]["text"]

    sent = pmdesk("invoices", "sent", str(drafts["Bigco"]["id"]), env=office)
    twice = pmdesk("invoices", "sent", str(drafts["Bigco"]["id"]), env=office)
    missing = pmdesk("invoices", "sent", "999", env=office)
    assert sent.returncode == 0 and "sent" in sent.stdout
    assert twice.returncode == 2 and "is already sent" in twice.stderr
    assert missing.returncode == 2 and "no reminder #999" in missing.stderr
    text = pmdesk("invoices", "reminders", env=office).stdout
    assert "Acme SARL" in text and "Bigco" not in text

    promise = pmdesk(
        "invoices", "promise", "F-2026-0001", "2026-11-30", "--at", "2026-11-23", env=office
    )
    dispute = pmdesk("invoices", "dispute", "F-2026-0002", "--reason", "wrong rate", env=office)
    unknown = pmdesk("invoices", "dispute", "F-404", env=office)
    assert promise.returncode == 0 and dispute.returncode == 0
    assert unknown.returncode == 2 and "no invoice numbered 'F-404'" in unknown.stderr
    tuesday = pmdesk("invoices", "remind", "--run", "--at", "2026-11-24", "--json", env=office)
    # F-2026-0001 promised, F-2026-0002 disputed, F-2026-0003 waits for D+15.
    assert json.loads(tuesday.stdout)["steps"] == 0
    overdue = json.loads(
        pmdesk("invoices", "overdue", "--at", "2026-11-24", "--json", env=office).stdout
    )
    steps = {row["number"]: row["next_step"] for row in overdue["invoices"]}
    assert steps["F-2026-0001"].startswith("firm reminder on 2026-12-01")
    assert steps["F-2026-0002"] == "disputed: reminders paused"
    assert overdue["invoices"][0]["promised_on"] == "2026-11-30"


def test_a_profile_names_the_columns_of_a_tool(office: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "tool.csv"
    path.write_text('No,Customer,Date,Due,Amount\nT-1,Acme,2026-10-01,2026-10-31,"1,500.00"\n')

    plain = pmdesk("invoices", "import", str(path), env=office)
    named = pmdesk("invoices", "import", str(path), "--profile", "tool", env=office)
    unknown = pmdesk("invoices", "import", str(path), "--profile", "sage", env=office)

    assert plain.returncode == 2 and "line 1: missing columns 'number', 'client'" in plain.stderr
    assert named.returncode == 0 and "1 created" in named.stdout
    assert unknown.returncode == 2 and "no CSV profile named 'sage'" in unknown.stderr


@pytest.mark.parametrize(
    ("locale", "balance", "total", "receivables"),
    [
        ("fr_FR", "1\u202f234,50\xa0€", "1\u202f534,50\xa0€", "receivables 2\u202f133,50\xa0€"),
        ("en_US", "€1,234.50", "€1,534.50", "receivables €2,133.50"),
    ],
)
def test_the_overdue_amounts_are_written_the_agencys_way(
    office: dict[str, str], french_csv: Path, locale: str, balance: str, total: str,
    receivables: str,
) -> None:  # fmt: skip
    pmdesk("invoices", "import", str(french_csv), env=office)

    table = pmdesk(
        "invoices", "overdue", "--at", "2026-11-23", env={**office, "PMDESK_LOCALE": locale}
    )

    assert table.returncode == 0, table.stderr
    assert balance in table.stdout
    assert total in table.stdout
    assert receivables in table.stdout
