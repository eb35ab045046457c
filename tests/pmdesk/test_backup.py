"""Backups: a consistent copy of a live SQLite database, restoring it, the daily copies.

Real files and real processes: the copy is taken while another process
writes, and checked for transactions cut in half.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine

from bots.services.backups import add_backup_job, take_backup
from core.base.kinds import StaffRole
from core.config.settings import Settings
from core.conversations.people import add_staff, list_staff
from core.store.backup import (
    BackupError,
    backup_sqlite,
    check_copy,
    daily_copy,
    restore_sqlite,
)
from core.store.db import open_database
from core.store.lease import acquire, release
from core.store.reader import HEAD_REVISION
from tests.pmdesk.test_staff_commands import run
from tests.support import MovableClock

# Each transaction writes two rows of one batch: a copy holding one row of
# a batch would have cut a transaction in half.
WRITER = textwrap.dedent(
    """
    import sqlite3, sys, time
    connection = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE IF NOT EXISTS scratch (batch INTEGER, part INTEGER)")
    print("ready", flush=True)
    end = time.monotonic() + float(sys.argv[2])
    batch = 0
    while time.monotonic() < end:
        batch += 1
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO scratch VALUES (?, 1)", (batch,))
        connection.execute("INSERT INTO scratch VALUES (?, 2)", (batch,))
        connection.execute("COMMIT")
    print(batch, flush=True)
    """
)


def _database(tmp_path: Path) -> Path:
    path = tmp_path / "pmdesk.db"
    open_database(str(path)).dispose()
    return path


def test_a_copy_taken_while_another_process_writes_is_whole(tmp_path: Path) -> None:
    database = _database(tmp_path)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(database), "4"], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    counts = []
    for number in range(6):
        time.sleep(0.3)
        made = backup_sqlite(database, tmp_path / "copies" / f"copy-{number}.db")
        assert made.revision == HEAD_REVISION
        assert check_copy(made.path) == HEAD_REVISION
        with sqlite3.connect(made.path) as copy:
            rows = copy.execute("SELECT batch, count(*) FROM scratch GROUP BY batch").fetchall()
            # One file, no write-ahead log needed to read it.
            assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert rows, "the copy holds what was written before it"
        assert {count for _, count in rows} == {2}, "a transaction cut in half"
        assert [batch for batch, _ in rows] == list(range(1, len(rows) + 1))
        counts.append(len(rows))
    last = int(writer.communicate(timeout=30)[0].strip())
    assert writer.returncode == 0
    assert counts == sorted(counts) and counts[-1] > counts[0]
    assert last > counts[-1]  # the writer went on after the copies
    assert not list((tmp_path / "copies").glob("*.partial"))


def test_a_copy_never_overwrites_its_database(tmp_path: Path) -> None:
    database = _database(tmp_path)
    with pytest.raises(BackupError, match="itself"):
        backup_sqlite(database, database)
    with pytest.raises(BackupError, match="no database"):
        backup_sqlite(tmp_path / "missing.db", tmp_path / "copy.db")
    assert not (tmp_path / "missing.db").exists()


def test_only_a_sound_pmdesk_database_is_restored(tmp_path: Path, clock: MovableClock) -> None:
    database = _database(tmp_path)
    before = database.read_bytes()
    text = tmp_path / "notes.db"
    text.write_text("not a database")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE things (id INTEGER)")
    newer = tmp_path / "newer.db"
    backup_sqlite(database, newer)
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    truncated = tmp_path / "truncated.db"
    backup_sqlite(database, truncated)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    for bad, why in [
        (text, "not a SQLite database"),
        (other, "not a pmdesk database"),
        (newer, "newer than this pmdesk"),
        (truncated, "damaged|not a SQLite database|malformed"),
        (tmp_path / "missing.db", "no file"),
    ]:
        with pytest.raises(BackupError, match=why):
            restore_sqlite(bad, database, clock())
    assert database.read_bytes() == before
    assert not (tmp_path / "pmdesk.db.before-restore").exists()


def test_restore_waits_for_the_services_and_keeps_the_old_database(
    tmp_path: Path, clock: MovableClock
) -> None:
    database = _database(tmp_path)
    engine = open_database(str(database))
    add_staff(engine, "Camille Roux", StaffRole.ASSISTANT, ["c@lumen.fr"], clock())
    copy = tmp_path / "monday.db"
    backup_sqlite(database, copy)
    add_staff(engine, "Thomas Garnier", StaffRole.PM, ["t@lumen.fr"], clock())
    assert acquire(engine, "server:4242:serve", {"intake": "running"}, clock())
    with pytest.raises(BackupError, match="services run"):
        restore_sqlite(copy, database, clock())
    # A lease that lapsed (its holder crashed) holds nothing back.
    clock.advance(minutes=10)
    revision, aside = restore_sqlite(copy, database, clock())
    engine.dispose()
    assert revision == HEAD_REVISION
    assert aside == tmp_path / "pmdesk.db.before-restore"
    restored = open_database(str(database))
    assert [person.name for person in list_staff(restored)] == ["Camille Roux"]
    restored.dispose()
    kept = open_database(str(aside))
    assert {person.name for person in list_staff(kept)} == {"Camille Roux", "Thomas Garnier"}
    kept.dispose()
    # A second restore would lose the first one's copy aside: refused.
    with pytest.raises(BackupError, match="earlier restore"):
        restore_sqlite(copy, database, clock())


def test_restore_is_refused_while_the_lease_is_renewed(
    engine: Engine, tmp_path: Path, clock: MovableClock
) -> None:
    database = Path(str(engine.url.database))
    copy = tmp_path / "copy.db"
    backup_sqlite(database, copy)
    assert acquire(engine, "host:1:pmdesk", {}, clock(), ttl=timedelta(seconds=30))
    with pytest.raises(BackupError, match="stop pmdesk serve"):
        restore_sqlite(copy, database, clock.advance(seconds=20))
    assert release(engine, "host:1:pmdesk")
    assert restore_sqlite(copy, database, clock())[0] == HEAD_REVISION


def test_daily_copies_keep_the_last_ones(tmp_path: Path, clock: MovableClock) -> None:
    database = _database(tmp_path)
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a copy: never removed")
    made = []
    for _ in range(5):
        copy, removed = daily_copy(database, folder, clock(), keep=3)
        made.append(copy.path)
        clock.advance(days=1)
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [*(path.name for path in made[-3:]), "notes.txt"]
    )
    assert removed == [made[1]]


def test_the_services_job_logs_a_failure_and_keeps_the_copies(
    tmp_path: Path, clock: MovableClock, caplog: pytest.LogCaptureFixture
) -> None:
    database = _database(tmp_path)
    folder = tmp_path / "backups"
    assert take_backup(database, folder, 2, clock) is not None
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    with caplog.at_level(logging.ERROR, logger="pmdesk.backup"):
        assert take_backup(database, blocked, 2, clock) is None
    assert "the daily backup failed" in caplog.text
    assert len(list(folder.glob("pmdesk-*.db"))) == 1


async def test_the_services_schedule_the_copy_only_when_asked(tmp_path: Path) -> None:
    scheduler = AsyncIOScheduler()
    plain = Settings(db=str(tmp_path / "pmdesk.db"))
    assert not add_backup_job(scheduler, plain, lambda: plain_now)
    asked = plain.model_copy(
        update={"backup": plain.backup.model_copy(update={"folder": str(tmp_path)})}
    )
    postgres = asked.model_copy(update={"db": "postgresql://pm@localhost/pmdesk"})
    assert not add_backup_job(scheduler, postgres, lambda: plain_now)
    assert add_backup_job(scheduler, asked, lambda: plain_now)
    assert [job.id for job in scheduler.get_jobs()] == ["backup"]


plain_now = MovableClock()()


def test_the_backup_and_restore_commands(env: dict[str, str], tmp_path: Path) -> None:
    assert run("staff", "add", "Camille Roux", "--role", "assistant", env=env).returncode == 0
    copy = tmp_path / "saved" / "pmdesk-copy.db"
    made = run("backup", str(copy), "--json", env=env)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["revision"] == HEAD_REVISION
    assert run("staff", "add", "Thomas Garnier", "--role", "pm", env=env).returncode == 0
    restored = run("restore", str(copy), env=env)
    assert restored.returncode == 0, restored.stderr
    assert "before-restore" in restored.stdout
    assert [person["name"] for person in json.loads(run("staff", "--json", env=env).stdout)] == [
        "Camille Roux"
    ]
    refused = run("restore", str(tmp_path / "nothing.db"), env=env)
    assert refused.returncode == 2 and "no file" in refused.stderr


def test_on_postgresql_the_commands_name_pg_dump_and_pg_restore(env: dict[str, str]) -> None:
    env = {**env, "PMDESK_DB": "postgresql+psycopg://pm@db.internal/pmdesk"}
    dumped = run("backup", "pmdesk.dump", env=env)
    assert dumped.returncode == 2
    assert "pg_dump --format=custom --file=pmdesk.dump postgresql://pm@db" in dumped.stderr
    restored = run("restore", "pmdesk.dump", env=env)
    assert restored.returncode == 2 and "pg_restore" in restored.stderr


def test_the_backup_settings_refuse_a_time_that_is_not_one() -> None:
    from pydantic import ValidationError

    assert Settings(backup={"folder": "copies", "at": " 3:05 "}).backup.at == "3:05"
    for wrong in ("25:00", "noon", "02:60"):
        with pytest.raises(ValidationError, match="time of day"):
            Settings(backup={"at": wrong})
    with pytest.raises(ValidationError):
        Settings(backup={"keep": 0})


def test_restore_is_refused_while_another_connection_writes(
    tmp_path: Path, clock: MovableClock
) -> None:
    database = _database(tmp_path)
    copy = tmp_path / "copy.db"
    backup_sqlite(database, copy)
    writer = sqlite3.connect(database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("CREATE TABLE busy (id INTEGER)")
        with pytest.raises(BackupError, match="in use"):
            restore_sqlite(copy, database, clock())
        writer.execute("COMMIT")
    finally:
        writer.close()
    # Nothing moved: the database is where it was, with what was written.
    assert not (tmp_path / "pmdesk.db.before-restore").exists()
    assert not (tmp_path / "pmdesk.db.restoring").exists()
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM busy").fetchone() == (0,)
