"""The `pmdesk` command as a user runs it: a real process, real files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from tests.hostile import HOSTILE, mixed_batches, valid_line
from tests.support import make_event


def pmdesk(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmdesk", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
    )


def jsonl(tmp_path: Path, lines: list[Any], name: str = "events.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def test_ingest_reports_each_rejected_line_and_keeps_the_good_ones(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = jsonl(
        tmp_path,
        [
            make_event("m1", 0),
            "{oops",
            make_event("m2", 1, kind="gossip"),
            "",
            " \t\r",  # blank lines are passed over, not rejected
            make_event("r1", 3, role="staff"),
        ],
    )

    result = pmdesk("ingest", str(path), env=env)

    assert result.returncode == 1
    assert "2 created, 0 duplicates, 2 rejected" in result.stdout
    assert "line 2: malformed JSON" in result.stderr
    assert "line 3: kind: unknown kind 'gossip'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "EVENTS"],
        ["staff", "add", "Ann Lee", "--role", "pm", "--email", "ann@example.com"],
        ["clocks"],  # a read command, which creates the database it finds missing
    ],
    ids=["ingest", "staff add", "clocks"],
)
def test_a_command_leaves_what_it_wrote_in_the_database_file_itself(
    tmp_path: Path, env: dict[str, str], args: list[str]
) -> None:
    """Not in its write-ahead log: a copy of pmdesk.db alone holds everything.

    SQLite folds the log back into the file when its last connection
    closes; a command that ended with its connections open left the whole
    database (its tables too) in `pmdesk.db-wal`.
    """
    events = jsonl(tmp_path, [make_event("m1", 0), make_event("m2", 1)])
    args = [str(events) if arg == "EVENTS" else arg for arg in args]

    assert pmdesk(*args, env=env).returncode == 0

    database = Path(env["PMDESK_DB"])
    log = database.with_name(database.name + "-wal")
    assert not log.exists() or log.stat().st_size == 0
    copy = tmp_path / "copy" / "pmdesk.db"
    copy.parent.mkdir()
    copy.write_bytes(database.read_bytes())
    connection = sqlite3.connect(copy)
    try:
        counts = [
            connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("event", "staff")
        ]
    finally:
        connection.close()
    assert counts == {"ingest": [2, 0], "staff": [0, 1], "clocks": [0, 0]}[args[0]]


def test_ingesting_the_same_file_twice_adds_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    path = jsonl(tmp_path, [make_event("m1", 0), make_event("m2", 1)])
    assert pmdesk("ingest", str(path), env=env).returncode == 0

    again = pmdesk("ingest", "--json", str(path), env=env)

    assert again.returncode == 0
    assert json.loads(again.stdout) == {
        "created": 0,
        "duplicate": 2,
        "rejected": 0,
        "rejections": [],
    }


def test_ingest_stores_a_window_in_time_order_with_the_result_of_any_order(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A shuffled file is stored in time order (its event ids follow the instants), gives
    the same clocks and report as the file's own order (`--window 1`) and as a sorted
    file, and each rejected line keeps its number in the file."""
    import random
    import sqlite3

    ordered = [
        make_event(f"{kind}{task}-{number}", 7 * number + 2 * index, role=role, task=task)
        for index, task in enumerate(["A", "B", "C", "D"])
        for number in range(5)  # the last a client's message: its clock runs
        for kind, role in [("m", "client"), ("r", "staff")][number % 2 : number % 2 + 1]
    ]
    mixed = ordered[:]
    random.Random(15).shuffle(mixed)
    mixed.insert(9, "{oops")
    mixed.append(mixed[3])  # a retry of an event already in the file
    runs = {
        "window": (jsonl(tmp_path, mixed, "mixed.jsonl"), []),
        "as they come": (tmp_path / "mixed.jsonl", ["--window", "1"]),
        # Seven batches, each committed while the next is parsed.
        "small batches": (tmp_path / "mixed.jsonl", ["--batch", "3"]),
        "sorted": (jsonl(tmp_path, ordered, "ordered.jsonl"), []),
    }
    outputs = {}
    for name, (path, options) in runs.items():
        run_env = env | {"PMDESK_DB": str(tmp_path / f"{name}.db")}
        result = pmdesk("ingest", "--json", *options, str(path), env=run_env)
        summary = json.loads(result.stdout)
        period = ["--since", "2026-11-23", "--until", "2026-11-24", "--json"]
        clocks = json.loads(pmdesk("clocks", "--json", env=run_env).stdout)
        outputs[name] = (
            summary["created"],
            # Ids follow the order things were stored in; seconds left, the time of the run.
            [
                {key: clock[key] for key in clock.keys() - {"id", "thread_id", "seconds_left"}}
                for clock in clocks
            ],
            json.loads(pmdesk("report", "sla", *period, env=run_env).stdout),
        )
        if name != "sorted":
            assert result.returncode == 1
            assert summary["duplicate"] == 1
            assert [item["line"] for item in summary["rejections"]] == [10]
        with sqlite3.connect(tmp_path / f"{name}.db") as connection:
            stored = [
                row[0] for row in connection.execute("SELECT occurred_at FROM event ORDER BY id")
            ]
        assert (stored == sorted(stored)) is (name != "as they come")

    assert outputs["window"] == outputs["as they come"] == outputs["sorted"]
    assert outputs["small batches"] == outputs["sorted"]
    assert outputs["sorted"][0] == len(ordered)
    assert len(outputs["sorted"][1]) == 4  # the comparison means something
    assert outputs["sorted"][2]["overall"]["answered"] == 8


