"""A bad event is rejected on its own: its neighbours in the batch are stored regardless.

Real SQLite; the only injected fault is an error raised while one chosen
event is stored, standing for a bug no validation foresaw.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.exc import OperationalError

from core.config.settings import Settings
from core.conversations import ingest as ingest_module
from core.conversations.events import EARLIEST, LATEST
from core.conversations.ingest import Ingestor
from core.sla.policies import PolicyBook
from core.store.db import open_database
from core.store.models.system import table
from core.store.models.threads import Event
from tests.hostile import HOSTILE, mixed_batches, valid_line
from tests.support import MovableClock, make_event

E = table(Event)


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(E.c.external_id)).scalars())


@pytest.mark.parametrize(
    "instant",
    [
        "9999-12-31T23:59:59+00:00",
        "0001-01-01T00:00:00+00:00",
        "0001-01-01T00:00:00+14:00",
        "1969-12-31T23:59:59+00:00",
        "2100-01-01T00:00:00+00:00",
    ],
)
def test_an_instant_outside_the_window_is_rejected_alone_and_the_window_named(
    ingestor: Ingestor, engine: Engine, instant: str
) -> None:
    results = ingestor.ingest(
        [make_event("good", 0), make_event("bad", 1, task="T2", occurred_at=instant)]
    )

    assert [result.status for result in results] == ["created", "rejected"]
    reason = results[1].reason or ""
    assert reason.startswith("occurred_at: ")
    assert EARLIEST.date().isoformat() in reason and LATEST.date().isoformat() in reason
    assert stored_ids(engine) == {"good"}


def test_instants_at_the_edges_of_the_window_are_accepted(
    ingestor: Ingestor, engine: Engine
) -> None:
    results = ingestor.ingest(
        [
            make_event("first", 0, task="A", occurred_at=EARLIEST.isoformat()),
            make_event("last", 0, task="B", occurred_at=LATEST.isoformat()),
        ]
    )

    assert [result.status for result in results] == ["created", "created"]


def test_a_deadline_outside_the_window_is_rejected(ingestor: Ingestor) -> None:
    [result] = ingestor.ingest(
        [make_event("d", 0, kind="deadline", role="staff", deadline="0001-01-01T00:00:00+14:00")]
    )

    assert result.status == "rejected"
    assert (result.reason or "").startswith("deadline: ")


@pytest.mark.parametrize(
    ("literal", "why"),
    [
        ("1e400", "out of range"),
        ("NaN", "NaN is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ("9" * 5000, "more than 100 digits"),
    ],
    ids=["1e400", "NaN", "-Infinity", "5000 digits"],
)
def test_numbers_json_cannot_hold_are_rejected_not_stored_as_text(
    ingestor: Ingestor, engine: Engine, literal: str, why: str
) -> None:
    text = json.dumps(make_event("x", 0)).replace('"id": "x"', f'"id": {literal}')

    [result] = ingestor.ingest([text])

    assert result.status == "rejected"
    assert why in (result.reason or "")
    assert stored_ids(engine) == set()


@pytest.mark.parametrize("field", ["text", "client", "status"])
@pytest.mark.parametrize("literal", ["1E400", "Infinity", "NaN", "-" + "1" * 101])
def test_a_number_json_cannot_hold_is_found_in_any_text_field(
    ingestor: Ingestor, engine: Engine, field: str, literal: str
) -> None:
    event = make_event("x", 0) | {"project": "A long project name " * 10}
    event.pop(field, None)
    text = json.dumps(event)[:-1] + f', "{field}": {literal}}}'

    [result] = ingestor.ingest([text])

    assert result.status == "rejected"
    assert stored_ids(engine) == set()


def test_texts_that_only_read_like_numbers_are_accepted(ingestor: Ingestor) -> None:
    event = make_event("x", 0) | {
        "text": "Informations: NaN and Infinity, " + "9" * 150,
        "status": "inf",
    }

    [result] = ingestor.ingest([json.dumps(event)])

    assert result.status == "created"


def test_nesting_deeper_than_the_limit_is_rejected(ingestor: Ingestor) -> None:
    event = make_event("deep", 0)
    nested: list[object] = []
    for _ in range(70):
        nested = [nested]
    event["extra"] = {"a": nested}

    [as_text] = ingestor.ingest([json.dumps(event)])

    assert as_text.status == "rejected"
    assert "nested more than 64 levels deep" in (as_text.reason or "")


def test_an_unexpected_error_storing_one_event_rejects_it_alone(
    ingestor: Ingestor, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ingest_module._Batch._event_row

    def failing(batch: ingest_module._Batch, item: ingest_module._Pending) -> object:
        if item.event.id == "boom":
            raise ArithmeticError("a fault injected for this event")
        return original(batch, item)

    monkeypatch.setattr(ingest_module._Batch, "_event_row", failing)
    events = [make_event(f"ok-{n}", n, task=f"T{n % 3}") for n in range(9)]
    events.insert(4, make_event("boom", 4, task="T1"))

    results = ingestor.ingest(events)

    assert [result.status for result in results].count("created") == 9
    [refused] = [result for result in results if result.status == "rejected"]
    assert refused.position == 4
    assert refused.reason == "could not be stored: internal error (ArithmeticError)"
    assert stored_ids(engine) == {f"ok-{n}" for n in range(9)}
    # And the next batch is stored as usual.
    assert ingestor.ingest([make_event("later", 20)])[0].status == "created"


@hsettings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=mixed_batches())
def test_rejected_lines_never_stop_their_valid_neighbours(
    tmp_path: Path, settings: Settings, batch: list[tuple[str, str | bytes]]
) -> None:
    engine = open_database(str(tmp_path / f"{uuid.uuid4().hex}.db"))  # one per example
    try:
        results = Ingestor(engine, PolicyBook(settings), clock=MovableClock()).ingest(
            [line for _, line in batch]
        )
        for (kind, _), result in zip(batch, results, strict=True):
            assert result.status == ("created" if kind == "valid" else "rejected"), (kind, result)
            if kind != "valid":
                assert result.reason
        valid = {json.loads(line)["id"] for kind, line in batch if kind == "valid"}
        assert stored_ids(engine) == valid
    finally:
        engine.dispose()


def test_every_kind_of_hostile_line_is_rejected_next_to_a_valid_one(
    ingestor: Ingestor, engine: Engine
) -> None:
    names = sorted(HOSTILE)
    lines: list[str | bytes] = []
    for number, name in enumerate(names):
        lines += [valid_line(number), HOSTILE[name](number)]

    results = ingestor.ingest(lines)

    statuses = {name: results[2 * n + 1].status for n, name in enumerate(names)}
    assert statuses == dict.fromkeys(names, "rejected")
    assert all(results[2 * n].status == "created" for n in range(len(names)))
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(E)).scalar_one() == len(names)


def test_a_full_database_fails_the_batch_whole_and_blames_no_event(
    tmp_path: Path, settings: Settings
) -> None:
    """SQLITE_FULL, for real: the database may not grow past its current pages."""
    engine = open_database(str(tmp_path / "full.db"))
    ingestor = Ingestor(engine, PolicyBook(settings), clock=MovableClock())
    ingestor.ingest([make_event("before", 0)])
    limit = {"pages": 0}

    @event.listens_for(engine, "begin")
    def _cap(connection: Connection) -> None:
        # On every connection that begins, whichever the pool hands out, and lifted alike.
        connection.exec_driver_sql(f"PRAGMA max_page_count = {limit['pages'] or 4294967294}")

    with engine.connect() as connection:
        limit["pages"] = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
    big = [make_event(f"big-{n}", n, task=f"B{n}", text="x" * 5000) for n in range(40)]

    with pytest.raises(OperationalError, match="full"):
        ingestor.ingest(big)

    assert stored_ids(engine) == {"before"}
    limit["pages"] = 0
    assert {result.status for result in ingestor.ingest(big)} == {"created"}
    engine.dispose()
