"""Benchmark: the dashboard's Projects screen on 500 projects and 20,000 tasks.

A SQLite database is filled with 100 clients, 500 projects and 20,000 task
threads (40 a project; a quarter closed, one in eight without an owner,
deadlines spread around today, half of them created by a template with a
phase), then the screen runs in Textual's headless pilot, as the tests
drive it:

- first paint: from pushing the screen to its projects table holding every
  project (the read runs in a worker; the table is filled from its message);
- key press: `down` in the projects table, from the key sent to the first
  frame showing the next project highlighted and its tasks below (frames
  watched as bench/dashboard.py watches them), 200 presses per run.

The garbage collector runs as in the dashboard: its thresholds
(tui.app.COLLECTOR_THRESHOLDS) and the objects alive before the screen
opens frozen.

Targets: first paint under 0.5 s, key press p95 under 50 ms. Medians over
`--runs` runs, each in a process of its own; `python -c pass` is timed
beside, the host being shared. With `--peer DIR`, a checkout of other code
(its own screen, this bench's database and clock) runs alternately with
ours, on the same database, and the ratios ours/peer are printed.

    .venv/bin/python bench/projects.py [--runs 5] [--presses 200] [--peer DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import machine, percentile

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CLIENTS, PROJECTS, TASKS = 100, 500, 20_000


def fill(path: Path) -> None:
    from sqlalchemy import text

    from core.store.db import open_database

    engine = open_database(str(path))
    stamp = "2026-11-01 09:00:00.000000"
    per = TASKS // PROJECTS
    today = NOW.date()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO staff (id, name, role, active, created_at) "
                "VALUES (1, 'Ana', 'specialist', 1, :at)"
            ),
            {"at": stamp},
        )
        connection.execute(
            text(
                "INSERT INTO client (id, name, language, created_at) VALUES (:id, :name, 'fr', :at)"
            ),
            [{"id": n + 1, "name": f"Client {n + 1:03d}", "at": stamp} for n in range(CLIENTS)],
        )
        connection.execute(
            text("INSERT INTO project (id, client_id, name) VALUES (:id, :client, :name)"),
            [
                {"id": p + 1, "client": p % CLIENTS + 1, "name": f"Project {p + 1:03d}"}
                for p in range(PROJECTS)
            ],
        )
        threads, refs, owners, made = [], [], [], []
        for t in range(TASKS):
            project = t // per + 1
            deadline = today + timedelta(days=(t % 60) - 20)
            threads.append(
                {
                    "id": t + 1,
                    "title": f"Task {t + 1}",
                    "project": project,
                    "client": (project - 1) % CLIENTS + 1,
                    "deadline": deadline.isoformat(),
                    "closed": int(t % 4 == 0),
                    "at": stamp,
                }
            )
            refs.append({"id": str(100_000 + t), "thread": t + 1})
            if t % 8:
                owners.append({"thread": t + 1, "at": stamp})
            if project % 2:
                made.append(
                    {
                        "project": str(project),
                        "path": f'["{t}"]',
                        "title": f"Task {t + 1}",
                        "phase": ("Brief", "Design", "Build", "Launch")[t % per * 4 // per],
                        "start": date(2026, 11, 2).isoformat(),
                        "end": deadline.isoformat(),
                        "task": str(100_000 + t),
                        "at": stamp,
                    }
                )
        connection.execute(
            text(
                "INSERT INTO thread (id, kind, channel, title, client_id, project_id, deadline, "
                "closed, created_at) VALUES (:id, 'task', 'worksection', :title, :client, "
                ":project, :deadline, :closed, :at)"
            ),
            threads,
        )
        connection.execute(
            text(
                "INSERT INTO threadref (source, external_id, thread_id) "
                "VALUES ('worksection', :id, :thread)"
            ),
            refs,
        )
        connection.execute(
            text(
                "INSERT INTO assignment (thread_id, staff_id, role, since) "
                "VALUES (:thread, 1, 'assignee', :at)"
            ),
            owners,
        )
        connection.execute(
            text(
                "INSERT INTO templatetask (project_id, template, path, title, phase, role, "
                "date_start, date_end, state, task_id, updated_at) VALUES (:project, "
                "'website-launch', :path, :title, :phase, 'pm', :start, :end, 'created', "
                ":task, :at)"
            ),
            made,
        )
    engine.dispose()


class Frames:
    """Watches every frame the app writes (as bench/dashboard.py does): a waiting check is
    tried on each, and the time of the first frame that passes it is kept."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.event = asyncio.Event()
        self.check: Callable[[], bool] | None = None
        self.shown = 0.0
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None or app._batch_count:
                return
            if self.check is not None and self.check():
                self.shown = time.perf_counter()
                self.check = None
                self.event.set()

        app._display = display

    async def until(self, check: Callable[[], bool], timeout: float = 10.0) -> float:
        """Seconds from now to the first frame where `check` holds."""
        self.event.clear()
        started = time.perf_counter()
        self.check = check
        await asyncio.wait_for(self.event.wait(), timeout)
        return self.shown - started


