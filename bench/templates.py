"""Benchmark: `pmdesk templates apply` of a 40-task template at one request a second.

A fake Worksection account (tests/fakes/worksection.py) runs in this process
on loopback and refuses, as Worksection does, any request that comes less
than `--interval` seconds after the one before ("Too many requests"). The
real command runs in a child process, configured for that account with the
same interval, and applies a generated template of 10 tasks with 3
subtasks each (40 tasks, checklists on each task), showing its progress.

The target: within 1.1 times the 40 requests' minimum, 39 intervals (the
first request goes at once). Measured twice: the command's work in this
process (the project's look-up, then the 40 tasks: 41 requests), and the
whole command in a child process (its start-up too). Each run then applies
the template again, which must create nothing and send one request (the
project's look-up).

    .venv/bin/python bench/templates.py [--runs 3] [--interval 1.0] [--tasks 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import machine

ROOT = Path(__file__).resolve().parent.parent
PMDESK = ROOT / ".venv" / "bin" / "pmdesk"
PEOPLE = {"Ana": "ana@agency.example", "Max": "max@agency.example"}


def template_text(tasks: int, subtasks: int) -> str:
    """A template of `tasks` tasks with `subtasks` subtasks each, a checklist on every one."""
    parts = ['title = "Benchmark"', 'tag_sets = ["Phase"]']
    for number in range(tasks):
        start = number * 2
        parts += [
            "",
            "[[task]]",
            f'title = "{"Context and goal" if number == 0 else f"Task {number + 1}"}"',
            f'phase = "{"Brief" if number == 0 else "Development"}"',
            f'role = "{"pm" if number % 2 == 0 else "developer"}"',
            f"start = {start}",
            f"deadline = {start + 3}",
            'tags = ["Brief"]' if number == 0 else 'tags = ["Development"]',
            f'text = "What task {number + 1} delivers, and how the client sees it."',
            'checklist = ["First step", "Second step", "Check with the client"]',
        ]
        for sub in range(subtasks):
            parts += [
                "",
                "[[task.subtask]]",
                f'title = "Step {sub + 1}"',
                f"start = {start + sub}",
                f"deadline = {start + sub + 1}",
                'checklist = ["Done", "Reviewed"]',
            ]
    return "\n".join(parts) + "\n"


def configure(folder: Path, url: str, interval: float) -> dict[str, str]:
    from core.conversations.people import add_staff
    from core.store.db import open_database
    from tests.fakes.worksection import API_KEY

    (folder / "own").mkdir()
    config = folder / "pmdesk.toml"
    config.write_text(
        "\n".join(
            [
                '[templates]\nfolder = "' + str(folder / "own") + '"',
                '[templates.teams."Acme website"]\npm = "Ana"\ndeveloper = "Max"',
                f'[worksection]\nbase_url = "{url}"\napi_key = "{API_KEY}"',
                f"min_request_interval = {interval}",
            ]
        )
        + "\n"
    )
    database = folder / "pmdesk.db"
    engine = open_database(str(database))
    for name, email in PEOPLE.items():
        add_staff(engine, name, "specialist", [email], datetime.now(UTC))
    engine.dispose()
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")}
    return {
        **clean,
        "PMDESK_CONFIG": str(config),
        "PMDESK_DB": str(database),
        "PMDESK_LOCALE": "en_GB",
    }


def apply(env: dict[str, str], *, show: bool) -> tuple[float, subprocess.CompletedProcess[str]]:
    command = [
        str(PMDESK), "templates", "apply", "bench", "--project", "Acme website",
        "--start", "2026-12-21",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if show:
        lines = done.stderr.splitlines()
        for line in [*lines[:3], "...", *lines[-2:]] if len(lines) > 6 else lines:
            print(f"    {line}")
    if done.returncode != 0:
        raise SystemExit(f"pmdesk templates apply failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done


async def apply_in_process(folder: Path, url: str, interval: float) -> tuple[float, int]:
    """The command's work without its process start: the project's look-up and the run."""
    from datetime import date

    from bots.worksection.api import WorksectionClient
    from bots.worksection.templates import after_lookup, apply_template, find_project
    from core.config.settings import Settings, WorksectionConfig
    from core.store.db import open_database
    from core.tracker.teams import project_team
    from core.tracker.templates import load_template, vocabulary
    from core.tracker.templates_plan import business_days, plan
    from tests.fakes.worksection import API_KEY

    settings = Settings(templates={"teams": {"Acme website": {"pm": "Ana", "developer": "Max"}}})
    config = WorksectionConfig(base_url=url, api_key=API_KEY, min_request_interval=interval)
    engine = open_database(str(folder / "pmdesk.db"))
    template = load_template(folder / "own" / "bench.toml", vocabulary(settings.templates))
    team = project_team(engine, settings.templates.teams, ["acme website"])
    planned = plan(template, business_days(settings, date(2026, 12, 21)), team)
    client = WorksectionClient.from_config(config, engine, lambda: datetime.now(UTC))
    done: list[float] = []
    started = time.perf_counter()
    try:
        project = await find_project(client, "Acme website")
        report = await apply_template(
            client,
            engine,
            template,
            planned,
            project,
            date(2026, 12, 21),
            lambda: datetime.now(UTC),
            progress=lambda count, total, outcome: done.append(time.perf_counter()),
            not_before=after_lookup(config),
        )
    finally:
        await client.aclose()
        engine.dispose()
    elapsed = time.perf_counter() - started
    if not report.finished:
        raise SystemExit(f"the in-process run did not finish: {report.problems[:3]}")
    return elapsed, len(done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--subtasks", type=int, default=3)
    args = parser.parse_args()

    from tests.fakes.worksection import FakeWorksection

    size = args.tasks * (1 + args.subtasks)
    minimum = (size - 1) * args.interval
    print(machine())
    print(
        f"template: {args.tasks} tasks x (1 + {args.subtasks} subtasks) = {size} tasks; "
        f"one request every {args.interval:g} s: minimum {minimum:.1f} s for {size} requests"
    )
    totals, ratios, inner, inner_ratios = [], [], [], []
    for number in range(args.runs):
        # The run alone, in this process: the look-up, the 40 requests and their records.
        fake = FakeWorksection(now=lambda: datetime.now(UTC), min_interval=args.interval)
        fake.projects["77"] = {"name": "Acme website", "status": "active"}
        with tempfile.TemporaryDirectory() as folder, fake.running():
            configure(Path(folder), fake.url, args.interval)
            (Path(folder) / "own" / "bench.toml").write_text(
                template_text(args.tasks, args.subtasks)
            )
            seconds, count = asyncio.run(apply_in_process(Path(folder), fake.url, args.interval))
        too_soon = fake.refused.count("rate")
        inner.append(seconds)
        inner_ratios.append(seconds / minimum)
        print(
            f"run {number + 1}, look-up and apply in this process: {seconds:.2f} s for "
            f"{len(fake.tasks)} tasks, "
            f"{len(fake.calls)} requests ({too_soon} refused as too soon), "
            f"{seconds / minimum:.3f}x the minimum"
        )
        if len(fake.tasks) != size or count != size:
            raise SystemExit("wrong number of tasks created")
        # The whole command, as a person runs it.
        fake = FakeWorksection(now=lambda: datetime.now(UTC), min_interval=args.interval)
        fake.projects["77"] = {"name": "Acme website", "status": "active"}
        with tempfile.TemporaryDirectory() as folder, fake.running():
            env = configure(Path(folder), fake.url, args.interval)
            (Path(folder) / "own" / "bench.toml").write_text(
                template_text(args.tasks, args.subtasks)
            )
            print(f"run {number + 1}, the command; its progress (stderr, not a terminal):")
            elapsed, _done = apply(env, show=True)
            created = len(fake.tasks)
            requests = len(fake.calls)
            refused = fake.refused.count("rate")
            before = len(fake.calls)
            again, _second = apply(env, show=False)
            second_calls = fake.actions()[before:]
        ratio = elapsed / minimum
        totals.append(elapsed)
        ratios.append(ratio)
        print(
            f"run {number + 1}, the command: {elapsed:.2f} s for {created} tasks created "
            f"({requests} requests, {refused} refused as too soon); {ratio:.3f}x the minimum; "
            f"again: {again:.2f} s, {second_calls.count('post_task')} created, "
            f"requests {second_calls}"
        )
        if created != size or len(fake.tasks) != size or second_calls.count("post_task"):
            raise SystemExit("wrong number of tasks created")
    for label, values, shares in (
        ("look-up and apply in this process", inner, inner_ratios),
        ("the command", totals, ratios),
    ):
        print(
            f"{label}: median {statistics.median(values):.2f} s, "
            f"{statistics.median(shares):.3f}x the minimum of {minimum:.1f} s (target 1.1x: "
            f"{'met' if statistics.median(shares) <= 1.1 else 'NOT met'}); "
            f"worst {max(shares):.3f}x"
        )


if __name__ == "__main__":
    main()