def test_ingest_reads_standard_input(env: dict[str, str]) -> None:
    result = pmdesk("ingest", "-", env=env, stdin=json.dumps(make_event("m1", 0)) + "\n")

    assert result.returncode == 0
    assert "1 created" in result.stdout


def test_clocks_lists_running_clocks_most_urgent_first(tmp_path: Path, env: dict[str, str]) -> None:
    path = jsonl(
        tmp_path,
        [
            make_event("m1", 0, task="later", client="Acme"),
            make_event("m2", -5, task="sooner", client="Bigco"),
            make_event("m3", -3, task="answered"),
            make_event("r3", -2, role="staff", task="answered"),
        ],
    )
    pmdesk("ingest", str(path), env=env)

    as_json = pmdesk("clocks", "--json", env=env)
    table = pmdesk("clocks", env=env)

    rows = json.loads(as_json.stdout)
    assert [row["thread"] for row in rows] == ["Task sooner", "Task later"]
    assert rows[0]["client"] == "Bigco"
    assert rows[0]["due_at"] == "2026-11-23T09:10:00+00:00"
    assert {"seconds_left", "state", "escalate_at", "assignee"} <= set(rows[0])
    assert table.returncode == 0
    assert table.stdout.index("Task sooner") < table.stdout.index("Task later")


def test_report_sla_as_json_and_as_tables(tmp_path: Path, env: dict[str, str]) -> None:
    path = jsonl(tmp_path, [make_event("m1", 0), make_event("r1", 4, role="staff")])
    pmdesk("ingest", str(path), env=env)

    as_json = pmdesk(
        "report", "sla", "--since", "2026-11-23", "--until", "2026-11-23", "--json", env=env
    )
    table = pmdesk("report", "sla", "--since", "2026-11-01", "--until", "2026-11-30", env=env)

    report = json.loads(as_json.stdout)
    assert report["overall"]["answered"] == 1
    assert report["overall"]["share_met"] == 1.0
    assert report["overall"]["median_business_seconds"] == 240
    # A day is the agency's (Europe/Paris unless configured): it ends at its local midnight.
    assert report["until"] == "2026-11-23T23:00:00+00:00"
    assert "Sam Staff" in table.stdout and "By client" in table.stdout