async def one_run(database: str, presses: int) -> tuple[float, list[float]]:
    from textual import events
    from textual.app import App
    from textual.widgets import DataTable

    import tui
    from core.store.connect import reader_for
    from tui.app import COLLECTOR_THRESHOLDS
    from tui.screens.projects import ProjectsScreen

    class Bench(App[None]):
        CSS_PATH = Path(tui.__file__).parent / "pmdesk.tcss"

    app = Bench()
    async with app.run_test(size=(160, 50)) as pilot:
        # The collector as the dashboard sets it: its thresholds, and what lives
        # before the screen opens frozen (tui.app, on mount and on first data).
        gc.set_threshold(*COLLECTOR_THRESHOLDS)
        gc.freeze()
        frames = Frames(app)
        screen = ProjectsScreen(lambda: reader_for(database), lambda: NOW, ZoneInfo("Europe/Paris"))

        def table() -> Any:  # a DataTable or a list drawn by line: both count rows
            return screen.query_one("#projects-table")

        def painted() -> bool:
            return (
                screen.is_mounted
                and table().row_count == PROJECTS
                and not any(t._require_update_dimensions for t in screen.query(DataTable))
            )

        started = time.perf_counter()
        app.push_screen(screen)
        await frames.until(painted)
        paint = frames.shown - started
        await pilot.pause()
        keys: list[float] = []
        for _ in range(presses):
            await asyncio.sleep(0.05)  # a person's pace: the frame before is out
            target = table().cursor_row + 1

            def moved(target: int = target) -> bool:
                tasks = screen.query_one("#projects-tasks")
                return (
                    table().cursor_row == target
                    and screen.lines[target].project == screen.shown_project
                    and not getattr(tasks, "_require_update_dimensions", False)
                )

            event = events.Key("down", None)
            event.set_sender(app)
            waiting = asyncio.ensure_future(frames.until(moved))
            await asyncio.sleep(0)
            app._driver.send_message(event)  # type: ignore[union-attr]
            keys.append(await waiting)
    return paint, keys


def python_start() -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - began


def one(code: Path, database: str, presses: int) -> tuple[float, list[float]]:
    """A run in a process of its own, on the screen of the checkout `code`.

    The checkout's own modules first (PYTHONPATH, and it is the working
    directory): a peer sharing this .venv (an editable install of this
    checkout) would otherwise import this checkout's code. The child says
    which screen it imported; one from elsewhere stops the bench.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--one",
            database,
            "--code",
            str(code),
            "--presses",
            f"{presses}",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=code,
    )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    screen = Path(result["screen"]).resolve()
    if not screen.is_relative_to(code):
        raise SystemExit(f"the run for {code} imported its screen from {screen}")
    return result["paint"], result["keys"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--peer", type=Path, help="a checkout of other code, run alternately")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child: one run on this database
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        sys.path.insert(0, str(args.code.resolve()))
        paint, keys = asyncio.run(one_run(args.one, args.presses))
        import tui.screens.projects

        screen = tui.screens.projects.__file__
        print(json.dumps({"paint": paint, "keys": keys, "screen": screen}))
        return
    ours = Path(__file__).resolve().parent.parent
    codes = {"ours": ours} | ({"peer": args.peer.resolve()} if args.peer else {})
    print(machine())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "projects.db"
        began = time.perf_counter()
        fill(path)
        took = time.perf_counter() - began
        print(f"database: {PROJECTS} projects, {TASKS} tasks, filled in {took:.1f} s")
        figures: dict[str, dict[str, list[float]]] = {
            who: {"paint": [], "p95": [], "median": [], "start": []} for who in codes
        }
        for run in range(args.runs):
            order = list(codes) if run % 2 == 0 else list(reversed(codes))
            for who in order:
                start = python_start()
                paint, keys = one(codes[who], str(path), args.presses)
                kept = figures[who]
                kept["start"].append(start)
                kept["paint"].append(paint)
                kept["p95"].append(percentile(keys, 95))
                kept["median"].append(statistics.median(keys))
                print(
                    f"run {run + 1} {who}: first paint {paint * 1000:.0f} ms; key press median "
                    f"{kept['median'][-1] * 1000:.1f} ms, p95 {kept['p95'][-1] * 1000:.1f} ms; "
                    f"python -c pass {start * 1000:.0f} ms",
                    flush=True,
                )
    medians = {
        who: {name: statistics.median(values) for name, values in kept.items()}
        for who, kept in figures.items()
    }
    for who, got in medians.items():
        print(
            f"{who}, median of {args.runs} runs: first paint {got['paint'] * 1000:.0f} ms "
            f"(target 500), key press p95 {got['p95'] * 1000:.1f} ms (target 50), "
            f"median {got['median'] * 1000:.1f} ms; python -c pass {got['start'] * 1000:.0f} ms"
        )
    if "peer" in medians:
        ours_got, peer_got = medians["ours"], medians["peer"]
        print(
            "ours/peer: "
            + ", ".join(
                f"{name} {ours_got[name] / peer_got[name]:.2f}"
                for name in ("paint", "p95", "median")
            )
        )


if __name__ == "__main__":
    main()
