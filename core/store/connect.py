"""A reader on the configured database: the light SQLite reader when the schema
is current, else the database opened (created or upgraded) first.

Apart from core.store.reader so that the reader never imports the
database's opening, which imports it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.store.reader import HEAD_REVISION, EngineReader, Reader, SqliteReader, sqlite_path


def reader_for(database: str, *, handed_over: bool = False) -> Reader:
    """A reader on PMDESK_DB's database, upgrading the schema first if it is behind.

    `handed_over`: see SqliteReader.
    """
    path = sqlite_path(database)
    if path is not None and path.is_file() and _revision(path) == HEAD_REVISION:
        return SqliteReader(path, handed_over=handed_over)
    from core.store.db import open_database  # creates or upgrades: needs SQLAlchemy and Alembic

    engine = open_database(database)
    if path is not None:
        # Its connections closed before the read-only one opens: the last to
        # close folds what the upgrade wrote back into the file, which a
        # read-only connection cannot do.
        engine.dispose()
        return SqliteReader(path, handed_over=handed_over)
    return EngineReader(engine)


def _revision(path: Path) -> str | None:
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return None  # not a database, or not ours yet: the full open says why
    return row[0] if row else None