@pytest.mark.parametrize(
    ("zone", "since_utc", "shown"),
    [
        ("Europe/Paris", "2026-11-30T23:00:00+00:00", "from 2026-12-01 00:00"),
        ("America/New_York", "2026-12-01T05:00:00+00:00", "from 2026-12-01 00:00"),
    ],
)
def test_report_dates_start_at_local_midnight(
    tmp_path: Path, env: dict[str, str], zone: str, since_utc: str, shown: str
) -> None:
    env = {**env, "PMDESK_TIMEZONE": zone}

    as_json = pmdesk("report", "sla", "--since", "2026-12-01", "--until", "2026-12-02", "--json",
                     env=env)  # fmt: skip
    table = pmdesk("report", "sla", "--since", "2026-12-01", "--until", "2026-12-02", env=env)
    local = pmdesk("report", "sla", "--since", "2026-12-01T09:30", "--json", env=env)

    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["since"] == since_utc
    assert f"SLA {shown} to 2026-12-03 00:00 ({zone})" in table.stdout
    local_since = datetime.fromisoformat(json.loads(local.stdout)["since"])
    assert local_since.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "09:30"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "no-such-file.jsonl"], "no-such-file.jsonl: no such file"),
        (["report", "sla", "--since", "yesterday"], "'yesterday' is neither an ISO date"),
        (["report", "sla", "--since", "2026-12-01", "--until", "2026-11-01"], "must come before"),
        (["--db", "nosuchdialect://x/y", "clocks"], "cannot use database"),
        (["manager"], "the manager view needs a terminal"),
    ],
)
def test_errors_are_one_clear_line(env: dict[str, str], args: list[str], message: str) -> None:
    result = pmdesk(*args, env=env)

    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unreadable_config_is_one_clear_error(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "pmdesk.toml").write_text("[policies.default\ncalendar = 'moon'\n")

    result = pmdesk("clocks", env=env)

    assert result.returncode == 2
    assert "pmdesk.toml: Expected ']'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_invalid_config_stops_every_command_that_uses_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "pmdesk.toml").write_text("[policies.default]\ncalendar = 'moon'\n")
    events = jsonl(tmp_path, [make_event("m1", 0)])

    ingest = pmdesk("ingest", str(events), env=env)
    check = pmdesk("config", "check", env=env)

    for result in (ingest, check):
        assert result.returncode == 2
        assert "policies.default.calendar: unknown calendar 'moon'" in result.stderr
        assert "Traceback" not in result.stderr
    # Read commands look only at the keys they need (the database, the time
    # zone), so a mistake elsewhere does not hide the clocks.
    assert pmdesk("clocks", env=env).returncode == 0


def test_config_check_says_what_is_in_force(env: dict[str, str]) -> None:
    result = pmdesk("config", "check", env=env)

    assert result.returncode == 0, result.stderr
    assert "policy        default: first 15 min" in result.stdout
    assert "configuration is valid" in result.stdout


def test_demo_builds_a_fresh_agency_and_streams_live_events(
    tmp_path: Path, env: dict[str, str]
) -> None:
    demo_db = tmp_path / "demo.db"
    demo_db.write_text("an old demo, to be replaced")

    result = pmdesk("demo", "--db", str(demo_db), "--duration", "6", env=env)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "events of history" in lines[0]
    live = lines[1:]
    assert live, "no live event within 6 seconds"
    assert any(" message " in line for line in live)
    clocks = pmdesk("--db", str(demo_db), "clocks", "--json", env=env)
    running = json.loads(clocks.stdout)
    # A newcomer sees clocks tick: several run, and one is about to breach.
    assert len(running) >= 3
    assert min(row["seconds_left"] for row in running) < 30


def test_without_a_terminal_pmdesk_lists_its_commands(env: dict[str, str]) -> None:
    result = pmdesk(env=env)

    assert result.returncode == 0
    assert "ingest" in result.stdout and "manager" in result.stdout and "demo" in result.stdout
    assert "the dashboard needs a terminal" in result.stderr


def test_in_a_terminal_pmdesk_opens_the_dashboard_and_q_quits(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The real command in a pseudo-terminal of 120x40: the screen comes up, q leaves."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    pmdesk("ingest", "-", env=env, stdin=json.dumps(make_event("m1", 0)) + "\n")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "pmdesk"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**env, "TERM": "xterm-256color"},
        close_fds=True,
    )
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 30
    try:
        while b"Incoming" not in screen or b"Task T1" not in screen:
            assert time.monotonic() < deadline, screen[-2000:]
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                screen += os.read(leader, 65536)
        os.write(leader, b"q")
        ended = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < ended:
            if select.select([leader], [], [], 0.2)[0]:
                try:
                    os.read(leader, 65536)
                except OSError:
                    break
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    # What the dashboard and its services wrote is in the database file itself.
    log = Path(env["PMDESK_DB"] + "-wal")
    assert not log.exists() or log.stat().st_size == 0


def test_a_misspelt_variable_is_warned_about_and_the_command_still_runs(
    env: dict[str, str],
) -> None:
    result = pmdesk("clocks", env={**env, "PMDESK_TIMEZON": "America/New_York"})

    assert result.returncode == 0
    assert result.stderr == (
        "pmdesk: warning: PMDESK_TIMEZON is not a pmdesk setting, ignored "
        "(did you mean PMDESK_TIMEZONE?)\n"
    )


