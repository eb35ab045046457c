"""`pmdesk backup FILE` and `pmdesk restore FILE`: a copy of the database, and putting
one back (core.store.backup; docs/deploy.md, "Backups").

On PostgreSQL both say which pg_dump or pg_restore command to run, and do
nothing themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pmdesk.app import app
from pmdesk.console import _print_json, out
from pmdesk.context import Failure, command, context

_JSON = typer.Option("--json", help="Print JSON for scripts.")


def _sqlite_file(step: int) -> Path:
    """The configured database's file; on PostgreSQL, a Failure naming its own tool."""
    from core.store.backup import postgres_commands
    from core.store.reader import sqlite_path

    database = context().settings.db
    path = sqlite_path(database)
    if path is None:
        command_line = postgres_commands(database, "pmdesk.dump")[step]
        raise Failure(f"this database is PostgreSQL's: run {command_line}")
    return path


@app.command()
@command
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the copy (replaced if there).")],
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Copy the database to FILE, consistent even while pmdesk runs and writes.

    The copy is checked (integrity, schema revision) before it takes FILE's
    name. For PostgreSQL it prints the pg_dump command to run instead.
    """
    from core.store.backup import BackupError, backup_sqlite

    database = _sqlite_file(0)
    try:
        made = backup_sqlite(database, file)
    except BackupError as error:
        raise Failure(str(error)) from None
    if as_json:
        _print_json({"file": str(made.path), "revision": made.revision, "bytes": made.size})
        return
    out.print(
        f"{database} copied to {made.path} ({made.size:,} bytes, schema {made.revision})",
        markup=False,
    )


@app.command()
@command
def restore(
    file: Annotated[Path, typer.Argument(help="A copy made by pmdesk backup.")],
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Put the copy FILE in place of the database, the current one kept aside.

    Only a sound pmdesk database is put back, and only while nothing runs
    on the current one (stop pmdesk serve, pmdesk web and the dashboards
    first); the current one becomes DATABASE.before-restore. For PostgreSQL
    it prints the pg_restore command to run instead.
    """
    from core.store.backup import BackupError, restore_sqlite

    database = _sqlite_file(1)
    ctx = context()
    try:
        revision, aside = restore_sqlite(file, database, ctx.clock())
    except BackupError as error:
        raise Failure(str(error)) from None
    if as_json:
        _print_json(
            {
                "database": str(database),
                "revision": revision,
                "before_restore": str(aside) if aside else None,
            }
        )
        return
    out.print(f"{file} restored as {database} (schema {revision})", markup=False)
    if aside is not None:
        out.print(f"the database it replaced is kept as {aside}", markup=False)
