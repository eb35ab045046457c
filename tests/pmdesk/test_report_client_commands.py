"""`pmdesk report client`: one client or every client with activity, in each format."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from core.conversations.ingest import Ingestor
from core.sla.policies import PolicyBook
from core.store.db import open_database
from tests.conftest import round_the_clock_settings
from tests.core.reports.test_render import BIGCO_TEXT
from tests.core.reports.week import NOW, build
from tests.pmdesk.test_staff_commands import run
from tests.support import MovableClock


@pytest.fixture
def week(env: dict[str, str]) -> dict[str, str]:
    config = Path(env["PMDESK_CONFIG"])
    config.write_text('agency = "Pixel & Co"\n' + config.read_text())
    engine = open_database(env["PMDESK_DB"])
    build(Ingestor(engine, PolicyBook(round_the_clock_settings()), clock=MovableClock(NOW)))
    engine.dispose()
    return env


def test_one_client_as_text(week: dict[str, str]) -> None:
    ran = run("report", "client", "Bigco", "--week", "2026-W48", env=week)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == BIGCO_TEXT.rstrip("\n") + "\n\nPixel & Co\n"
    # The same days given as --since/--until.
    same = run(
        "report", "client", "bigco", "--since", "2026-11-23", "--until", "2026-11-29", env=week
    )
    assert same.stdout == ran.stdout


def test_nothing_to_report_is_one_line_and_no_file(week: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "crumb.pdf"
    ran = run(
        "report", "client", "Crumb", "--week", "2026-W48", "--format", "pdf",
        "--output", str(target), env=week,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == (
        "Crumb — semaine 48, 23 novembre 2026 – 29 novembre 2026 : "
        "rien à signaler (aucune activité sur la période).\n"
    )
    assert not target.exists()


def test_json(week: dict[str, str]) -> None:
    ran = run("report", "client", "Acme", "--week", "2026-W48", "--json", env=week)
    data = json.loads(ran.stdout)
    assert data["done"] == [
        {
            "project": "Website",
            "title": "Homepage",
            "url": "https://tracker.example/T1",
            "by": ["Sam Staff"],
            "on": "2026-11-24",
        }
    ]
    assert data["responsiveness"] == {
        "answered": 2,
        "met": 1,
        "share_met": 0.5,
        "median_seconds": 1200.0,
    }
    assert [task["title"] for task in data["in_progress"]] == ["Contact form", "Logo files"]


def test_html_and_pdf_to_files(week: dict[str, str], tmp_path: Path) -> None:
    html = tmp_path / "acme.html"
    ran = run(
        "report", "client", "Acme", "--week", "2026-W48", "--format", "html",
        "--output", str(html), env=week,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"Acme: written to {html}\n"
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    pdf = tmp_path / "acme.pdf"
    run(
        "report", "client", "Acme", "--week", "2026-W48", "--format", "pdf",
        "--output", str(pdf), env=week,
    )  # fmt: skip
    document = PdfReader(io.BytesIO(pdf.read_bytes()))
    assert len(document.pages) == 1
    assert "Réalisé (1)" in document.pages[0].extract_text()


def test_every_client_with_activity_one_file_each(week: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    ran = run(
        "report", "client", "--all", "--week", "2026-W48", "--format", "pdf",
        "--output", str(folder), env=week,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"2 reports written to {folder}\n"
    assert sorted(path.name for path in folder.iterdir()) == [
        "Acme-2026-W48.pdf",
        "Bigco-2026-W48.pdf",
    ]
    listed = run("report", "client", "--all", "--week", "2026-W48", "--json", env=week)
    assert [report["client"] for report in json.loads(listed.stdout)] == ["Acme", "Bigco"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["Acne", "--week", "2026-W48"], "pmdesk: no client 'Acne' (did you mean Acme?)"),
        (
            ["Acme", "--week", "2099-W01"],
            "pmdesk: the period 2098-12-29 to 2099-01-04 is in the future (today is ",
        ),
        (["Acme", "--week", "2026-48"], "pmdesk: '2026-48' is not a week (write it like 2026-W48)"),
        (["Acme", "--week", "2026-W48", "--since", "2026-11-01"], "give --week or --since/--until"),
        (["Acme", "--since", "2026-11-29", "--until", "2026-11-23"], "ends (2026-11-23) before"),
        (["Acme", "--week", "2026-W48", "--format", "pdf"], "a PDF goes to a file: give --output"),
        (["Acme", "--format", "docx"], "unknown format 'docx' (one of text, html, pdf)"),
        (["--week", "2026-W48"], "name a client, or give --all"),
        (["Acme", "--all"], "name a client, or give --all"),
        (["--all", "--week", "2026-W48"], "--all writes one file per client: give --output"),
    ],
)
def test_refusals(week: dict[str, str], arguments: list[str], message: str) -> None:
    ran = run("report", "client", *arguments, env=week)
    assert ran.returncode == 2
    assert message in ran.stderr
    assert ran.stdout == ""


def test_in_french(week: dict[str, str], tmp_path: Path) -> None:
    french = week | {"PMDESK_LOCALE": "fr_FR"}
    ran = run(
        "report", "client", "--all", "--week", "2026-W48", "--output", str(tmp_path), env=french
    )
    assert ran.stdout == f"2 rapports écrits dans {tmp_path}\n"
    refused = run("report", "client", "Acme", "--format", "pdf", "--week", "2026-W48", env=french)
    assert refused.stderr == "pmdesk: un PDF s'écrit dans un fichier : donnez --output FICHIER\n"


def test_send_writes_the_email_draft_once_and_resend_again(
    week: dict[str, str], tmp_path: Path
) -> None:
    from core.conversations.people import add_staff

    folder = tmp_path / "outbox"
    config = Path(week["PMDESK_CONFIG"])
    config.write_text(config.read_text() + f'\n[reports]\nfolder = "{folder.as_posix()}"\n')
    engine = open_database(week["PMDESK_DB"])
    add_staff(engine, "Alice Assistant", "assistant", ["alice@agency.example"], NOW)
    engine.dispose()

    sent = run("report", "client", "Bigco", "--week", "2026-W48", "--send", env=week)
    assert sent.returncode == 0, sent.stderr
    assert "Bigco-2026-W48.eml" in sent.stdout
    twice = run("report", "client", "Bigco", "--week", "2026-W48", "--send", env=week)
    assert twice.returncode != 0
    assert "--resend" in twice.stderr
    again = run("report", "client", "Bigco", "--week", "2026-W48", "--resend", env=week)
    assert again.returncode == 0, again.stderr
    assert sorted(path.name for path in folder.iterdir()) == [
        "Bigco-2026-W48-2.eml",
        "Bigco-2026-W48.eml",
    ]
