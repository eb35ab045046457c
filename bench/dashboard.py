"""Benchmark: the dashboard on 1,000,000 events, 2,000 running clocks and 5,000 overdue invoices.

The database is bench/queries.py's cached one (built by `pmdesk ingest`),
copied (the cached file is never written) and topped up through the core:
staff replies stop the oldest running clocks and client messages on existing
threads open fresh ones, through the Ingestor, until exactly 2,000 run; 5,000
overdue invoices (and 5,000 settled or not yet due) are inserted. The
topped-up copy is cached under bench/out/ too.

Every measurement runs the app in a fresh process in a pseudo-terminal, with
the real terminal driver writing real frames, wired as `pmdesk` wires it, on
a clock that starts at a fixed instant (09:00 UTC on the weekday the data
ends: office hours in Paris) and runs at real speed:

- start-up: from just before the process is spawned (interpreter start-up
  and imports included) to the first frame written once all four panels hold
  their first data (MainScreen.loaded) and both tables have sized their rows;
- key presses: each key is handed to the app as the terminal driver hands it
  over, and timed until the first frame showing its effect is written;
- the one-second tick: the process's CPU time (every thread) over a window
  of ticks, and over a window with the tick paused (the idle baseline);
- memory: the process's peak resident set, at the first full paint and at
  the end of the session.

The same run repeats all of it with a naive screen whose tick re-reads the
feed, the running clocks and the overdue invoices and refills the panels
every second, and reports our figures as ratios to it.

    .venv/bin/python bench/dashboard.py [--runs 5] [--tick-seconds 30]
"""

from __future__ import annotations

import time

# The child's first reading: what the interpreter took to get here is start-up.
_SCRIPT_STARTED = time.monotonic()
_PROFILE: dict[str, object] = {}
if "--profile-to" in __import__("sys").argv:  # a profiling child: from its very first import
    import cProfile

    _PROFILE["start-up"] = cProfile.Profile()
    _PROFILE["start-up"].enable()  # type: ignore[attr-defined]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import percentile  # noqa: E402

if TYPE_CHECKING:
    from tui.screens.main import MainScreen

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUNNING = 2_000
OVERDUE = 5_000
SETTLED = 5_000  # invoices paid, written off or not yet due: the query must skip them
FRESH = 500  # client messages written in the hour before `now`, each opening a clock
VARIANTS = ("ours", "naive")
PRESS_TIMEOUT = 15.0  # seconds; a press not shown by then is counted apart
TARGET_START_S = 0.6
TARGET_KEY_P95_MS = 30.0
TARGET_TICK_CPU_MS = 100.0
TARGET_RSS_MB = 250.0
CHARS = {"enter": "\r", "escape": "\x1b", "1": "1", "2": "2"}
# The naive screen answers keys so slowly that it gets this share of our key presses.
NAIVE_SHARE = 0.25


