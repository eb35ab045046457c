"""`pmdesk ingest`: events from a file or stdin, in one go."""

from __future__ import annotations

import gc
import sys
from contextlib import closing
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from core.base.collector import without_cycle_collection
from core.base.paths import (
    file_problem,
)
from pmdesk.app import app
from pmdesk.console import _print_json, err, out
from pmdesk.context import EXIT_REJECTED, Failure, command, context

if TYPE_CHECKING:
    from core.conversations.ingest import Summary

# Lines held in memory to be put in time order: about 60 MB of them at
# 500 bytes a line; more than most exports, so that such a file is stored
# in one pass of its events in time order.
WINDOW = 100_000
# Events per transaction at most on PostgreSQL. There the intake, the bot and
# other imports write beside an import, and each of its transactions holds
# until it commits what they need next: the rows of its threads, and the
# unique keys of the threads, projects and clients it inserts. A writer storing
# an event of one of those threads waits for that commit, which for hundreds of
# events on a busy server takes seconds. Smaller transactions cost the import
# (each has statements and a commit of its own); the live events come first.
# SQLite has one writer at a time anyway: the batch asked for is kept.
SHARED_BATCH = 100
# Lines stored between two collections of reference cycles (see _Collections).
COLLECT_EVERY = 100_000


@app.command()
@command
def ingest(
    file: Annotated[str, typer.Argument(help="JSON Lines file of events, or - for stdin.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    batch: Annotated[
        int,
        typer.Option(help=f"Events per transaction (on PostgreSQL at most {SHARED_BATCH}).", min=1),
    ] = 5000,
    window: Annotated[
        int,
        typer.Option(
            help="Lines read and put in time order before they are stored (1: as they come).",
            min=1,
        ),
    ] = WINDOW,
) -> None:
    """Ingest events (one JSON object per line), deduplicated on source and id.

    Valid lines are kept even when others are rejected; the exit status is 1
    if any line was rejected. Lines are stored in time order, a window of
    them at a time: the result is the same in any order, only faster.
    """
    # From the imports on: the modules' objects live as long as the command,
    # and the collector walked them again and again while they were built
    # (70 ms of a command's start-up, docs/benchmarks.md, ingest round 24).
    with without_cycle_collection():
        summary = _ingest(file, batch, window, progress_shown=not as_json and err.is_terminal)
    _print_ingest_summary(summary, as_json)
    # What lives now lives to the process's end, and the interpreter's last
    # collections as it ends would only walk it: 0.11 s of an import of
    # 100,000 lines (docs/benchmarks.md, ingest round 28). Nothing it holds
    # needs a collection to be closed: the database and the file are.
    gc.freeze()
    if summary.rejected:
        raise typer.Exit(EXIT_REJECTED)


def _ingest(file: str, batch: int, window: int, *, progress_shown: bool) -> Summary:
    """Store the events of FILE; the summary of what became of each line."""
    from core.conversations.ingest import Ingestor, Summary
    from core.conversations.time_order import occurred_seconds

    ctx = context()
    ctx.bulk = True
    if ctx.engine.dialect.name != "sqlite":
        batch = min(batch, SHARED_BATCH)
    ingestor = Ingestor.for_settings(ctx.engine, ctx.settings, clock=ctx.clock, batch_size=batch)
    summary = Summary()
    # Objects alive now stay out of every collection's scans (see _Collections).
    gc.freeze()
    collections = _Collections()
    # The ingestor's connection goes back to the pool, which the command closes.
    with closing(ingestor), _open_input(file) as (stream, size):
        progress = _progress(size, file) if progress_shown else None
        # (instant, line number, line): sorted, ties keep the file's order.
        lines: list[tuple[float, int, bytes]] = []
        stored_up_to = 0  # the input's byte position of the last line stored

        def store(read_up_to: int) -> None:
            nonlocal stored_up_to
            lines.sort()
            starts = range(0, len(lines), batch)
            stored = ingestor.ingest_batches(
                [line for _, _, line in lines[start : start + batch]] for start in starts
            )
            # Report line numbers of the file, not positions in the window.
            numbers = [number for _, number, _ in lines]
            for start, results in zip(starts, stored, strict=True):
                summary.add(results, numbers)
                collections.stored(len(results))
                if progress:
                    done = min(start + batch, len(lines)) / len(lines)
                    progress.advance(stored_up_to + round((read_up_to - stored_up_to) * done))
            lines.clear()
            stored_up_to = read_up_to

        for number, line in enumerate(stream, start=1):
            if line.isspace():  # (no copy of the line, unlike strip)
                continue
            lines.append((occurred_seconds(line), number, line))
            if len(lines) >= window:
                store(stream.tell() if progress else 0)
        if lines:
            store(size)
        if progress:
            progress.stop()
    return summary


class _Collections:
    """A whole collection of reference cycles every COLLECT_EVERY lines stored.

    The import runs without automatic collection: its millions of
    short-lived objects are acyclic (freed by reference counting anyway),
    and the collector's passes over them cost a fifth of its time with the
    default thresholds and still 4 to 7% with a threshold of 50,000
    allocations (docs/benchmarks.md, ingest round 22). A collection now and
    then (41 to 70 ms, finding next to nothing) keeps whatever cycles there
    are from piling up over a long file.
    """

    def __init__(self) -> None:
        self._since = 0

    def stored(self, lines: int) -> None:
        self._since += lines
        if self._since >= COLLECT_EVERY:
            gc.collect()
            self._since = 0


class _Progress:
    def __init__(self, total: int, label: str) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err.console,
            transient=True,
        )
        self._task = self._bar.add_task(f"ingesting {label}", total=total or None)
        self._bar.start()

    def advance(self, position: int) -> None:
        self._bar.update(self._task, completed=position)

    def stop(self) -> None:
        self._bar.stop()


def _progress(size: int, label: str) -> _Progress | None:
    return _Progress(size, label) if size else None


class _open_input:
    """A binary stream over FILE or stdin, with its size when known."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> tuple[IO[bytes], int]:
        if self.name == "-":
            return sys.stdin.buffer, 0
        path = Path(self.name)
        try:
            self._handle = path.open("rb")
        except OSError as error:
            raise Failure(file_problem(self.name, error)) from None
        return self._handle, path.stat().st_size

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()


def _print_ingest_summary(summary: Any, as_json: bool) -> None:
    rejected = [{"line": line, "reason": reason} for line, reason in sorted(summary.rejections)]
    if as_json:
        _print_json(
            {
                "created": summary.created,
                "duplicate": summary.duplicate,
                "rejected": summary.rejected,
                "rejections": rejected,
            }
        )
        return
    out.print(
        f"{summary.created} created, {summary.duplicate} duplicates, {summary.rejected} rejected",
        markup=False,
    )
    for item in rejected:
        err.print(f"line {item['line']}: {item['reason']}", markup=False)
