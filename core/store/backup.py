"""Backups of a SQLite database, and putting one back (docs/deploy.md, "Backups").

A copy is made with SQLite's online backup API (sqlite3.Connection.backup):
a consistent picture of the database at one instant, taken while the
dashboard, the services or an import go on writing. It is written beside
its target under a temporary name, checked, then renamed into place, so a
copy cut short never passes for a whole one.

A copy is put back only when it is a pmdesk database (integrity check, the
schema's revision known to this version) and nothing holds the services'
lease; the database it replaces is kept aside as `<database>.before-restore`.

PostgreSQL has its own tools, pg_dump and pg_restore: `postgres_commands`
says which to run.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.store.reader import HEAD_REVISION, instant

# Daily copies in a folder: pmdesk-20261204-023000.db.
_DAILY = re.compile(r"pmdesk-(\d{8})-(\d{6})\.db")
_SIDECARS = ("-wal", "-shm", "-journal")


class BackupError(RuntimeError):
    """A copy that cannot be made, checked or put back; the message says why."""


@dataclass(frozen=True)
class Copy:
    path: Path
    revision: str
    size: int


def backup_sqlite(database: Path, target: Path) -> Copy:
    """A consistent copy of `database` at `target` (replaced if there), checked.

    Raises BackupError when the database is missing or the copy fails its check.
    """
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    if target.resolve() == database.resolve():
        raise BackupError("the copy would overwrite the database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    _copy(database, partial)
    try:
        revision = check_copy(partial)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return Copy(target, revision, target.stat().st_size)


def _copy(source: Path, target: Path) -> None:
    """SQLite's online backup from `source` into a fresh file at `target`."""
    target.unlink(missing_ok=True)
    try:
        # Read only: the copy never changes the database, nor creates one by mistake.
        with (
            contextlib.closing(
                sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
            ) as reading,
            contextlib.closing(sqlite3.connect(target)) as writing,
        ):
            # One step: the whole database as of one read transaction, while
            # writers go on in WAL mode.
            reading.backup(writing)
            # The copy stands alone: one file, no write-ahead log beside it.
            writing.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as error:
        target.unlink(missing_ok=True)
        raise BackupError(f"could not copy {source}: {error}") from None


def check_copy(path: Path) -> str:
    """The schema revision of the pmdesk database at `path`, after an integrity check.

    Raises BackupError for a file that is not SQLite, is damaged, is not a
    pmdesk database, or was made by a newer pmdesk than this one.
    """
    if not path.is_file():
        raise BackupError(f"no file at {path}")
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as connection:
            problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"{path} is damaged: {'; '.join(problems[:3])}")
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if not {"alembic_version", "staff", "event", "lease"} <= tables:
                raise BackupError(f"{path} is not a pmdesk database")
            found = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a SQLite database ({error})") from None
    if len(found) != 1 or not str(found[0][0]).isdigit():
        raise BackupError(f"{path} has no schema revision pmdesk knows")
    revision = str(found[0][0])
    if int(revision) > int(HEAD_REVISION):
        raise BackupError(
            f"{path} is at schema revision {revision}, newer than this pmdesk's "
            f"({HEAD_REVISION}): restore it with the version that made it"
        )
    return revision


def lease_holder(database: Path, now: datetime) -> str | None:
    """Who holds the services' lease on `database` at `now`, if anyone (it has not lapsed)."""
    if not database.is_file():
        return None
    try:
        with contextlib.closing(
            sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        ) as connection:
            row = connection.execute(
                "SELECT holder, expires_at FROM lease WHERE name = 'services'"
            ).fetchone()
    except sqlite3.DatabaseError:
        return None  # no lease table: nothing of pmdesk's runs on it
    if row is None:
        return None
    expires = instant(row[1])
    return str(row[0]) if expires is not None and expires > now else None


def restore_sqlite(copy: Path, database: Path, now: datetime) -> tuple[str, Path | None]:
    """Put the checked `copy` in place of `database`; its revision and where the old one went.

    Refused (BackupError, nothing changed) while the services' lease is
    held, while another connection writes, or when `<database>.before-restore`
    is already there (an earlier restore's: move it away first). The copy's
    schema is brought to this version's by the next command that opens it.
    """
    revision = check_copy(copy)
    if copy.resolve() == database.resolve():
        raise BackupError("the copy is the database itself")
    holder = lease_holder(database, now)
    if holder is not None:
        raise BackupError(
            f"the services run on this database ({holder}): stop pmdesk serve and every "
            "dashboard first"
        )
    aside = database.with_name(database.name + ".before-restore")
    if database.exists() and aside.exists():
        raise BackupError(f"{aside} is there from an earlier restore: move it away first")
    database.parent.mkdir(parents=True, exist_ok=True)
    incoming = database.with_name(database.name + ".restoring")
    _copy(copy, incoming)
    moved: Path | None = None
    if database.exists():
        _set_aside(database, aside, incoming)
        moved = aside
    os.replace(incoming, database)
    return revision, moved


def _set_aside(database: Path, aside: Path, incoming: Path) -> None:
    """Move `database` (its log written in first) to `aside`, holding its write lock meanwhile."""
    try:
        connection = sqlite3.connect(database, timeout=5, isolation_level=None)
    except sqlite3.Error as error:
        incoming.unlink(missing_ok=True)
        raise BackupError(f"could not open {database}: {error}") from None
    try:
        # Everything of the write-ahead log into the file; then no one writes
        # while it moves (a writer busy now makes the restore wait, then refuse).
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("BEGIN EXCLUSIVE")
        os.replace(database, aside)
        connection.execute("ROLLBACK")
    except sqlite3.Error as error:
        incoming.unlink(missing_ok=True)
        raise BackupError(f"{database} is in use ({error}): stop what writes to it") from None
    finally:
        connection.close()
    for suffix in _SIDECARS:
        leftover = database.with_name(database.name + suffix)
        if leftover.exists():
            os.replace(leftover, aside.with_name(aside.name + suffix))


def daily_copy(database: Path, folder: Path, now: datetime, keep: int) -> tuple[Copy, list[Path]]:
    """Today's copy of `database` into `folder`; then the oldest removed past `keep`.

    Returns the copy and the copies removed. Only files named as the copies
    are (pmdesk-YYYYMMDD-HHMMSS.db) are ever removed.
    """
    made = backup_sqlite(database, folder / f"pmdesk-{now:%Y%m%d-%H%M%S}.db")
    copies = sorted(path for path in folder.iterdir() if _DAILY.fullmatch(path.name))
    removed = copies[: max(0, len(copies) - keep)]
    for old in removed:
        old.unlink(missing_ok=True)
    return made, removed


def postgres_commands(url: str, file: str) -> tuple[str, str]:
    """The pg_dump and pg_restore command lines for a PostgreSQL database at `url`."""
    import shlex

    plain = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
    return (
        f"pg_dump --format=custom --file={shlex.quote(file)} {shlex.quote(plain)}",
        f"pg_restore --clean --if-exists --no-owner --dbname={shlex.quote(plain)} "
        f"{shlex.quote(file)}",
    )
