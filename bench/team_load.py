"""Load test: a team on one PostgreSQL database, beside the same streams on SQLite.

On a throwaway PostgreSQL server (started as the storage tests start theirs,
tests/pg.py, but with durable commits: fsync and synchronous_commit on), for
`--seconds`:

- the services: `pmdesk serve` with its HTTP intake, which receives signed
  events from `--intake-connections` keep-alive connections, each posting a
  batch of `--intake-batch` events as soon as the previous one is answered;
- two `pmdesk ingest` processes writing streams: each imports a file of
  `--chunk` events after another, on the same threads as the intake's;
- five dashboards' readers, each a process running the dashboard's watcher
  (tui.sources.watch.read_changes: the feed's new events, the unread count,
  the running clocks, on every change; the overdue invoices and SLA figures
  at most every ten seconds, in a thread of their own) whenever a change is
  announced: on PostgreSQL woken by LISTEN (core.store.live), on SQLite by
  `PRAGMA data_version` asked four times a second, as the dashboard does
  (Backend.wait); `--previous-watcher` runs the watcher as it was before;
  the load starts once every reader has made its first read;
- a probe: one event a second ingested in this process, the instant of its
  COMMIT noted; a reader counts it seen when a read begun after that ends.

Then it checks: every event the intake acknowledged and every event an
import stored is there (no lost update); no notification twice (its unique
key, and no two for the same clock, recipient and kind); every reader saw
the last probe within a second of its commit. It prints the notification
latency (commit to a reader's read showing it) p50/p99/max, and the ingest
and intake rates.

The same streams then run on SQLite for `--sqlite-seconds` (the same by
default), with one import at a time (`--sqlite-writers`): SQLite has one
writer at a time, and a second import only queues behind the first.

Exit status 0 when every check holds, 1 otherwise. `--json FILE` writes the
figures. A smoke run: `--seconds 5 --sqlite-seconds 0`.

    .venv/bin/python bench/team_load.py [--seconds 300] [--sqlite-seconds N] [--readers 5]
        [--writers 2] [--sqlite-writers 1] [--chunk 2000] [--intake-connections 2]
        [--intake-batch 10] [--previous-watcher] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from figures import machine, percentile  # noqa: E402
from generate import events  # noqa: E402
from intake import SECRET  # noqa: E402

THREADS = 2_000
PROBE_SOURCE = "probe"
# The server's settings: durable commits (unlike the tests' server), room for every process.
SERVER_SETTINGS = (
    "max_connections=200",
    "shared_buffers=128MB",
    "timezone=UTC",
)
POLL_SECONDS = 0.25  # the dashboard asks SQLite's data_version four times a second
SLOW_SECONDS = 10.0  # the dashboard's invoices and SLA figures, at most this often
# The instant of the latest COMMIT of each engine noted (note_commits), by id(engine).
COMMITTED: dict[int, float] = {}


@dataclass
class Phase:
    """One engine's run and what it measured."""

    engine: str
    seconds: float
    writers: int
    ingested: int = 0
    ingest_seconds: float = 0.0
    ingest_failures: list[str] = field(default_factory=list)
    acked: int = 0
    intake_statuses: dict[int, int] = field(default_factory=dict)
    lost_ingested: int = 0
    lost_acked: int = 0
    notifications: int = 0
    duplicate_keys: int = 0
    duplicate_alerts: int = 0
    probes: int = 0
    latencies: list[float] = field(default_factory=list)
    last_seen: list[float | None] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)
    # Seconds each reader's reads took: those of a change alone, those with the slow figures.
    read_seconds: list[float] = field(default_factory=list)
    slow_seconds: list[float] = field(default_factory=list)
    # Seconds from posting an intake request to its answer.
    intake_seconds: list[float] = field(default_factory=list)
    events: int = 0

    @property
    def ingest_rate(self) -> float:
        return self.ingested / self.seconds if self.seconds else 0.0

    @property
    def intake_rate(self) -> float:
        return self.acked / self.seconds if self.seconds else 0.0

    def problems(self) -> list[str]:
        found = []
        if self.lost_ingested or self.lost_acked:
            found.append(
                f"{self.engine}: lost {self.lost_ingested} ingested, {self.lost_acked} acknowledged"
            )
        if self.duplicate_keys or self.duplicate_alerts:
            found.append(
                f"{self.engine}: notifications twice: {self.duplicate_keys} keys, "
                f"{self.duplicate_alerts} alerts"
            )
        late = [seen for seen in self.last_seen if seen is None or seen > 1.0]
        if late or not self.last_seen:
            found.append(f"{self.engine}: the last change reached {len(late)} readers late")
        found += [f"{self.engine}: {failure}" for failure in self.ingest_failures]
        return found


