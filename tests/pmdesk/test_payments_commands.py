"""`pmdesk payments`: import, matches, accept, reject, undo, as a user runs them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from core.base.instants import utc_now
from core.store.db import insert_many, open_database, write
from core.store.models.receivables import Invoice
from core.store.models.system import table
from core.store.models.threads import Client
from pmdesk.cli import app

DATA = Path(__file__).parent.parent / "data" / "statements"
runner = CliRunner()


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def seed(env: dict[str, str]) -> None:
    engine = open_database(env["PMDESK_DB"])
    now = utc_now()
    with write(engine) as connection:
        insert_many(
            connection, table(Client), [{"name": "Dupont Consulting SARL", "created_at": now}]
        )
        rows = [
            {"number": number, "client_id": 1, "issued_on": date(2026, 10, 1),
             "due_on": date(2026, 11, 1), "currency": "EUR", "total_cents": cents,
             "paid_cents": 0, "state": "open", "created_at": now, "updated_at": now}
            for number, cents in (("INV-2026-00042", 120000), ("INV-2026-00077", 25000))
        ]  # fmt: skip
        insert_many(connection, table(Invoice), rows)
    engine.dispose()


def test_import_match_review_accept_undo(env: dict[str, str]) -> None:
    seed(env)

    code, stdout, stderr = run(env, "payments", "import", str(DATA / "camt053.xml"), "--json")
    again = run(env, "payments", "import", str(DATA / "camt053.xml"))
    matches = json.loads(run(env, "payments", "matches", "--json")[1])
    review = run(env, "payments", "matches", "--review")[1]

    assert code == 0, stderr
    assert json.loads(stdout) == {
        "file": "camt053.xml", "format": "camt053", "new": 3, "known": 0,
        "auto_matched": 1, "to_review": 1, "unmatched": 0, "notes": [],
        "debits_collected": 0, "debits_returned": [],
    }  # fmt: skip
    assert "0 new, 3 already known" in again[1]
    auto = next(view for view in matches if view["state"] == "matched")
    assert (auto["by"], auto["invoices"], auto["cents"]) == ("auto", ["INV-2026-00042"], [120000])
    assert "invoice number INV-2026-00042 in the text" in auto["reasons"]
    doubtful = next(view for view in matches if view["state"] == "review")
    assert doubtful["invoices"] == ["INV-2026-00077"] and "proposed" in review

    accepted = run(env, "payments", "accept", str(doubtful["line"]), "--by", "ana")
    undone = run(env, "payments", "undo", str(auto["line"]))
    missing = run(env, "payments", "accept", "99")
    broken = run(env, "payments", "import", str(DATA / "nothing.xml"))

    # Amounts in the agency's locale (en_GB here).
    assert accepted[0] == 0 and "250.00 paid to invoice #2" in accepted[1]
    assert undone[0] == 0 and "1,200.00 owed again" in undone[1]
    assert missing[0] != 0 and "no statement line #99" in missing[2]
    assert broken[0] != 0 and "nothing imported" in broken[2]
    engine = open_database(env["PMDESK_DB"])
    with engine.connect() as connection:
        paid = connection.execute(text("SELECT paid_cents FROM invoice ORDER BY id")).scalars()
        assert list(paid) == [0, 25000]


def test_credits_with_no_candidate_are_in_the_review_queue(env: dict[str, str]) -> None:
    # No invoice at all: nothing can be a candidate for any credit.
    code, stdout, stderr = run(env, "payments", "import", str(DATA / "camt053.xml"), "--json")
    review = json.loads(run(env, "payments", "matches", "--review", "--json")[1])
    table = run(env, "payments", "matches", "--review")[1]

    assert code == 0, stderr
    unmatched = json.loads(stdout)["unmatched"]
    assert unmatched >= 1
    assert len(review) == unmatched
    assert {(view["state"], view["by"], tuple(view["invoices"])) for view in review} == {
        ("unmatched", "no candidate", ())
    }
    assert "no candidate" in table
    rejected = run(env, "payments", "reject", str(review[0]["line"]))
    assert rejected[0] == 0
    left = json.loads(run(env, "payments", "matches", "--review", "--json")[1])
    assert [view["line"] for view in left] == [view["line"] for view in review[1:]]


DIALECTS = DATA / "dialects"


def test_a_statement_with_nothing_booked_says_why_and_succeeds(env: dict[str, str]) -> None:
    balances = run(env, "payments", "import", str(DIALECTS / "ofx-balance-only.ofx"))
    info = run(env, "payments", "import", str(DIALECTS / "camt054-info-only.xml"), "--json")

    assert balances[0] == 0, balances[2]
    assert balances[1].splitlines()[1:] == [
        "ofx-balance-only.ofx: the statement gives balances only, no transactions"
    ]
    assert info[0] == 0, info[2]
    assert json.loads(info[1])["notes"] == [
        "2 entries information only (Sts INFO), not booked: left out"
    ]


def test_a_refused_statement_says_why_in_one_line_with_status_2(
    env: dict[str, str], tmp_path: Path
) -> None:
    garbled = tmp_path / "garbled.sta"
    garbled.write_text(":20:X\n:25:NL91ABNA0417164300\n:61:not a line\n:62F:C261124EUR0,00\n")

    refused = [
        run(env, "payments", "import", str(path))
        for path in (
            DIALECTS / "ofx-signon-error.ofx", DIALECTS / "ofx-investment.ofx", garbled
        )
    ]  # fmt: skip

    assert [code for code, _out, _err in refused] == [2, 2, 2]
    assert [stderr for _code, _out, stderr in refused] == [
        "pmdesk: ofx-signon-error.ofx: the bank refused the sign-on: Signon invalid: check "
        "your user id and password (code 15500); nothing imported\n",
        "pmdesk: ofx-investment.ofx: an investment statement: nothing to match; nothing imported\n",
        "pmdesk: garbled.sta: line 3: :61: is not a transaction line; nothing imported\n",
    ]


def test_a_statement_behind_a_bank_header_imports(env: dict[str, str]) -> None:
    code, stdout, stderr = run(env, "payments", "import", str(DIALECTS / "mt940-ing.sta"))

    assert code == 0, stderr
    assert stdout.startswith("mt940-ing.sta (mt940): 2 new, 0 already known;")