def test_a_bad_variable_is_named_instead_of_the_file(env: dict[str, str]) -> None:
    bad = {**env, "PMDESK_POLICIES__DEFAULT__FIRST_RESPONSE_MINUTES": "abc"}

    result = pmdesk("config", "check", env=bad)

    assert result.returncode == 2
    assert "config file" not in result.stderr
    assert "PMDESK_POLICIES__DEFAULT__FIRST_RESPONSE_MINUTES" in result.stderr


def test_version_prints_the_installed_version(env: dict[str, str]) -> None:
    from importlib.metadata import version

    result = pmdesk("--version", env=env)

    assert result.returncode == 0
    assert result.stdout == f"pmdesk {version('pmdesk')}\n"


@pytest.mark.parametrize(
    ("args", "since", "until"),
    [
        (["--until", "2026-12-02", "--period", "7d"], "2026-11-26 00:00", "2026-12-03 00:00"),
        (["--since", "2026-12-01", "--period", "1d"], "2026-12-01 00:00", "2026-12-02 00:00"),
        (["--since", "2026-12-01", "--period", "36h"], "2026-12-01 00:00", "2026-12-02 12:00"),
    ],
)
def test_report_periods_count_local_days(
    env: dict[str, str], args: list[str], since: str, until: str
) -> None:
    result = pmdesk("report", "sla", *args, env=env)

    assert result.returncode == 0, result.stderr
    assert f"SLA from {since} to {until} (Europe/Paris)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "soon"], "'soon' is not a period"),
        (["--since", "2026-12-01", "--until", "2026-12-02", "--period", "1d"], "at most two"),
    ],
)
def test_report_period_mistakes_are_usage_errors(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = pmdesk("report", "sla", *args, env=env)

    assert result.returncode == 2
    assert message in result.stderr


def test_ingest_rejects_every_kind_of_hostile_line_alone_and_keeps_ten_good_ones(
    tmp_path: Path, env: dict[str, str]
) -> None:
    names = sorted(HOSTILE)
    path = tmp_path / "hostile.jsonl"
    with path.open("wb") as file:
        for number in range(10):
            file.write(valid_line(number).encode() + b"\n")
        for number, name in enumerate(names, start=10):
            line = HOSTILE[name](number)
            file.write((line if isinstance(line, bytes) else line.encode()) + b"\n")

    result = pmdesk("ingest", str(path), "--json", env=env)

    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert (summary["created"], summary["rejected"]) == (10, len(names))


@hsettings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=mixed_batches())
def test_ingest_property_rejected_lines_never_stop_their_valid_neighbours(
    tmp_path: Path, env: dict[str, str], batch: list[tuple[str, str | bytes]]
) -> None:
    run = uuid.uuid4().hex  # examples share tmp_path: each gets its own files
    path = tmp_path / f"mixed-{run}.jsonl"
    path.write_bytes(
        b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for _, line in batch)
    )
    env = {**env, "PMDESK_DB": str(tmp_path / f"mixed-{run}.db")}

    result = pmdesk("ingest", str(path), "--json", env=env)

    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    valid = sum(kind == "valid" for kind, _ in batch)
    assert (summary["created"], summary["rejected"]) == (valid, len(batch) - valid)
    assert [item["line"] for item in summary["rejections"]] == [
        number for number, (kind, _) in enumerate(batch, start=1) if kind != "valid"
    ]


def test_config_check_says_how_worksection_signs_in_and_refuses_a_token_that_cannot_last(
    tmp_path: Path, env: dict[str, str]
) -> None:
    config = Path(env["PMDESK_CONFIG"])
    base = config.read_text() + '[worksection]\naccount = "atelier"\n'
    config.write_text(base + 'api_key = "k"\n')
    keyed = pmdesk("config", "check", env=env)
    config.write_text(
        base + 'oauth_client_id = "app"\noauth_client_secret = "s"\noauth_refresh_token = "r"\n'
    )
    renewed = pmdesk("config", "check", env=env)
    config.write_text(base + 'oauth_token = "t"\n')
    alone = pmdesk("config", "check", env=env)

    assert keyed.returncode == 0, keyed.stderr
    assert "worksection   https://atelier.worksection.com, admin API key" in keyed.stdout
    assert renewed.returncode == 0, renewed.stderr
    assert "OAuth2 renewed with the refresh token (not renewed yet)" in renewed.stdout
    assert alone.returncode == 2
    assert "an OAuth2 access token lasts 24 hours" in alone.stderr
    assert "use the admin api_key instead" in alone.stderr
    assert "Traceback" not in alone.stderr