def main() -> None:
    import faulthandler

    faulthandler.dump_traceback_later(float(os.environ.get("TEAM_LOAD_WATCHDOG", "0")) or 1e9)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--sqlite-seconds", type=float, default=None)
    parser.add_argument("--readers", type=int, default=5)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--sqlite-writers", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=2_000)
    parser.add_argument("--intake-connections", type=int, default=2)
    parser.add_argument("--intake-batch", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--previous-watcher",
        action="store_true",
        help="readers as the dashboard's watcher was: a quarter-second sleep between looks"
        " on PostgreSQL too, the invoices and SLA figures read with a change",
    )
    parser.add_argument("--reader", help=argparse.SUPPRESS)  # a reader process: its database
    parser.add_argument("--stop", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reader:
        run_reader(args.reader, args.stop, args.out, args.previous_watcher)
        return
    print(machine(), flush=True)
    sqlite_seconds = args.seconds if args.sqlite_seconds is None else args.sqlite_seconds
    folder = Path(tempfile.mkdtemp(prefix="pmdesk-load-"))
    phases: list[Phase] = []
    try:
        server = start_postgres()
        try:
            url = server.url(server.new_database(migrated=True))
            phases.append(run_phase("postgresql", url, args, args.seconds, args.writers, folder))
        finally:
            server.stop()
        if sqlite_seconds > 0:
            database = str(folder / "sqlite" / "pmdesk.db")
            phases.append(
                run_phase("sqlite", database, args, sqlite_seconds, args.sqlite_writers, folder)
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report(phases)
    if args.json:
        args.json.write_text(json.dumps([figures(phase) for phase in phases], indent=2))
    problems = [problem for phase in phases for problem in phase.problems()]
    for problem in problems:
        print("FAILED:", problem)
    sys.exit(1 if problems else 0)


def start_postgres() -> Any:
    import tests.pg

    tests.pg.SETTINGS = SERVER_SETTINGS
    return tests.pg.start_server()


# -- one engine's run ----------------------------------------------------------------------


def run_phase(
    engine: str, db: str, args: argparse.Namespace, seconds: float, writers: int, folder: Path
) -> Phase:
    phase = Phase(engine, seconds, writers)
    work = folder / engine
    work.mkdir(parents=True, exist_ok=True)
    config = work / "pmdesk.toml"
    config.write_text('[policies.default]\ncalendar = "24/7"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMDESK_")}
    env.update(PMDESK_DB=db, PMDESK_CONFIG=str(config), PMDESK_WEBHOOK_SECRET=SECRET)
    os.environ.update(PMDESK_CONFIG=str(config))
    from core.config.settings import load_settings
    from core.store.db import open_database

    settings = load_settings(db=db)
    store = open_database(db)  # the schema at head before anything starts
    note_commits(store)
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "pmdesk", "serve", "--port", str(port)],
        env={**env, "PGAPPNAME": "serve"},
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    readers: list[tuple[subprocess.Popen[bytes], Path]] = []
    stop = work / "stop"
    try:
        wait_healthy(serve, port)
        for number in range(args.readers):
            out = work / f"reader-{number}.json"
            command = [sys.executable, __file__, "--reader", db, "--stop", str(stop)]
            command += ["--out", str(out)]
            if args.previous_watcher:
                command.append("--previous-watcher")
            process = subprocess.Popen(
                command,
                env={**env, "PGAPPNAME": f"reader-{number}"},
                cwd=ROOT,
            )
            readers.append((process, out))
        wait_ready([out for _, out in readers], [process for process, _ in readers])
        deadline = time.monotonic() + seconds
        ingested: list[list[str]] = [[] for _ in range(writers)]
        threads = [
            threading.Thread(
                target=ingest_writer,
                args=(name, env, deadline, work, args.chunk, ingested[name], phase),
            )
            for name in range(writers)
        ]
        acked: list[str] = []
        threads.append(
            threading.Thread(
                target=lambda: asyncio.run(
                    intake_client(
                        port, deadline, args.intake_connections, args.intake_batch, acked, phase
                    )
                )
            )
        )
        commits: dict[str, float] = {}
        threads.append(threading.Thread(target=probe, args=(store, settings, deadline, commits)))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        phase.seconds = time.monotonic() - started
        # The last change: one more probe once everything else has stopped.
        last = probe_once(store, settings, len(commits), commits)
        time.sleep(2.0)
        stop.touch()
        seen = []
        for process, out in readers:
            process.wait(timeout=30)
            seen.append(json.loads(out.read_text()))
        phase.probes = len(commits)
        for found in seen:
            phase.reads.append(found["reads"])
            phase.read_seconds += found["read_seconds"]
            phase.slow_seconds += found["slow_seconds"]
            for name, at in found["seen"].items():
                if name in commits:
                    phase.latencies.append(at - commits[name])
            at = found["seen"].get(last)
            phase.last_seen.append(None if at is None else at - commits[last])
        check(phase, store, [i for part in ingested for i in part], acked)
    finally:
        stop.touch()
        for process, _ in readers:
            if process.poll() is None:
                process.kill()
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=20)
        except subprocess.TimeoutExpired:
            serve.kill()
        store.dispose()
    return phase


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(process: subprocess.Popen[bytes], port: int) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit("pmdesk serve stopped at start")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("pmdesk serve did not answer within 60 s")
        time.sleep(0.2)


def stream(prefix: str, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` events of the last hour on THREADS threads, ids starting with `prefix`."""
    start = datetime.now(UTC) - timedelta(hours=1)
    made = list(events(count, THREADS, start, timedelta(hours=1), seed=seed))
    for event in made:
        event["id"] = f"{prefix}{event['id']}"
    return made


def ingest_writer(
    name: int,
    env: dict[str, str],
    deadline: float,
    work: Path,
    chunk: int,
    stored: list[str],
    phase: Phase,
) -> None:
    """`pmdesk ingest` of one file after another until `deadline`; the ids stored noted."""
    round_ = 0
    while time.monotonic() < deadline:
        made = stream(f"w{name}-{round_}-", chunk, seed=1000 * name + round_)
        path = work / f"stream-{name}.jsonl"
        path.write_text("".join(json.dumps(event) + "\n" for event in made))
        done = subprocess.run(
            [sys.executable, "-m", "pmdesk", "ingest", "--json", "--batch", "500", str(path)],
            env={**env, "PGAPPNAME": f"ingest-{name}"},
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode not in (0, 1):
            phase.ingest_failures.append(f"ingest exited {done.returncode}: {done.stderr.strip()}")
            return
        summary = json.loads(done.stdout)
        refused = {int(item["line"]) for item in summary.get("rejections", [])}
        if refused:
            # The ingest logs the traceback of an internal error: kept with the failure.
            phase.ingest_failures.append(
                f"ingest rejected {len(refused)}: {done.stdout[:300]}\n{done.stderr[-4000:]}"
            )
        # What the import stored must be there; what it rejected it said so, and is counted apart.
        stored.extend(str(event["id"]) for line, event in enumerate(made, 1) if line not in refused)
        phase.ingested += len(made)
        round_ += 1


async def intake_client(
    port: int, deadline: float, connections: int, batch: int, acked: list[str], phase: Phase
) -> None:
    """Signed batches posted to the intake until `deadline`; the acknowledged ids noted."""
    from intake import Pool, encode, post

    feed = intake_events()
    async with Pool("127.0.0.1", port, connections) as client:

        async def worker() -> None:
            while time.monotonic() < deadline:
                sent = [next(feed) for _ in range(batch)]
                body, kind = encode(sent)
                posted = time.monotonic()
                try:
                    status = await post(client, body, kind)
                except (OSError, asyncio.IncompleteReadError):
                    status = 0
                phase.intake_seconds.append(time.monotonic() - posted)
                phase.intake_statuses[status] = phase.intake_statuses.get(status, 0) + 1
                if status == 200:
                    acked.extend(str(event["id"]) for event in sent)
                    phase.acked += len(sent)

        await asyncio.gather(*(worker() for _ in range(connections)))


def intake_events() -> Any:
    round_ = 0
    while True:
        yield from stream(f"i-{round_}-", 20_000, seed=7_000 + round_)
        round_ += 1


def probe(store: Any, settings: Any, deadline: float, commits: dict[str, float]) -> None:
    """One event a second through the Ingestor, the instant of each commit noted."""
    while time.monotonic() < deadline - 1.0:
        probe_once(store, settings, len(commits), commits)
        time.sleep(1.0)


def probe_once(store: Any, settings: Any, number: int, commits: dict[str, float]) -> str:
    from core.conversations.ingest import Ingestor

    name = f"probe-{number}"
    event = stream("", 1, seed=number)[0]
    event.update(id=name, source=PROBE_SOURCE, occurred_at=datetime.now(UTC).isoformat())
    ingestor = Ingestor.for_settings(store, settings)
    results = ingestor.ingest([event])
    # When it committed, not when this busy process got round to noting it afterwards.
    commits[name] = COMMITTED[id(store)]
    if results[0].status != "created":
        raise RuntimeError(f"probe not stored: {results[0]}")
    return name


def note_commits(engine: Any) -> None:
    """COMMITTED[id(engine)]: the instant of the engine's latest COMMIT, as it is sent."""
    from sqlalchemy import event

    def committed(_connection: Any) -> None:
        COMMITTED[id(engine)] = time.time()

    event.listen(engine, "commit", committed)


def wait_ready(outs: list[Path], processes: list[subprocess.Popen[bytes]]) -> None:
    """Until every reader has made its first read (on a busy host, many seconds)."""
    deadline = time.monotonic() + 120
    while not all(ready_file(out).exists() for out in outs):
        if any(process.poll() is not None for process in processes):
            raise SystemExit("a reader stopped at start")
        if time.monotonic() > deadline:
            raise SystemExit("the readers did not start within 120 s")
        time.sleep(0.1)


def ready_file(out: Path) -> Path:
    return out.with_suffix(".ready")


def check(phase: Phase, store: Any, ingested: list[str], acked: list[str]) -> None:
    from sqlalchemy import text

    with store.connect() as connection:
        present = {
            row[0]
            for row in connection.execute(
                text("SELECT external_id FROM event WHERE source = 'bench'")
            )
        }
        phase.events = connection.execute(text("SELECT count(*) FROM event")).scalar_one()
        phase.notifications = connection.execute(
            text("SELECT count(*) FROM notification")
        ).scalar_one()
        phase.duplicate_keys = connection.execute(
            text(
                "SELECT count(*) FROM (SELECT dedupe_key FROM notification"
                " GROUP BY dedupe_key HAVING count(*) > 1) AS twice"
            )
        ).scalar_one()
        phase.duplicate_alerts = connection.execute(
            text(
                "SELECT count(*) FROM (SELECT recipient_id, kind, clock_id FROM notification"
                " WHERE clock_id IS NOT NULL"
                " AND kind IN ('clock_warning', 'clock_breach', 'clock_escalation')"
                " GROUP BY recipient_id, kind, clock_id"
                " HAVING count(*) > 1) AS twice"
            )
        ).scalar_one()
    phase.lost_ingested = sum(1 for name in set(ingested) if name not in present)
    phase.lost_acked = sum(1 for name in set(acked) if name not in present)


# -- a dashboard's reader (a process of its own) -------------------------------------------


def run_reader(db: str, stop: Path, out: Path, previous: bool = False) -> None:
    """The dashboard's watcher (tui.screens.main) until `stop` exists; when each probe showed.

    As the dashboard: woken by the listener on PostgreSQL, asking `data_version`
    four times a second on SQLite (Backend.wait); on a change, a read of what
    changed alone; the invoices and SLA figures at most every ten seconds after
    a change, read by a thread of their own. With `previous`, as the watcher
    was: a quarter-second sleep between two looks at the version on PostgreSQL
    too, and the invoices and SLA figures read with the change. A probe counts as seen once a
    read begun after it was committed has ended: when the dashboard shows it.
    """
    from core.config.settings import load_settings
    from core.conversations.feed import FeedCursor, FeedFilter
    from tui.sources.backend import Backend
    from tui.sources.watch import overdue, read_changes, sla_figures

    backend = Backend(load_settings(db=db))
    reader = backend.reader()
    seen: dict[str, float] = {}
    reads = 0
    took: dict[bool, list[float]] = {False: [], True: []}
    feed = FeedFilter()
    version = backend.version()
    _, cursor = read_changes(
        backend, feed, page=True, changed=True, cursor=FeedCursor(), slow=True, services=False
    )
    ready_file(out).touch()
    due = threading.Event()

    def read_figures() -> None:
        while not stop.exists():
            if not due.wait(POLL_SECONDS):
                continue
            due.clear()
            started = time.monotonic()
            now = backend.clock()
            overdue(backend, now)
            sla_figures(backend, now)
            took[True].append(time.monotonic() - started)

    figures = threading.Thread(target=read_figures, daemon=True)
    figures.start()
    slow_at = time.monotonic()
    while not stop.exists():
        if previous:
            time.sleep(POLL_SECONDS)
        else:
            backend.wait(version, POLL_SECONDS)
        current = backend.version()
        if current == version:
            continue
        version = current
        slow = time.monotonic() - slow_at >= SLOW_SECONDS
        if slow:
            slow_at = time.monotonic()
        committed = [
            str(name)
            for (name,) in reader.rows(
                "SELECT external_id FROM event WHERE source = :source", {"source": PROBE_SOURCE}
            )
        ]
        inline = slow and previous
        started = time.monotonic()
        _, cursor = read_changes(
            backend, feed, page=False, changed=True, cursor=cursor, slow=inline, services=False
        )
        took[inline].append(time.monotonic() - started)
        if slow and not inline:
            due.set()
        reads += 1
        now = time.time()
        for name in committed:
            seen.setdefault(name, now)
    figures.join(5.0)
    out.write_text(
        json.dumps(
            {"seen": seen, "reads": reads, "read_seconds": took[False], "slow_seconds": took[True]}
        )
    )
    listener = backend.listener()
    if listener is not None:
        listener.close()


# -- the report -----------------------------------------------------------------------------


def figures(phase: Phase) -> dict[str, Any]:
    latencies = sorted(phase.latencies)
    return {
        "engine": phase.engine,
        "seconds": round(phase.seconds, 1),
        "ingest_writers": phase.writers,
        "ingested": phase.ingested,
        "ingest_per_second": round(phase.ingest_rate, 1),
        "acknowledged": phase.acked,
        "intake_per_second": round(phase.intake_rate, 1),
        "intake_statuses": phase.intake_statuses,
        "intake_answer_p50_ms": milliseconds(phase.intake_seconds, 50),
        "intake_answer_p99_ms": milliseconds(phase.intake_seconds, 99),
        "intake_answer_max_ms": milliseconds(phase.intake_seconds, 100),
        "events": phase.events,
        "lost_ingested": phase.lost_ingested,
        "lost_acknowledged": phase.lost_acked,
        "notifications": phase.notifications,
        "duplicate_keys": phase.duplicate_keys,
        "duplicate_alerts": phase.duplicate_alerts,
        "probes": phase.probes,
        "latency_p50_ms": round(1000 * percentile(latencies, 50), 1) if latencies else None,
        "latency_p99_ms": round(1000 * percentile(latencies, 99), 1) if latencies else None,
        "latency_max_ms": round(1000 * max(latencies), 1) if latencies else None,
        "seen_after_a_second": sum(1 for latency in latencies if latency > 1.0),
        "last_change_ms": [None if s is None else round(1000 * s, 1) for s in phase.last_seen],
        "reads": phase.reads,
        "read_p50_ms": milliseconds(phase.read_seconds, 50),
        "read_p99_ms": milliseconds(phase.read_seconds, 99),
        "slow_read_p50_ms": milliseconds(phase.slow_seconds, 50),
        "slow_read_max_ms": milliseconds(phase.slow_seconds, 100),
        "problems": phase.problems(),
    }


def milliseconds(seconds: list[float], share: float) -> float | None:
    """The `share` percentile of `seconds`, in milliseconds; None without any."""
    return round(1000 * percentile(sorted(seconds), share), 1) if seconds else None


def report(phases: list[Phase]) -> None:
    rows = [figures(phase) for phase in phases]
    names = [
        ("seconds", "seconds"),
        ("ingest_writers", "pmdesk ingest processes"),
        ("ingest_per_second", "ingest, events/s"),
        ("intake_per_second", "intake, acknowledged events/s"),
        ("events", "events stored"),
        ("lost_ingested", "ingested events missing"),
        ("lost_acknowledged", "acknowledged events missing"),
        ("intake_statuses", "intake answers by status"),
        ("intake_answer_p50_ms", "intake answer, p50 ms"),
        ("intake_answer_p99_ms", "intake answer, p99 ms"),
        ("intake_answer_max_ms", "intake answer, max ms"),
        ("notifications", "notifications"),
        ("duplicate_keys", "notification keys twice"),
        ("duplicate_alerts", "alerts twice (clock, recipient, kind)"),
        ("probes", "changes timed"),
        ("latency_p50_ms", "change seen, p50 ms"),
        ("latency_p99_ms", "change seen, p99 ms"),
        ("latency_max_ms", "change seen, max ms"),
        ("seen_after_a_second", "changes seen after more than 1 s"),
        ("last_change_ms", "last change seen by each reader, ms"),
        ("reads", "reads by each reader"),
        ("read_p50_ms", "a change's read, p50 ms"),
        ("read_p99_ms", "a change's read, p99 ms"),
        ("slow_read_p50_ms", "read with SLA and invoices, p50 ms"),
        ("slow_read_max_ms", "read with SLA and invoices, max ms"),
    ]
    print(f"{'':40}" + "".join(f"{row['engine']:>24}" for row in rows))
    for key, label in names:
        print(f"{label:40}" + "".join(f"{row[key]!s:>24}" for row in rows))
    if len(rows) == 2:
        for key in ("ingest_per_second", "intake_per_second"):
            pg, lite = rows[0][key], rows[1][key]
            if lite:
                print(f"{key}: PostgreSQL / SQLite = {pg / lite:.2f}")
    medians = [row["latency_p50_ms"] for row in rows if row["latency_p50_ms"] is not None]
    if medians:
        print(f"median of the p50s: {statistics.median(medians)} ms")


if __name__ == "__main__":
    main()
