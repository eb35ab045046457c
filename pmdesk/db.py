"""`pmdesk db`: the database itself; `pmdesk db migrate-to URL` copies it into an empty one
of the other engine (core.store.migrate_to; docs/deploy.md, "Moving to PostgreSQL").
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pmdesk.console import _print_json, err, out
from pmdesk.context import Failure, command, context

db_app: typer.Typer = typer.Typer(
    help="The database: moving it to PostgreSQL and back.", no_args_is_help=True
)
_JSON = typer.Option("--json", help="Print JSON for scripts.")


@db_app.command("migrate-to")
@command
def migrate_to(
    url: Annotated[
        str,
        typer.Argument(
            help="The empty target: a PostgreSQL URL (postgresql+psycopg://...) or a SQLite file."
        ),
    ],
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Copy the whole database into the empty database URL, then verify the copy.

    The target is given the same schema, every table is copied with its ids,
    and each table's row count and checksum are compared with the source's;
    on any failure the copy is rolled back and the target left empty. Refused
    while pmdesk serve runs on the database, or when the target holds rows or
    is at another schema version. The source is left as it is: point PMDESK_DB
    at the target afterwards.
    """
    from core.base.paths import shown_database
    from core.store.migrate_to import MigrateError
    from core.store.migrate_to import migrate_to as copy_database

    ctx = context()
    with _Progress() as progress:
        try:
            done = copy_database(ctx.engine, url, ctx.clock(), progress=progress.update)
        except MigrateError as error:
            raise Failure(str(error)) from None
    if as_json:
        _print_json(
            {
                "target": shown_database(url),
                "revision": done.revision,
                "rows": done.rows,
                "tables": {table.name: table.rows for table in done.tables},
            }
        )
        return
    out.print(
        f"{done.rows:,} rows in {len(done.tables)} tables copied to {shown_database(url)} "
        f"(schema {done.revision}); counts and checksums of every table verified",
        markup=False,
    )
    out.print(
        "point PMDESK_DB (or db in the configuration) at it to use it; the source is unchanged",
        markup=False,
    )


class _Progress:
    """A bar for the table being copied, on stderr when it is a terminal; nothing otherwise."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._table = ""

    def __enter__(self) -> _Progress:
        if err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                console=err.console,
                transient=True,
            )
            self._bar.start()
        return self

    def update(self, table: str, done: int, total: int) -> None:
        if self._bar is None:
            return
        if self._task is None:
            self._task = self._bar.add_task(table, total=total)
        elif table != self._table:
            self._bar.reset(self._task, total=total, description=table)
        self._table = table
        self._bar.update(self._task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
