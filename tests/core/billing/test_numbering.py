"""Numbering: continuous without gaps per series and year, under failures and
concurrent issuers, with dates that never go back."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

import core.billing.issue
from core.billing.issue import issue
from core.billing.numbering import NumberingError, number_of, take_number
from core.config.settings import Settings
from core.store.db import open_database, write
from tests.core.billing.issuing_support import NOW, add_client, draft, numbers

ON = date(2026, 12, 1)


def test_a_number_is_the_series_the_year_and_five_digits() -> None:
    assert number_of("F", 2026, 1) == "F2026-00001"
    assert number_of("AV", 2027, 12345) == "AV2027-12345"


def test_numbers_follow_each_other_and_start_again_each_year(engine: Engine) -> None:
    with write(engine) as connection:
        taken = [take_number(connection, "F", ON).number for _ in range(3)]
        taken.append(take_number(connection, "F", date(2027, 1, 2)).number)
        taken.append(take_number(connection, "AV", date(2027, 1, 2)).number)
    assert taken == ["F2026-00001", "F2026-00002", "F2026-00003", "F2027-00001", "AV2027-00001"]


def test_an_issue_date_before_the_last_of_the_series_is_refused(engine: Engine) -> None:
    with write(engine) as connection:
        take_number(connection, "F", date(2027, 1, 2))
    with pytest.raises(NumberingError, match="2027-01-02"), write(engine) as connection:
        take_number(connection, "F", date(2026, 12, 31))
    with write(engine) as connection:  # another series has its own dates
        assert take_number(connection, "AV", date(2026, 12, 31)).number == "AV2026-00001"


def test_issuing_before_the_last_issued_date_is_refused_and_takes_no_number(
    engine: Engine, settings: Settings
) -> None:
    client = add_client(engine)
    assert issue(engine, settings, draft(1, client), on=ON, actor="ana").status == "issued"
    early = issue(engine, settings, draft(2, client), on=date(2026, 11, 30), actor="ana")
    assert early.status == "refused"
    assert early.reason is not None and "2026-12-01" in early.reason
    assert issue(engine, settings, draft(2, client), on=ON, actor="ana").number == "F2026-00002"


def test_a_failure_mid_issue_leaves_no_gap(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = add_client(engine)
    issue(engine, settings, draft(1, client), on=ON, actor="ana")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    # The number, the receivables row and the lines are written; the audit fails.
    monkeypatch.setattr(core.billing.issue, "write_audit", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        issue(engine, settings, draft(2, client), on=ON, actor="ana", clock=lambda: NOW)
    monkeypatch.undo()

    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM invoice")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM billingline")).scalar() == 1
    again = issue(engine, settings, draft(2, client), on=ON, actor="ana")
    assert again.number == "F2026-00002"
    assert numbers(engine) == ["F2026-00001", "F2026-00002"]


_ISSUER = textwrap.dedent(
    """
    import sys
    from datetime import date
    from core.billing.issue import issue
    from core.billing.model import Draft
    from core.config.settings import Settings
    from core.store.db import open_database
    from tests.core.billing.issuing_support import draft

    engine = open_database(sys.argv[1])
    settings = Settings()
    client, first, last = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    for contract in range(first, last):
        billed = draft(contract, client)
        outcome = issue(engine, settings, billed, on=date(2026, 12, 1), actor=sys.argv[5])
        print(contract, outcome.status, outcome.number)
    """
)


def test_two_processes_issuing_at_once_give_unique_gapless_numbers(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    engine = open_database(str(path))
    client = add_client(engine)
    # Each issues 30 contracts of its own and the same 20 shared ones.
    root = Path(__file__).resolve().parents[3]
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _ISSUER, str(path), str(client), str(first), str(last), who],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for first, last, who in ((1, 51, "one"), (31, 81, "two"))
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (_, errors) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, errors
    statuses = [line.split()[1] for out, _ in outputs for line in out.splitlines()]
    assert statuses.count("issued") == 80
    assert statuses.count("already") == 20  # "already billed"
    assert numbers(engine) == [f"F2026-{sequence:05d}" for sequence in range(1, 81)]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM invoice")).scalar() == 80
        keys = connection.execute(
            text("SELECT count(DISTINCT contract_id) FROM billingdocument")
        ).scalar()
    assert keys == 80
    engine.dispose()
