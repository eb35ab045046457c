"""`pmdesk ingest` and the cycle collector: off while it stores, but cycles still go."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from pmdesk import ingest


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
    gc.unfreeze()


def test_an_import_collects_cycles_every_so_many_lines_only_and_turns_collection_back_on(
    monkeypatch: pytest.MonkeyPatch, collections: list[int]
) -> None:
    monkeypatch.setattr(ingest, "COLLECT_EVERY", 3)
    collector = ingest._QuietCollector()

    with collector:
        assert not gc.isenabled()
        cycle = _Cycle()
        gone = weakref.ref(cycle)
        del cycle
        collector.stored(2)
        assert collections == [] and gone() is not None  # kept until enough lines
        collector.stored(1)
        assert collections == [2] and gone() is None  # a whole collection, the cycle freed
        for lines in (1, 1):
            collector.stored(lines)
        assert collections == [2]
        collector.stored(5)
        assert collections == [2, 2]

    assert gc.isenabled()


def test_collection_comes_back_on_when_an_import_fails(collections: list[int]) -> None:
    with pytest.raises(RuntimeError), ingest._QuietCollector():
        raise RuntimeError("the database went away")

    assert gc.isenabled()
