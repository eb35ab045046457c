"""Benchmark: the cost of parsing one event, and `pmdesk ingest` against another checkout.

The stream is bench/ingest.py's (generate.events with a tenth duplicates, in
time order), as the JSON Lines bytes `pmdesk ingest` reads. In one process,
alternated passes over the same lines, CPU time of this thread per line,
medians of `--passes`:

- `json.loads` alone: the floor of any parser written around Python's json;
- `json.loads` + the structs: the event, task and author built from the
  parsed dict without any check, the floor of a "validate by hand" path (it
  is a floor: the checks come on top);
- `EventSchema.model_validate_json`: pydantic alone, the schema;
- the structs' decoder alone (msgspec, no check of its own after);
- `parse_event` with the full check on every event: the schema, then
  `_may_hold_numbers_json_cannot` on each event (the parser before the
  decoder and the byte search);
- `parse_event`: as it is.

With `--before DIR` (the source tree of another version), `pmdesk ingest
--json` of the whole stream into a fresh database, alternately by that tree
and by this one, `--runs` times each, with the plain sqlite3 script of
bench/ingest.py in each round as the peer: wall time, and the CPU time of
the `pmdesk` process (what a loaded host disturbs least). Before those, in
one process, `Ingestor.ingest_batch` of the first half of the stream with
that tree's `parse_event` and with this one's in turn, the parser's CPU
time apart from the rest.

    .venv/bin/python bench/parse.py [--events 100000] [--passes 7] [--sample 20000]
    .venv/bin/python bench/parse.py --before ../old-tree --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from figures import machine
from generate import DEFAULT_START, events, with_duplicates, write_jsonl
from ingest import DUPLICATES, run_plain, run_tree

from core.base import jsontext
from core.conversations import events as parsing
from core.conversations.events import Author, EventIn, EventSchema, Task, parse_event

HERE = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="lines, duplicates included")
    parser.add_argument("--threads", type=int, default=27_000)
    parser.add_argument("--sample", type=int, default=20_000, help="lines timed in process")
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--before", type=Path, help="source tree to time pmdesk ingest against")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as directory:
        stream = Path(directory) / "ordered.jsonl"
        unique = round(args.events * (1 - DUPLICATES))
        lines = write_jsonl(
            stream,
            with_duplicates(
                events(unique, args.threads, DEFAULT_START, timedelta(days=60)), DUPLICATES
            ),
        )
        print(f"input: {lines} lines, {stream.stat().st_size / 1e6:.1f} MB of JSON Lines")
        per_event(stream, args.sample, args.passes)
        if args.before is not None:
            in_process(stream, args.before.resolve(), args.runs, Path(directory))
            whole_ingest(stream, lines, args.before.resolve(), args.runs, Path(directory))


# -- one event at a time, in process -----------------------------------------------


def _constructed(line: bytes) -> EventIn:
    """The event built from the parsed dict with no check at all (a floor, not a parser)."""
    value = json.loads(line)
    fields = dict(value)
    fields["task"] = Task(**value["task"])
    for role in ("author", "assignee"):
        if value.get(role) is not None:
            fields[role] = Author(**value[role])
    return EventIn(**fields)


def _full_check(line: bytes) -> EventIn:
    """parse_event's happy path before the decoder and the byte search: the check on every event."""
    raw = line.decode("utf-8")
    event = parsing._as_event(EventSchema.model_validate_json(raw))
    if parsing._may_hold_numbers_json_cannot(event):
        jsontext.loads(raw)
    return event


def per_event(stream: Path, sample: int, passes: int) -> None:
    with stream.open("rb") as handle:
        lines = [line for _, line in zip(range(sample), handle, strict=False)]
    for line in lines:  # the paths timed agree on every line
        assert repr(parse_event(line)[0]) == repr(_full_check(line))
    paths: dict[str, Callable[[bytes], Any]] = {
        "json.loads alone": json.loads,
        "json.loads + the structs, no check": _constructed,
        "EventSchema.model_validate_json": EventSchema.model_validate_json,
        "the structs' decoder alone": parsing._DECODER.decode,
        "parse_event, full check on every event": _full_check,
        "parse_event": parse_event,
    }
    timings: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(passes):
        for name, path in paths.items():  # alternated: a slow spell hits every path
            started = time.thread_time()
            for line in lines:
                path(line)
            timings[name].append((time.thread_time() - started) / len(lines) * 1e6)
    model = statistics.median(timings["EventSchema.model_validate_json"])
    print(f"per event, CPU time, median of {passes} alternated passes over {len(lines)} lines:")
    for name, values in timings.items():
        median = statistics.median(values)
        spread = ", ".join(f"{value:.2f}" for value in sorted(values))
        print(f"  {name}: {median:.2f} µs ({spread}); {median / model:.2f}x the model")
    before = statistics.median(timings["parse_event, full check on every event"])
    now = statistics.median(timings["parse_event"])
    print(f"parse_event now / before: {now / before:.2f}")


