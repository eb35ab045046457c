"""Benchmark: 100 client progress reports rendered to PDF (`pmdesk report client --all`).

A database is built with `--clients` clients (100), each with a week of work
in 2026-W48 on two projects: 30 tasks (8 closed that week, 10 in progress,
12 not started, whose 10 nearest the report lists), 6 client messages
answered within 5 to 40 minutes, 3 questions of the agency left unanswered,
and history the week before. Half the clients write French, half English.

Then, `--runs` times, side by side:

- the work in this process, as `pmdesk report client --all` does it: the
  clients with activity, the SLA report once, each client's content, its
  PDF and its file; timed whole and by part (content, PDF), with the
  progress shown as the reports are written;
- the whole command in a child process (its start-up included);
- the weekly run (core.reports.drafts.run_weekly) on a copy of the
  database, every client opted in and sent at once as an email draft: each
  report's row, its text, HTML and PDF, and its .eml file;
- `python -c pass`, to show how loaded the shared host was.

The target: 100 reports under 30 s.

    .venv/bin/python bench/client_reports.py [--runs 3] [--clients 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import machine

ROOT = Path(__file__).resolve().parent.parent
PMDESK = ROOT / ".venv" / "bin" / "pmdesk"
WEEK = "2026-W48"
MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
TARGET_S = 30.0
STAFF = [
    {"name": name, "email": f"{name.split()[0].lower()}@agency.example", "role": "staff"}
    for name in ("Ana Dev", "Sam Staff", "Léa Graphiste", "Max Intégrateur")
]
TITLES = ["Page d'accueil", "Formulaire de contact", "Logo", "Mentions légales", "Blog"]


def client_events(number: int) -> list[dict[str, Any]]:
    """A client's week (and a little of the week before), as pmdesk events."""
    client = f"Client {number:03d}"
    contact = {"name": f"Contact {number}", "email": f"c{number}@client.example", "role": "client"}
    events: list[dict[str, Any]] = []

    def add(kind: str, minutes: float, task: int, author: dict[str, str], **fields: Any) -> None:
        project = f"Projet {task % 2 + 1}"
        events.append(
            {
                "id": f"{number}-{len(events)}",
                "source": "bench",
                "kind": kind,
                "occurred_at": (MONDAY + timedelta(minutes=minutes)).isoformat(),
                "client": client,
                "project": project,
                "task": {
                    "id": f"{number}-{task}",
                    "title": f"{TITLES[task % len(TITLES)]} n°{task}",
                    "url": f"https://tracker.example/{number}/{task}",
                },
                "author": author,
                "text": fields.pop("text", ""),
                **fields,
            }
        )

    for task in range(30):
        owner = STAFF[(number + task) % len(STAFF)]
        start = -3 * 24 * 60 + task * 7
        add("task_created", start, task, STAFF[1])
        add("assignee", start + 1, task, STAFF[1], assignee=owner)
        add("deadline", start + 2, task, STAFF[1], deadline=f"2026-12-{task % 20 + 1:02d}")
        if task < 18:  # started: the owner wrote on it during the week
            add("message", task * 170 + 30, task, owner, text="Avancement : en cours.")
        if task < 8:
            add("task_closed", task * 300 + 600, task, owner)
    for reply in range(6):  # six client messages, answered within 5 to 40 minutes
        at = reply * 24 * 60 + 60
        add("message", at, 20 + reply, contact, text="Où en est-on ?")
        add("message", at + 5 + reply * 7, 20 + reply, STAFF[1], text="C'est en cours, merci.")
    for question in range(3):  # the agency's last word asks the client something
        add("message", 2000 + question * 60, 26 + question, STAFF[0], text="Pouvez-vous valider ?")
    return events


def build(path: Path, clients: int) -> None:
    from core.config.settings import Settings
    from core.conversations.ingest import Ingestor
    from core.store.db import open_database

    settings = Settings(
        policies={"default": {"calendar": "24/7"}},
        clients={f"Client {n:03d}": {"language": "en"} for n in range(clients) if n % 2},
    )
    engine = open_database(str(path))
    ingestor = Ingestor.for_settings(engine, settings, clock=lambda: NOW)
    events = [event for number in range(clients) for event in client_events(number)]
    results = ingestor.ingest(events)
    refused = [result for result in results if result.status == "rejected"]
    assert not refused, refused[:3]
    engine.dispose()
    print(f"  {len(events):,} events of {clients} clients in {path.name}")