# -- the parent: database, processes, figures ------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="start-up runs per variant")
    parser.add_argument("--tick-seconds", type=float, default=30.0)
    parser.add_argument("--idle-seconds", type=float, default=15.0)
    parser.add_argument("--size", default="200x50", help="terminal columns x rows")
    parser.add_argument(
        "--only",
        choices=VARIANTS,
        help="measure one variant (no ratios): quicker while working on one",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="instead of measuring: one session of ours under cProfile, stats written to DIR",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="leave the project's modules uncompiled: each start compiles them first",
    )
    parser.add_argument(
        "--load",
        action="store_true",
        help="measure while another process keeps one core busy (a busy loop)",
    )
    parser.add_argument(
        "--peer",
        metavar="CHECKOUT",
        help="another checkout of pmdesk (with its own .venv) measured the same way, start-ups"
        " alternating with ours under the same load, then a session each: medians and ratios",
    )
    parser.add_argument(
        "--sessions",
        type=int,
        default=1,
        help="with --peer: sessions of key presses a side, alternating (ours, peer, peer, ours...)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="ours", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--share", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    for key in [key for key in os.environ if key.startswith("PMDESK_")]:
        del os.environ[key]
    sys.path.insert(0, str(HERE))
    from figures import machine

    print(f"machine: {machine()}")
    source = cached_database()
    now = benchmark_now(source)
    database = prepare(source, now)
    describe(database, now)
    first_reads(database, now)
    print(compile_project(ROOT, cold=args.cold))
    if args.peer:
        print("peer's " + compile_project(Path(args.peer).resolve(), cold=args.cold))
    columns, rows = (int(part) for part in args.size.split("x"))
    print(f"terminal: {columns}x{rows}; now: {now.isoformat()} (then running at real speed)")
    if args.profile:
        profile(args, database, now, columns, rows)
        return

    load = busy_loop() if args.load else None
    print(
        "load: another process busy-looping on one core during every measurement"
        if load
        else "load: none (no other process of this benchmark's)"
    )
    try:
        reference = [spawn_plain([sys.executable, "-c", "pass"]) for _ in range(args.runs)]
        print(f"python -c pass: median {statistics.median(reference):.3f} s")
        results: dict[str, dict[str, Any]] = {}
        if args.peer:
            paired(args, database, now, columns, rows)
            return
        for variant in [args.only] if args.only else VARIANTS:
            starts = []
            for _ in range(args.runs):
                found = run_child(args, "startup", variant, database, now, columns, rows)
                starts.append(found)
            session = run_child(args, "session", variant, database, now, columns, rows)
            results[variant] = summarise(variant, starts, session)
    finally:
        if load is not None:
            load.kill()
            load.wait()
    if len(results) == len(VARIANTS):
        compare(results)


def paired(args: argparse.Namespace, database: Path, now: Any, columns: int, rows: int) -> None:
    """Ours and the peer checkout's code, start-ups alternating, then a session each.

    Each start-up of one is followed by one of the other, so that the host's
    own load, which moves from minute to minute, weighs on both alike; a
    `python -c pass` is timed next to each pair.
    """
    peer = Path(args.peer).resolve()
    runner = (str(peer / ".venv" / "bin" / "python"), str(peer / "bench" / "dashboard.py"))
    starts: dict[str, list[dict[str, Any]]] = {"ours": [], "peer": []}
    plain = []
    for index in range(args.runs):
        order = ("ours", "peer") if index % 2 == 0 else ("peer", "ours")
        for who in order:
            found = run_child(
                args,
                "startup",
                "ours",
                database,
                now,
                columns,
                rows,
                runner if who == "peer" else None,
            )
            starts[who].append(found)
        plain.append(spawn_plain([sys.executable, "-c", "pass"]))
    print(f"python -c pass next to each pair: {', '.join(f'{value:.3f}' for value in plain)} s")
    # The sessions alternate too (ours, peer, then peer, ours...): a host whose
    # load moves from minute to minute weighs on both sides alike.
    sessions: dict[str, list[dict[str, Any]]] = {"ours": [], "peer": []}
    for index in range(max(1, args.sessions)):
        for who in ("ours", "peer") if index % 2 == 0 else ("peer", "ours"):
            sessions[who].append(
                run_child(
                    args,
                    "session",
                    "ours",
                    database,
                    now,
                    columns,
                    rows,
                    runner if who == "peer" else None,
                )
            )
    every: dict[str, list[dict[str, Any]]] = {"ours": [], "peer": []}
    for who in ("ours", "peer"):
        for number, session in enumerate(sessions[who], 1):
            print(f"\n({who}: {peer if who == 'peer' else ROOT}, session {number})", end="")
            found = summarise("ours" if who == "ours" else "peer", starts[who], session)
            every[who].append(found)
    results = {}
    for who in ("ours", "peer"):
        # Every session's presses together: the p95 over all of them.
        pooled = sorted(value for found in every[who] for value in found["presses"])
        results[who] = every[who][0] | {"p95": percentile(pooled, 95)}
    if len(every["ours"]) > 1:
        for who in ("ours", "peer"):
            each = ", ".join(f"{found['p95'] * 1000:.1f}" for found in every[who])
            print(f"\n{who}: key press p95 of each session: {each} ms", end="")
        print()
    ours, theirs = results["ours"], results["peer"]
    print("\n[ours against the peer, same load]")
    print(
        f"first full paint (median): {ours['start']:.3f} s against {theirs['start']:.3f} s, "
        f"ratio {ours['start'] / theirs['start']:.2f}"
    )
    cpu = [statistics.median(run["cpu"] for run in starts[who]) for who in ("ours", "peer")]
    print(
        f"CPU of a start-up run, start to exit (median): {cpu[0]:.3f} s against "
        f"{cpu[1]:.3f} s, ratio {cpu[0] / cpu[1]:.2f}"
    )
    print(
        f"key press p95 (every session's presses): {ours['p95'] * 1000:.1f} ms against "
        f"{theirs['p95'] * 1000:.1f} ms, ratio {ours['p95'] / theirs['p95']:.2f}"
    )
    work = [[found["session_cpu"] for found in every[who]] for who in ("ours", "peer")]
    if all(value is not None for side in work for value in side):
        mine, peers = (statistics.median(side) for side in work)
        print(
            f"CPU of a key-press session (median of {len(work[0])}): {mine:.3f} s against "
            f"{peers:.3f} s, ratio {mine / peers:.2f}"
        )


def busy_loop() -> Any:
    """A process that keeps one core busy until killed: the load of `--load`."""
    import subprocess

    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def cached_database() -> Path:
    """bench/queries.py's database: today's if built, else the newest cached one, else built now."""
    from datetime import UTC, datetime

    from queries import OUT, SPAN, build

    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    today = OUT / f"queries-1000000-20000-{end:%Y%m%d}.db"
    if today.exists():
        return today
    cached = sorted(OUT.glob("queries-1000000-20000-*.db"))
    if cached:
        return cached[-1]
    OUT.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")}
    env["PMDESK_DB"] = str(today)
    build(today, 1_000_000, 20_000, end - SPAN, env)
    return today


def benchmark_now(source: Path) -> Any:
    """09:00 UTC (10:00 in Paris) on the day the data ends, or the Monday after a weekend."""
    from datetime import UTC, datetime, timedelta

    day = datetime.strptime(source.stem.rsplit("-", 1)[1], "%Y%m%d").replace(tzinfo=UTC)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.replace(hour=9)


def compile_project(tree: Path, cold: bool) -> str:
    """The project's modules as an installed copy has them: compiled to bytecode.

    pip compiles what it installs, and Python writes the bytecode of the
    rest on the first run. Where PYTHONDONTWRITEBYTECODE is set, nothing is
    written, and each start would compile the project's modules again: a
    cost no installed copy pays, unless asked for with --cold.
    """
    import compileall
    import shutil

    folders = [tree / name for name in ("core", "tui", "bots", "pmdesk")]
    if cold:
        for cache in [path for folder in folders for path in folder.rglob("__pycache__")]:
            shutil.rmtree(cache)
        return "bytecode: none (--cold): every start compiles the project's modules"
    for folder in folders:
        compileall.compile_dir(folder, quiet=1)
    return "bytecode: the project's modules compiled, as installed"


def prepare(source: Path, now: Any) -> Path:
    """A topped-up copy of `source`: exactly RUNNING running clocks and OVERDUE overdue invoices."""
    import sqlite3

    target = source.with_name(f"dashboard-{source.stem}-{now:%Y%m%dT%H%M}.db")
    if target.exists():
        if counts(target, now) == (RUNNING, OVERDUE):
            return target
        remove(target)
    part = target.with_name(target.name + ".part")
    remove(part)
    started = time.perf_counter()
    try:
        origin = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        copy = sqlite3.connect(part)
        origin.backup(copy)
        origin.close()
        copy.close()
        top_up(part, now)
        with sqlite3.connect(part) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except BaseException:
        remove(part)
        raise
    remove(Path(f"{part}-wal"))
    remove(Path(f"{part}-shm"))
    os.replace(part, target)
    found = counts(target, now)
    if found != (RUNNING, OVERDUE):
        sys.exit(f"the topped-up database has {found} running clocks and overdue invoices")
    print(f"topped-up copy built in {time.perf_counter() - started:.0f} s")
    return target


def top_up(path: Path, now: Any) -> None:
    import random
    from datetime import timedelta

    from generate import STAFF

    from core.config.settings import Settings
    from core.conversations.ingest import OWN_SOURCE, Ingestor
    from core.store.db import insert_many, open_database, write
    from core.store.models.receivables import Invoice
    from core.store.models.system import table
    from core.store.reader import SqliteReader

    rng = random.Random(7)
    settings = Settings(db=str(path))
    engine = open_database(str(path))  # brings the schema up to date (invoices came later)
    ingestor = Ingestor.for_settings(engine, settings, clock=lambda: now)
    reader = SqliteReader(path)
    running = reader.rows("SELECT count(*) FROM clock WHERE outcome = 'running'")[0][0]
    fresh = max(FRESH, RUNNING - running)
    excess = running + fresh - RUNNING
    # Staff answer the oldest clocks, early that morning.
    stops = reader.rows(
        "SELECT c.id, r.source, r.external_id, t.title, cl.name FROM clock c"
        " JOIN thread t ON t.id = c.thread_id JOIN threadref r ON r.thread_id = t.id"
        " LEFT JOIN client cl ON cl.id = t.client_id"
        " WHERE c.outcome = 'running' AND r.source <> :own ORDER BY c.due_at, c.id LIMIT :n",
        {"n": excess, "own": OWN_SOURCE},
    )
    replies = []
    for clock_id, source, external, title, client in stops:
        name, email = rng.choice(STAFF)
        replies.append(
            {
                "id": f"dashboard-reply-{clock_id}",
                "source": source,
                "kind": "message",
                "occurred_at": (now - timedelta(minutes=90)).isoformat(),
                "client": client,
                "task": {"id": external, "title": title},
                "author": {"name": name, "email": email, "role": "staff"},
                "text": "Bonjour, c'est en ligne depuis ce matin.",
            }
        )
    # Clients write on existing threads (whose clocks are stopped) during the hour before now.
    quiet = reader.rows(
        "SELECT r.source, r.external_id, t.title, cl.name FROM thread t"
        " JOIN threadref r ON r.thread_id = t.id LEFT JOIN client cl ON cl.id = t.client_id"
        " WHERE r.source <> :own AND NOT EXISTS (SELECT 1 FROM clock c"
        " WHERE c.thread_id = t.id AND c.outcome = 'running') ORDER BY t.id",
        {"own": OWN_SOURCE},
    )
    messages = []
    for index, (source, external, title, client) in enumerate(rng.sample(quiet, fresh)):
        slug = (client or "client").lower().replace(" ", "")
        at = now - timedelta(hours=1) + timedelta(hours=1) * index / fresh
        messages.append(
            {
                "id": f"dashboard-message-{index}",
                "source": source,
                "kind": "message",
                "occurred_at": at.isoformat(),
                "client": client,
                "task": {"id": external, "title": title},
                "author": {
                    "name": f"Contact of {client}",
                    "email": f"pm@{slug}.example",
                    "role": "client",
                },
                "text": "Bonjour, le formulaire de contact ne part plus depuis ce matin. "
                * rng.randint(1, 3),
            }
        )
    for batch in (replies, messages):
        results = ingestor.ingest(batch)
        refused = [result for result in results if result.status != "created"]
        if refused:
            sys.exit(f"top-up refused: {refused[:3]}")
    clients = [row[0] for row in reader.rows("SELECT id FROM client ORDER BY id")]
    today = now.date()  # 10:00 in Paris: the same day there
    steps = ["reminder", "firm reminder", "call the client", "formal notice"]
    rows = []
    for index in range(OVERDUE + SETTLED):
        overdue = index < OVERDUE
        total = rng.randrange(20_000, 2_500_000)  # cents
        if overdue:
            due = today - timedelta(days=rng.randint(1, 150))
            paid = rng.randrange(0, total) if rng.random() < 0.2 else 0
            state = "disputed" if rng.random() < 0.05 else "open"
            level = min(3, (today - due).days // 30)
        else:
            due = today + timedelta(days=rng.randint(0, 60))
            paid, state, level = 0, "open", 0
            if rng.random() < 0.7:
                due = today - timedelta(days=rng.randint(1, 300))
                paid, state = total, "paid"
        promised = (
            due + timedelta(days=rng.randint(20, 60)) if overdue and rng.random() < 0.05 else None
        )
        rows.append(
            {
                "number": f"F-{now:%Y}-{index + 1:05d}",
                "client_id": rng.choice(clients),
                "issued_on": (due - timedelta(days=30)).isoformat(),
                "due_on": due.isoformat(),
                "currency": "EUR",
                "total_cents": total,
                "paid_cents": paid,
                "state": state,
                "dunning_level": level,
                "next_step": steps[level] if overdue else None,
                "promised_on": promised.isoformat() if promised else None,
                "created_at": now - timedelta(days=1),
                "updated_at": now - timedelta(days=1),
            }
        )
    with write(engine) as connection:
        insert_many(connection, table(Invoice), rows)
    reader.close()
    engine.dispose()


def counts(path: Path, now: Any) -> tuple[int, int]:
    """Running clocks and overdue invoices; (-1, -1) if the copy is not complete."""
    import sqlite3

    from core.receivables.aging import overdue_invoices
    from core.store.reader import HEAD_REVISION, SqliteReader

    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        revision = None
    finally:
        connection.close()
    if revision is None or revision[0] != HEAD_REVISION:
        return (-1, -1)
    reader = SqliteReader(path)
    try:
        running = reader.rows("SELECT count(*) FROM clock WHERE outcome = 'running'")[0][0]
        return running, len(overdue_invoices(reader, now.date()))
    finally:
        reader.close()


def remove(path: Path) -> None:
    for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        each.unlink(missing_ok=True)


def describe(database: Path, now: Any) -> None:
    import sqlite3

    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)

    def one(sql: str) -> int:
        return int(connection.execute(sql).fetchone()[0])

    running = one("SELECT count(*) FROM clock WHERE outcome = 'running'")
    print(
        f"database: {one('SELECT count(*) FROM event'):,} events, "
        f"{one('SELECT count(*) FROM clock'):,} clocks ({running:,} running), "
        f"{one('SELECT count(*) FROM thread'):,} threads, "
        f"{one('SELECT count(*) FROM invoice'):,} invoices ({OVERDUE:,} overdue), "
        f"{database.stat().st_size / 1e6:,.0f} MB"
    )
    connection.close()


def first_reads(database: Path, now: Any) -> None:
    """What the watcher reads before the first paint, each timed in this process (warm cache)."""
    from types import SimpleNamespace

    from core.config.settings import Settings
    from core.conversations.feed import latest_events, newest_event_id, unread_count
    from core.sla.views import running_clocks
    from core.store.lease import NAMES, services_seen
    from core.store.reader import SqliteReader
    from tui.sources.watch import overdue, sla_figures

    reader = SqliteReader(database)
    settings = Settings(db=str(database))
    backend = SimpleNamespace(settings=settings, first=settings, reader=lambda: reader)
    reads: dict[str, Callable[[], object]] = {
        "feed page": lambda: latest_events(reader),
        "newest id": lambda: newest_event_id(reader),
        "unread count": lambda: unread_count(reader),
        "running clocks": lambda: running_clocks(reader),
        "overdue invoices": lambda: overdue(backend, now),  # type: ignore[arg-type]
        "SLA today, week, hourly": lambda: sla_figures(backend, now),  # type: ignore[arg-type]
        "services": lambda: services_seen(reader, now, None, NAMES),
    }
    timings = []
    for label, read in reads.items():
        read()  # warm
        started = time.perf_counter()
        found = read()
        elapsed = time.perf_counter() - started
        size = f" ({len(found):,})" if isinstance(found, list) else ""
        timings.append(f"{label}{size} {elapsed * 1000:.0f} ms")
    reader.close()
    print("first reads, in-process, warm: " + ", ".join(timings))


def spawn_plain(argv: list[str]) -> float:
    import subprocess

    started = time.monotonic()
    subprocess.run(argv, check=True, cwd=ROOT)
    return time.monotonic() - started


def run_child(
    args: argparse.Namespace,
    mode: str,
    variant: str,
    database: Path,
    now: Any,
    columns: int,
    rows: int,
    runner: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Run the app in a fresh process on a pseudo-terminal; its figures come back as JSON.

    `runner`: the interpreter and script of another checkout (--peer), else ours.
    """
    import fcntl
    import pty
    import resource
    import select
    import struct
    import subprocess
    import tempfile
    import termios

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "figures.json"
        python, script = runner or (sys.executable, str(Path(__file__).resolve()))
        argv = [
            python,
            script,
            "--child",
            mode,
            "--variant",
            variant,
            "--db",
            str(database),
            "--now",
            now.isoformat(),
            "--out",
            str(out),
            "--tick-seconds",
            str(args.tick_seconds),
            "--idle-seconds",
            str(args.idle_seconds),
            "--share",
            str(NAIVE_SHARE if variant == "naive" else 1.0),
        ]
        if args.profile:
            argv += ["--profile-to", str(Path(args.profile).resolve())]
        env = {key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")}
        env |= {"TERM": "xterm-256color", "COLORTERM": "truecolor"}
        # The checkout's own modules first: a peer sharing this .venv (an editable
        # install of this checkout) would otherwise import this checkout's code.
        checkout = Path(script).resolve().parent.parent
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), env.get("PYTHONPATH")]))
        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        spawned = time.monotonic()
        process = subprocess.Popen(
            argv,
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=env,
            cwd=checkout,
            close_fds=True,
        )
        os.close(follower)
        tail = bytearray()
        deadline = spawned + 600
        try:
            while True:
                if time.monotonic() > deadline:
                    process.kill()
                    sys.exit(f"the {variant} {mode} run did not end in time")
                ready, _, _ = select.select([leader], [], [], 0.5)
                if ready:
                    try:
                        data = os.read(leader, 1 << 16)
                    except OSError:  # the child closed the terminal
                        break
                    if not data:
                        break
                    tail += data
                    del tail[:-8000]
                elif process.poll() is not None:
                    break
            process.wait(timeout=30)
        finally:
            os.close(leader)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the child is reaped: counted
        if process.returncode != 0 or not out.exists():
            shown = tail.decode(errors="replace")[-3000:]
            sys.exit(f"the {variant} {mode} run failed ({process.returncode}):\n{shown}")
        figures: dict[str, Any] = json.loads(out.read_text())
    if "error" in figures:
        sys.exit(f"the {variant} {mode} run failed:\n{figures['error']}")
    figures["spawned"] = spawned
    # The child's CPU, every thread, from its start to its exit (after the first paint for a
    # start-up run): the work done, which the host's other load moves less than the wall time.
    figures["cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return figures


def profile(args: argparse.Namespace, database: Path, now: Any, columns: int, rows: int) -> None:
    """One session of ours with cProfile on the UI thread: start-up, then each kind of press."""
    import io
    import pstats

    folder = Path(args.profile)
    folder.mkdir(parents=True, exist_ok=True)
    run_child(args, "session", "ours", database, now, columns, rows)
    for found in sorted(folder.glob("*.prof")):
        report = io.StringIO()
        stats = pstats.Stats(str(found), stream=report).strip_dirs().sort_stats("cumulative")
        stats.print_stats(40)
        print(f"\n== {found.stem} (UI thread; worker threads are not profiled)")
        print(report.getvalue().split("\n", 5)[-1].strip())


def summarise(
    variant: str, starts: list[dict[str, Any]], session: dict[str, Any]
) -> dict[str, Any]:
    def since_spawn(run: dict[str, Any], mark: str) -> float:
        return float(run[mark] - run["spawned"])

    paints = [since_spawn(run, "painted") for run in starts]
    phases = {
        "interpreter": [since_spawn(run, "script") for run in starts],
        "imports": [run["imported"] - run["script"] for run in starts],
        "until the screen is mounted": [run["mounted"] - run["imported"] for run in starts],
        "until the first data arrive": [run["changes"] - run["mounted"] for run in starts],
        "until the full frame is written": [run["painted"] - run["changes"] for run in starts],
    }
    print(f"\n[{variant}]")
    print(
        f"start to first full paint: median {statistics.median(paints):.3f} s, "
        f"max {max(paints):.3f} s over {len(paints)} runs "
        f"({', '.join(f'{value:.3f}' for value in paints)})"
    )
    print(
        f"  CPU of a start-up run (every thread, start to exit): median "
        f"{statistics.median(run['cpu'] for run in starts):.3f} s"
    )
    print(
        "  median phases: "
        + ", ".join(f"{name} {statistics.median(values):.3f} s" for name, values in phases.items())
    )
    presses: dict[str, list[float]] = session["presses"]
    every = sorted(value for values in presses.values() for value in values)
    lost: dict[str, int] = session["timeouts"]
    timeouts = sum(lost.values())
    print(
        f"key press to screen updated: p95 {percentile(every, 95) * 1000:.1f} ms, "
        f"median {percentile(every, 50) * 1000:.1f} ms, max {every[-1] * 1000:.1f} ms "
        f"over {len(every)} presses"
        + (f" ({timeouts} more never shown within {PRESS_TIMEOUT:g} s)" if timeouts else "")
    )
    if "cpu" in session:  # the work done, which the host's other load moves far less
        print(f"  CPU of the session (every thread, start to exit): {session['cpu']:.3f} s")
    for kind, values in presses.items():
        values = sorted(values)
        if not values:
            print(f"  {kind}: none shown within {PRESS_TIMEOUT:g} s ({lost.get(kind, 0)} presses)")
            continue
        print(
            f"  {kind}: {len(values)} presses, median {percentile(values, 50) * 1000:.1f} ms, "
            f"p95 {percentile(values, 95) * 1000:.1f} ms, max {values[-1] * 1000:.1f} ms"
            + (f", {lost[kind]} never shown" if lost.get(kind) else "")
        )
    tick, idle = session["ticking"], session["idle"]
    tick_cpu = tick["cpu"] / tick["wall"] * 1000
    idle_cpu = idle["cpu"] / idle["wall"] * 1000
    durations = sorted(tick["tick_seconds"])
    print(
        f"ticking: {tick_cpu:.1f} ms of CPU per second over {tick['wall']:.0f} s "
        f"({len(durations)} ticks, {tick['frames']} frames, {tick['crossed']} clocks crossed); "
        f"tick paused: {idle_cpu:.1f} ms/s over {idle['wall']:.0f} s; "
        f"the tick alone: {tick_cpu - idle_cpu:.1f} ms/s"
    )
    print(
        f"  the tick call itself (UI thread, before its frame): median "
        f"{percentile(durations, 50) * 1000:.2f} ms, max {durations[-1] * 1000:.2f} ms"
    )
    rss = session["max_rss_kb"] / 1024
    painted = statistics.median(run["rss_painted_kb"] for run in starts) / 1024
    print(
        f"max RSS: {rss:.0f} MB at the end of the session ({len(every)} presses, the tick "
        f"windows); {painted:.0f} MB at the first full paint"
    )
    return {
        "start": statistics.median(paints),
        "start_max": max(paints),
        "p95": percentile(every, 95),
        "tick_cpu": tick_cpu,
        "tick_alone": tick_cpu - idle_cpu,
        "rss": rss,
        "rss_painted": painted,
        "timeouts": timeouts,
        "presses": every,
        "session_cpu": session.get("cpu"),
    }


def compare(results: dict[str, dict[str, Any]]) -> None:
    ours, naive = results["ours"], results["naive"]
    rows = [  # label, key, unit, target, scale to the unit, format
        ("start to first full paint (median)", "start", "s", TARGET_START_S, 1, ".2f"),
        ("key press p95", "p95", "ms", TARGET_KEY_P95_MS / 1000, 1000, ",.0f"),
        ("tick: process CPU per second", "tick_cpu", "ms/s", TARGET_TICK_CPU_MS, 1, ".1f"),
        ("max RSS", "rss", "MB", TARGET_RSS_MB, 1, ".0f"),
    ]
    print("\n[ours against the naive rebuild-every-tick screen]")
    for label, key, unit, target, scale, shape in rows:
        verdict = "met" if ours[key] < target else "NOT MET"
        mine, theirs = ours[key] * scale, naive[key] * scale
        print(
            f"{label}: ours {mine:{shape}} {unit}, naive {theirs:{shape}} {unit}, "
            f"ours/naive {mine / theirs:.2f}; target < {target * scale:g} {unit}: {verdict}"
        )
    mine, theirs = ours["rss_painted"], naive["rss_painted"]
    print(
        f"max RSS at the first full paint: ours {mine:.0f} MB, naive {theirs:.0f} MB, "
        f"ours/naive {mine / theirs:.2f}"
    )
    print(
        f"the tick alone (minus the paused baseline): ours {ours['tick_alone']:.1f} ms/s, "
        f"naive {naive['tick_alone']:.1f} ms/s"
    )
    if ours["timeouts"] or naive["timeouts"]:
        print(
            f"presses never shown within {PRESS_TIMEOUT:g} s (left out of the percentiles): "
            f"ours {ours['timeouts']}, naive {naive['timeouts']}"
        )


# -- the child: the app in a pseudo-terminal, measuring itself --------------------


def child(args: argparse.Namespace) -> None:
    """Wire the app as `pmdesk` does (same imports, settings, backend), run it, write figures."""
    import pmdesk.dashboard
    import pmdesk.start  # what `pmdesk` imports before the dashboard
    from core.config.quick import quick_settings

    figures: dict[str, Any] = {"script": _SCRIPT_STARTED}
    if hasattr(pmdesk.start, "hold_collector"):  # as pmdesk.start (a peer's code may not)
        pmdesk.start.hold_collector()
    # As pmdesk.start: the few values of the first screenful, read without pydantic.
    os.environ["PMDESK_DB"] = args.db
    settings = quick_settings()
    assert settings is not None
    now = RunningClock(args.now)
    # As run_dashboard: the first read starts, then Textual and the screens load.
    backend = pmdesk.dashboard.start_backend(
        settings, now, validate=pmdesk.dashboard.validated_settings
    )
    import tui.app

    figures["imported"] = time.monotonic()
    screen_class = screens(args.variant, figures)
    # The app pushes tui.app.MainScreen: the instrumented (or naive) subclass in its place.
    tui.app.MainScreen = screen_class  # type: ignore[attr-defined]
    app = tui.app.Dashboard(settings, backend)
    probe = Probe(app, screen_class)

    async def drive(pilot: Any) -> None:
        try:
            await probe.until_painted()
            figures["painted"] = probe.first_paint
            figures["rss_painted_kb"] = peak_rss_kb()
            if _PROFILE:
                _PROFILE["start-up"].disable()  # type: ignore[attr-defined]
            if args.child == "session":
                await session(app, probe, args, figures)
        except BaseException:  # the figures file carries it to the parent
            import traceback

            figures["error"] = traceback.format_exc()
        finally:
            app.exit()

    app.run(auto_pilot=drive)
    figures["max_rss_kb"] = peak_rss_kb()
    Path(args.out).write_text(json.dumps(figures))
    for name, profiler in _PROFILE.items():
        profiler.dump_stats(Path(args.profile_to) / f"{name}.prof")  # type: ignore[attr-defined]


def peak_rss_kb() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class RunningClock:
    """A `Now` that starts at a fixed instant and then runs at real speed."""

    def __init__(self, start: str) -> None:
        from datetime import datetime, timedelta

        self.start = datetime.fromisoformat(start)
        self.origin = time.monotonic()
        self._delta = timedelta

    def __call__(self) -> Any:
        return self.start + self._delta(seconds=time.monotonic() - self.origin)


def screens(variant: str, figures: dict[str, Any]) -> type[MainScreen]:
    from core.conversations.feed import latest_events, unread_count
    from core.sla.views import running_clocks
    from tui.panels.clocks import ClocksPanel
    from tui.panels.feed import IncomingPanel
    from tui.panels.invoices import InvoicesPanel
    from tui.screens.main import MainScreen
    from tui.sources.watch import Changes, overdue

    class Instrumented(MainScreen):
        """MainScreen with clocks on its tick; Textual also calls MainScreen's own handlers."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.tick_seconds: list[float] = []
            self.crossed = 0

        def tick(self) -> None:
            started = time.perf_counter()
            self.rebuild()
            super().tick()
            self.tick_seconds.append(time.perf_counter() - started)

        def rebuild(self) -> None:
            pass

        def on_mount(self) -> None:  # runs before MainScreen.on_mount
            figures.setdefault("mounted", time.monotonic())

        def show_changes(self, changes: Changes) -> None:
            # The first data: from the watcher's message, or the prefetched read on mount.
            figures.setdefault("changes", time.monotonic())
            super().show_changes(changes)

        def on_clocks_panel_crossed(self, message: ClocksPanel.Crossed) -> None:
            self.crossed += 1

    class Naive(Instrumented):
        """Re-reads the feed, the running clocks and the overdue invoices on every tick."""

        def rebuild(self) -> None:
            reader = self.backend.reader()
            now = self.backend.clock()
            self.query_one(IncomingPanel).show(
                latest_events(reader, self.feed), unread_count(reader), self.feed
            )
            self.query_one(ClocksPanel).set_clocks(running_clocks(reader))
            self.query_one(InvoicesPanel).show(overdue(self.backend, now))

    return Naive if variant == "naive" else Instrumented


class Probe:
    """Watches every frame the app writes; a waiting check is tried on each one."""

    def __init__(self, app: Any, screen_class: type[MainScreen]) -> None:
        import asyncio

        self.app = app
        self.frames = 0
        self.first_paint: float | None = None
        self.shown: float = 0.0
        self.event = asyncio.Event()
        self.check: Any = None
        original = app._display

        def full(screen: Any) -> bool:
            return (
                isinstance(screen, screen_class)
                and screen.loaded
                # Tables by name: importing DataTable here would load it for a screen without.
                and not any(table._require_update_dimensions for table in screen.query("DataTable"))
            )

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None or app._batch_count:
                return
            self.frames += 1
            if self.check is not None and self.check(screen):
                self.shown = time.monotonic()
                self.check = None
                self.event.set()

        app._display = display
        self.check = full

    async def until_painted(self) -> None:
        await self.event.wait()
        self.first_paint = self.shown

    async def press(self, key: str, check: Any, timeout: float = PRESS_TIMEOUT) -> float | None:
        import asyncio

        from textual import events

        self.event.clear()
        self.check = check
        started = time.monotonic()
        event = events.Key(key, CHARS.get(key))
        event.set_sender(self.app)
        self.app._driver.send_message(event)
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            self.check = None
            return None
        return self.shown - started


async def session(
    app: Any, probe: Probe, args: argparse.Namespace, figures: dict[str, Any]
) -> None:
    """Key presses at a person's pace (100 in the feed, 100 in the clocks, 30 threads opened and
    left, times `--share`), then the tick windows."""
    import asyncio
    import random

    from tui.panels.clocks import ClocksPanel
    from tui.panels.feed import IncomingPanel
    from tui.widgets.conversation import Conversation

    rng = random.Random(11)
    main = app.screen
    incoming = main.query_one(IncomingPanel)
    table = incoming.table
    clocks = main.query_one(ClocksPanel)
    presses: dict[str, list[float]] = {}
    lost: dict[str, int] = {}
    moves, opens = round(100 * args.share), round(30 * args.share)
    await asyncio.sleep(1.0)

    async def press(kind: str | Callable[[], str], key: str, check: Any) -> None:
        await asyncio.sleep(rng.uniform(0.03, 0.15))  # a person's pace, at every phase of the tick
        if callable(kind):  # named by the state at the moment of the press
            kind = kind()
        profiler: Any = None
        if args.profile_to:
            import cProfile

            profiler = _PROFILE.setdefault(kind.replace(" ", "-"), cProfile.Profile())
            profiler.enable()
        took = await probe.press(key, check)
        if profiler is not None:
            profiler.disable()
        presses.setdefault(kind, [])
        if took is None:
            lost[kind] = lost.get(kind, 0) + 1
        else:
            presses[kind].append(took)

    def panels(screen: Any) -> bool:
        """The main screen in front with its panels (no thread shown in their place)."""
        return screen is main and main.thread_shown() is None

    def feed_at(row: int) -> Any:
        return lambda screen: panels(screen) and table.cursor_row == row

    def clock_at(index: int) -> Any:
        return lambda screen: panels(screen) and clocks.cursor == index

    for step in range(moves):  # down the feed, then a little back up
        key, delta = ("down", 1) if step < moves * 0.8 else ("up", -1)
        await press("move in the feed", key, feed_at(table.cursor_row + delta))
    await press("focus a panel", "2", lambda screen: panels(screen) and clocks.has_focus)
    for step in range(moves):  # down the clocks, a page at a time every fifth press
        if step % 5 == 4:
            target, key = min(clocks.cursor + clocks._page(), len(clocks.clocks) - 1), "pagedown"
        elif step < moves * 0.9:
            target, key = clocks.cursor + 1, "down"
        else:
            target, key = clocks.cursor - 1, "up"
        await press("move in the clocks", key, clock_at(target))
    await press("focus a panel", "1", lambda screen: panels(screen) and table.has_focus)

    def thread_shown(thread_id: int) -> Any:
        """The thread in the main screen, its conversation laid out and scrolled to the newest
        event."""

        def check(screen: Any) -> bool:
            view = main.thread_shown() if screen is main else None
            if view is None or view.thread_id != thread_id:
                return False
            if view.detail is None or view.detail.id != thread_id:
                return False
            # Wrapped for its width, and scrolled to the newest event.
            conversation = view.query_one(Conversation)
            return bool(
                conversation.virtual_size.height > 0
                and conversation.scroll_offset.y >= conversation.max_scroll_y
            )

        return check

    for _ in range(opens):
        await press("move in the feed", "down", feed_at(table.cursor_row + 1))
        selected = incoming.selected
        assert selected is not None

        def opening(thread_id: int = selected.thread_id) -> str:
            # Read ahead while the cursor rested on the row (tui/sources/pages.py), or read after
            # Enter.
            ready = app.pages.get(thread_id) is not None
            return f"open a thread ({'read ahead' if ready else 'read on Enter'})"

        await press(opening, "enter", thread_shown(selected.thread_id))
        if main.thread_shown() is None:
            await asyncio.sleep(PRESS_TIMEOUT)  # a lost open: let the screen catch up
        await press("go back", "escape", panels)
    figures["presses"] = presses
    figures["timeouts"] = lost
    if args.profile_to:
        return

    # The tick: process CPU (all threads) with the tick paused, then ticking.
    [timer] = [timer for timer in main._timers if timer._callback == main.tick]
    await asyncio.sleep(2.0)
    timer.pause()
    await asyncio.sleep(1.0)
    figures["idle"] = await window(probe, main, args.idle_seconds)
    timer.resume()
    await asyncio.sleep(1.5)
    figures["ticking"] = await window(probe, main, args.tick_seconds)


async def window(probe: Probe, main: Any, seconds: float) -> dict[str, Any]:
    import asyncio

    main.tick_seconds.clear()
    crossed, frames = main.crossed, probe.frames
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    return {
        "cpu": time.process_time() - cpu,
        "wall": time.monotonic() - wall,
        "frames": probe.frames - frames,
        "crossed": main.crossed - crossed,
        "tick_seconds": list(main.tick_seconds),
    }


if __name__ == "__main__":
    main()