# -- inside an ingest, against another tree's parser ----------------------------------


def in_process(stream: Path, before: Path, runs: int, folder: Path) -> None:
    import gc
    import importlib.util

    from core.config.settings import Settings
    from core.conversations import ingest
    from core.store.db import open_database

    spec = importlib.util.spec_from_file_location(
        "events_before", before / "core" / "conversations" / "events.py"
    )
    assert spec is not None and spec.loader is not None
    older = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = older  # where pydantic resolves the models' annotations
    spec.loader.exec_module(older)
    with stream.open("rb") as handle:
        lines = handle.readlines()
    lines = lines[: len(lines) // 2]
    spent = [0.0]

    def timed(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
        def parse_timed(item: bytes) -> Any:
            started = time.thread_time()
            try:
                return parse(item)
            finally:
                spent[0] += time.thread_time() - started

        return parse_timed

    original = ingest.parse_event
    gc.freeze()  # as pmdesk ingest does
    gc.disable()
    parsers = (("before", older.parse_event), ("now", parse_event))
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in parsers}
    try:
        for run in range(runs):
            for name, parse in parsers[:: 1 if run % 2 == 0 else -1]:
                ingest.parse_event = timed(parse)  # type: ignore[assignment]
                spent[0] = 0.0
                engine = open_database(str(folder / f"in-{name}{run}.db"), bulk=True)
                ingestor = ingest.Ingestor.for_settings(engine, Settings(), batch_size=5000)
                started = time.thread_time()
                for start in range(0, len(lines), 5000):
                    ingestor.ingest_batch(lines[start : start + 5000])
                figures[name].append((time.thread_time() - started, spent[0]))
                engine.dispose()
    finally:
        ingest.parse_event = original
    print(f"in one process, ingest_batch of {len(lines)} lines, {runs} alternated runs each:")
    for name, values in figures.items():
        parsing = statistics.median(parsed for _, parsed in values)
        rest = statistics.median(total - parsed for total, parsed in values)
        spread = ", ".join(f"{parsed:.2f}/{total - parsed:.2f}" for total, parsed in values)
        print(f"  {name}: parsing {parsing:.2f} s, the rest {rest:.2f} s (runs: {spread})")
    ratio = statistics.median(p for _, p in figures["now"]) / statistics.median(
        p for _, p in figures["before"]
    )
    print(f"parsing inside the ingest, now / before: {ratio:.2f}")


# -- whole ingests, against another tree ---------------------------------------------


def whole_ingest(stream: Path, lines: int, before: Path, runs: int, folder: Path) -> None:
    wall: dict[str, list[float]] = {"before": [], "now": [], "plain sqlite3 script": []}
    cpu: dict[str, list[float]] = {"before": [], "now": []}
    for run in range(runs):
        for name, tree in (("before", before), ("now", HERE))[:: 1 if run % 2 == 0 else -1]:
            seconds, used = run_tree(tree, stream, folder / f"{name}{run}.db")
            wall[name].append(seconds)
            cpu[name].append(used)
        wall["plain sqlite3 script"].append(run_plain(stream, folder / f"plain{run}.db"))
        for path in folder.glob("*.db*"):
            path.unlink()
    print(f"pmdesk ingest of the stream, {runs} alternated runs each:")
    medians = {name: statistics.median(values) for name, values in wall.items()}
    for name, values in wall.items():
        spread = ", ".join(f"{value:.2f}" for value in values)
        rate = lines / medians[name]
        print(f"  {name}: median {medians[name]:.2f} s ({spread}) -> {rate:,.0f} lines/s")
        if name in cpu:
            spread = ", ".join(f"{value:.2f}" for value in cpu[name])
            print(f"    CPU time: median {statistics.median(cpu[name]):.2f} s ({spread})")
    print(f"now / before, wall time: {medians['now'] / medians['before']:.3f}")
    ratio = statistics.median(cpu["now"]) / statistics.median(cpu["before"])
    print(f"now / before, CPU time: {ratio:.3f}")
    for name in ("before", "now"):
        share = medians["plain sqlite3 script"] / medians[name]
        print(f"{name} against the plain script: {share:.1%} of its rate")


if __name__ == "__main__":
    main()