def in_process(database: Path, folder: Path) -> dict[str, float]:
    """What `pmdesk report client --all --format pdf` does, timed by part."""
    from zoneinfo import ZoneInfo

    from core.reports.content import client_report, clients_with_activity
    from core.reports.period import ReportPeriod
    from core.reports.render import render_pdf
    from core.sla.report import sla_report
    from core.store.connect import reader_for

    zone = ZoneInfo("Europe/Paris")
    started = time.perf_counter()
    reader = reader_for(str(database))
    period = ReportPeriod.week(WEEK)
    names = clients_with_activity(reader, period, zone)
    since, until = period.instants(zone)
    sla = sla_report(reader, since, until, NOW)
    content = pdf = 0.0
    for done, name in enumerate(names, 1):
        tick = time.perf_counter()
        report = client_report(reader, name, period, zone, NOW, sla=sla)
        tock = time.perf_counter()
        data = render_pdf(report, agency="Atelier Pixel")
        content += tock - tick
        pdf += time.perf_counter() - tock
        (folder / f"{done:03d}.pdf").write_bytes(data)
        print(f"\r    {done}/{len(names)} reports", end="", flush=True)
    print()
    return {
        "whole": time.perf_counter() - started,
        "content": content,
        "pdf": pdf,
        "reports": float(len(names)),
    }


def weekly(database: Path, folder: Path) -> float:
    """The weekly run of every client, sent as email drafts, on a copy of the database."""
    import shutil

    from core.config.settings import ReportsConfig, Settings
    from core.conversations.ingest import Ingestor
    from core.conversations.people import add_staff
    from core.reports.content import clients_with_activity
    from core.reports.drafts import run_weekly
    from core.reports.period import ReportPeriod
    from core.store.connect import reader_for
    from core.store.db import open_database

    copy = folder / "weekly.db"
    shutil.copyfile(database, copy)
    from zoneinfo import ZoneInfo

    names = clients_with_activity(reader_for(str(copy)), ReportPeriod.week(WEEK), ZoneInfo("UTC"))
    settings = Settings(
        agency="Atelier Pixel",
        policies={"default": {"calendar": "24/7"}},
        reports=ReportsConfig(
            folder=str(folder / "drafts"),
            weekly="mon 09:00",
            auto_send=True,
            clients={name: {} for name in names},
        ),
    )
    engine = open_database(str(copy))
    staff = add_staff(engine, "Ana Dev", "assistant", ["ana@agency.example"], NOW)
    ingestor = Ingestor.for_settings(engine, settings, clock=lambda: NOW)
    started = time.perf_counter()
    summary = run_weekly(engine, ingestor, settings, NOW, staff)
    elapsed = time.perf_counter() - started
    engine.dispose()
    assert summary is not None and summary.sent == len(names), summary
    return elapsed


def child(database: Path, folder: Path) -> float:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")}
    env |= {"PMDESK_DB": str(database), "PMDESK_TIMEZONE": "Europe/Paris"}
    started = time.perf_counter()
    subprocess.run(
        [str(PMDESK), "report", "client", "--all", "--week", WEEK, "--format", "pdf",
         "--output", str(folder)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    written = len(list(folder.glob("*.pdf")))
    assert written >= 1, "the command wrote nothing"
    return elapsed


def python_pass() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=100)
    options = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        database = folder / "reports.db"
        build(database, options.clients)
        rows: list[dict[str, float]] = []
        for run in range(options.runs):
            mine = folder / f"in-{run}"
            mine.mkdir()
            figures = in_process(database, mine)
            figures["command"] = child(database, folder / f"cmd-{run}")
            (folder / f"weekly-{run}").mkdir()
            figures["weekly"] = weekly(database, folder / f"weekly-{run}")
            figures["pass"] = python_pass()
            rows.append(figures)
            print(
                f"  run {run + 1}: {figures['reports']:.0f} reports in {figures['whole']:.2f} s "
                f"(content {figures['content']:.2f} s, PDF {figures['pdf']:.2f} s); "
                f"the whole command {figures['command']:.2f} s; "
                f"the weekly run, sent as email drafts {figures['weekly']:.2f} s; "
                f"python -c pass {figures['pass']:.3f} s"
            )
        sizes = sorted(path.stat().st_size for path in (folder / "in-0").iterdir())

    def median(key: str) -> float:
        return statistics.median(row[key] for row in rows)

    reports = median("reports")
    print(
        f"median of {len(rows)} runs: {reports:.0f} reports in {median('whole'):.2f} s "
        f"({median('whole') / reports * 1000:.0f} ms a report: content "
        f"{median('content') / reports * 1000:.1f} ms, PDF {median('pdf') / reports * 1000:.1f} ms)"
        f"; the whole command {median('command'):.2f} s "
        f"({median('command') / TARGET_S:.2f} of the {TARGET_S:.0f} s target: "
        f"{'met' if median('command') < TARGET_S else 'MISSED'}); "
        f"the weekly run with email drafts {median('weekly'):.2f} s "
        f"({median('weekly') / reports * 1000:.0f} ms a report); "
        f"python -c pass {median('pass'):.3f} s; "
        f"PDF sizes {sizes[0] / 1024:.1f} to {sizes[-1] / 1024:.1f} KiB"
    )


if __name__ == "__main__":
    main()
