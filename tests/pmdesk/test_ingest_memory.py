"""`pmdesk ingest` and the cycle collector: off while it stores, but cycles still go."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from core.base.collector import without_cycle_collection
from pmdesk import ingest
from pmdesk.app import app
from tests.support import make_event


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generation of each collection that starts while the test runs."""
    started: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(note)
    yield started
    gc.callbacks.remove(note)


def test_an_import_collects_cycles_every_so_many_lines_only(
    monkeypatch: pytest.MonkeyPatch, collections: list[int]
) -> None:
    monkeypatch.setattr(ingest, "COLLECT_EVERY", 3)
    every = ingest._Collections()

    with without_cycle_collection():
        cycle = _Cycle()
        gone = weakref.ref(cycle)
        del cycle
        every.stored(2)
        assert collections == [] and gone() is not None  # kept until enough lines
        every.stored(1)
        assert collections == [2] and gone() is None  # a whole collection, the cycle freed
        for lines in (1, 1):
            every.stored(lines)
        assert collections == [2]
        every.stored(5)
        assert collections == [2, 2]


def test_collection_is_off_inside_and_as_it_was_after_even_on_an_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), without_cycle_collection():
        assert not gc.isenabled()
        raise RuntimeError("the database went away")
    assert gc.isenabled()

    gc.disable()
    try:
        with without_cycle_collection():
            pass
        assert not gc.isenabled()  # not turned on by the block when it was off before
    finally:
        gc.enable()


def test_the_ingest_command_turns_collection_back_on_and_freezes_what_lives_at_its_end(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = tmp_path / "events.jsonl"
    events = [make_event(f"m{n}", n, task=f"T{n % 30}") for n in range(300)]
    path.write_text("".join(json.dumps(event) + "\n" for event in events))

    result = CliRunner().invoke(app, ["ingest", "--json", str(path)], env=env)
    # What lived at the command's end is frozen out of the interpreter's last
    # collections: what is left to them is what the runner made since.
    left_to_collect = len(gc.get_objects())
    gc.unfreeze()

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == 300
    assert gc.isenabled()
    assert left_to_collect < 200 < len(gc.get_objects())
