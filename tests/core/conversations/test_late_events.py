"""Late events: the clocks and thread state of the sorted events, for the cost of what changes.

A late event replays its thread from the clock state just before it, until
the replay agrees with what is stored; only the clocks that differ are
written, and `_Batch._clocks_changed` hears of every version it replaces and
writes. These tests compare every order of the same events, with duplicates
and batches of all sizes, against the events ingested sorted in one batch,
and count the rows SQLite actually writes.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text

from core.base.kinds import AuthorRole, EventKind
from core.conversations import ingest
from core.conversations.actions import UNDO_WINDOW, reply, undo
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.sla.clocks import CONTENT_FIELDS, ClockState, EventFacts, order_key
from core.sla.policies import PolicyBook
from core.store.db import open_database
from core.store.models.system import table
from core.store.models.threads import STOP_EVENTS, Clock
from tests.conftest import round_the_clock_settings
from tests.support import START, MovableClock, make_event

# -- what comes out, without ids ---------------------------------------------

_CLOCKS = """
    SELECT t.title, o.external_id, c.kind, c.policy, c.started_at, c.due_at, c.warn_at,
           c.escalate_at, c.stopped_at, s.external_id, st.name, c.outcome,
           c.business_seconds, c.wall_seconds
    FROM clock c
    JOIN thread t ON t.id = c.thread_id
    JOIN event o ON o.id = c.opened_by
    LEFT JOIN event s ON s.id = c.stopped_by
    LEFT JOIN staff st ON st.id = c.stopped_by_staff
    ORDER BY t.title, c.started_at, o.external_id
"""
_THREADS = """
    SELECT t.title, t.url, t.status, t.deadline, t.closed, t.last_event_at, o.external_id,
           (SELECT {concat}(s.name || '@' || a.since{separator}) FROM assignment a
            JOIN staff s ON s.id = a.staff_id WHERE a.thread_id = t.id)
    FROM thread t
    LEFT JOIN clock c ON c.id = t.clock_id
    LEFT JOIN event o ON o.id = c.opened_by
    ORDER BY t.title
"""


def outcome(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every clock (all columns, ids named by their events) and every thread's state."""
    with engine.connect() as connection:
        clocks = [tuple(row) for row in connection.execute(text(_CLOCKS))]
        concat = (
            {"concat": "group_concat", "separator": ""}
            if engine.dialect.name == "sqlite"
            else {"concat": "string_agg", "separator": ", ','"}
        )
        threads = [tuple(row) for row in connection.execute(text(_THREADS.format(**concat)))]
    return clocks, threads


def stored_clocks(engine: Engine) -> dict[int, tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(select(table(Clock))).mappings().all()
    return {row["id"]: ClockState.from_row(dict(row)).content() for row in rows}


class ChangeLog:
    """Replays `_clocks_changed` onto a copy of the clock table, checking each removal."""

    def __init__(self) -> None:
        self.table: dict[int, tuple[Any, ...]] = {}
        self.calls: list[tuple[list[ClockState], list[ClockState]]] = []

    def __call__(self, removed: list[ClockState], added: list[ClockState]) -> None:
        self.calls.append(([*removed], [*added]))
        for clock in removed:
            assert clock.id is not None
            # What is said to be removed is exactly what was stored.
            assert self.table.pop(clock.id) == clock.content()
        for clock in added:
            assert clock.id is not None
            assert clock.id not in self.table
            self.table[clock.id] = clock.content()


@contextmanager
def logged_changes(
    monkeypatch: pytest.MonkeyPatch, engine: Engine | None = None
) -> Iterator[ChangeLog]:
    """Record `_clocks_changed`, starting from the clocks stored in `engine` if given."""
    log = ChangeLog()
    if engine is not None:
        log.table = stored_clocks(engine)
    with monkeypatch.context() as patch:
        patch.setattr(
            ingest._Batch, "_clocks_changed", lambda _batch, removed, added: log(removed, added)
        )
        yield log


# -- the property --------------------------------------------------------------

STAFF = ["Sam Staff", "Ana Assist"]
TASKS = ["T1", "T2", "T3"]


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events on a few threads, on few distinct minutes so that instants tie often."""
    count = draw(st.integers(1, 28))
    events = []
    for number in range(count):
        task = draw(st.sampled_from(TASKS))
        minute = draw(st.integers(0, 40)) * 1.5
        what = draw(
            st.sampled_from(
                [
                    "client",
                    "client",
                    "client",
                    "reply",
                    "reply",
                    "note",
                    "client_note",
                    "no_reply",
                    "status",
                    "deadline",
                    "assignee",
                    "closed",
                    "reopened",
                ]
            )
        )
        # Ids of different lengths and shapes: the tie-break sorts "9" before "10".
        event_id = draw(st.sampled_from([f"{number}", f"e{number}", f"{number:03d}x"]))
        staff = draw(st.sampled_from(STAFF))
        author = {"name": staff, "email": f"{staff.split()[0].lower()}@agency.example"}
        staff_author = {**author, "role": "staff"}
        base = make_event(event_id, minute, task=task)
        # Titles change over time; the newest event's title is the thread's.
        base["task"] = {**base["task"], "title": f"Task {task} v{number}" if number % 2 else None}
        if what == "client":
            pass
        elif what == "client_note":
            base["internal"] = True
        elif what == "reply":
            base["author"] = staff_author
        elif what == "note":
            base.update(author=staff_author, internal=True)
        elif what == "no_reply":
            base.update(author=staff_author, kind="no_reply_needed")
        elif what == "status":
            base.update(author=staff_author, kind="status", status=f"S{number % 3}")
        elif what == "deadline":
            base.update(author=staff_author, kind="deadline", deadline=f"2026-12-{number + 1:02d}")
        elif what == "assignee":
            other = draw(st.sampled_from(STAFF))
            base.update(
                author=staff_author,
                kind="assignee",
                assignee={"name": other, "email": f"{other.split()[0].lower()}@agency.example"},
            )
        elif what == "closed":
            base.update(author=staff_author, kind="task_closed")
        else:
            base.update(author=staff_author, kind="task_reopened")
        events.append(base)
    return events


def _sort_key(event: dict[str, Any]) -> Any:
    from datetime import datetime

    return order_key(datetime.fromisoformat(event["occurred_at"]), event["source"], event["id"])


def _ingest_all(path: Path, batches: list[list[dict[str, Any]]], *, behind: bool = False) -> Engine:
    """Each batch by a call of its own, or (`behind`) each committed while the next is parsed."""
    engine = open_database(str(path))
    ingestor = Ingestor(engine, PolicyBook(round_the_clock_settings()), clock=MovableClock())
    if behind:
        for _ in ingestor.ingest_batches(batches):
            pass
    else:
        for batch in batches:
            ingestor.ingest(batch)
    return engine


@hsettings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), events=histories())
def test_every_arrival_order_and_batching_gives_the_clocks_and_state_of_the_sorted_events(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    data: st.DataObject,
    events: list[dict[str, Any]],
) -> None:
    unique = {(event["source"], event["id"]): event for event in events}
    events = list(unique.values())
    folder = tmp_path_factory.mktemp("late")
    expected_engine = _ingest_all(folder / "sorted.db", [sorted(events, key=_sort_key)])
    expected = outcome(expected_engine)
    expected_engine.dispose()

    # Duplicates (webhook retries, overlapping polls), then any order, any batches.
    copies = data.draw(st.lists(st.sampled_from(events), max_size=6), label="duplicates")
    arrival = data.draw(st.permutations(events + copies), label="arrival")
    cuts = data.draw(st.lists(st.integers(1, max(1, len(arrival) - 1)), max_size=6), label="cuts")
    bounds = [0, *sorted(set(cuts)), len(arrival)]
    batches = [arrival[start:end] for start, end in itertools.pairwise(bounds)]
    # Small pages make the replay read on past its first window, through runs
    # of events at the same instant.
    page = data.draw(st.sampled_from([2, 3, ingest._PAGE]), label="page")
    behind = data.draw(st.booleans(), label="committed behind the next batch")
    with logged_changes(monkeypatch) as log, monkeypatch.context() as patch:
        patch.setattr(ingest, "_PAGE", page)
        engine = _ingest_all(folder / "shuffled.db", batches, behind=behind)

    assert outcome(engine) == expected
    # What _clocks_changed was told, applied in turn, is the clock table.
    assert log.table == stored_clocks(engine)
    engine.dispose()


# -- what is written -------------------------------------------------------------


def install_write_counter(engine: Engine) -> None:
    """Triggers that count the clock rows the database inserts, updates and deletes."""
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE clock_writes (what TEXT, clock INTEGER)"))
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(
                    "CREATE FUNCTION count_clock_write() RETURNS trigger LANGUAGE plpgsql AS $$"
                    " BEGIN IF TG_OP = 'DELETE' THEN INSERT INTO clock_writes VALUES"
                    " ('delete', OLD.id); ELSE INSERT INTO clock_writes VALUES"
                    " (lower(TG_OP), NEW.id); END IF; RETURN NULL; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER count_clock_writes AFTER INSERT OR UPDATE OR DELETE ON clock"
                    " FOR EACH ROW EXECUTE FUNCTION count_clock_write()"
                )
            )
            return
        for what, row in (("insert", "NEW"), ("update", "NEW"), ("delete", "OLD")):
            connection.execute(
                text(
                    f"CREATE TRIGGER count_clock_{what} AFTER {what.upper()} ON clock "
                    f"BEGIN INSERT INTO clock_writes VALUES ('{what}', {row}.id); END"
                )
            )


def clock_writes(engine: Engine) -> list[tuple[str, int]]:
    with engine.begin() as connection:
        found = [tuple(row) for row in connection.execute(text("SELECT * FROM clock_writes"))]
        connection.execute(text("DELETE FROM clock_writes"))
    return found


def long_thread(clocks: int) -> list[dict[str, Any]]:
    """`clocks` answered clocks: a client message every 10 minutes, a reply 5 minutes later."""
    events = []
    for number in range(clocks):
        events.append(make_event(f"m{number}", number * 10))
        events.append(make_event(f"r{number}", number * 10 + 5, role="staff"))
    return events


@pytest.mark.parametrize(
    "late",
    [
        make_event("s1", 22, role="staff", kind="status", status="Waiting"),
        make_event("d1", 22, role="staff", kind="deadline", deadline="2026-12-24"),
        make_event("n1", 22, role="staff", internal=True),
        make_event("c1", 27, internal=True),  # a client's internal note opens nothing
        make_event("c2", 22),  # a client message while a clock runs: the oldest rules
        make_event("late-r", 27, role="staff"),  # a reply when no clock runs
    ],
    ids=["status", "deadline", "staff-note", "client-note", "client-while-running", "reply"],
)
def test_a_late_event_that_changes_no_clock_writes_none(
    engine: Engine, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch, late: dict[str, Any]
) -> None:
    ingestor.ingest(long_thread(8))
    before = outcome(engine)[0]
    install_write_counter(engine)

    with logged_changes(monkeypatch, engine) as log:
        [result] = ingestor.ingest([late])

    assert result.status == "created"
    assert clock_writes(engine) == []
    assert log.calls == [([], [])]
    assert outcome(engine)[0] == before


def test_a_late_reply_rewrites_only_the_clock_it_stops(
    engine: Engine, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingestor.ingest(long_thread(8))
    stored = stored_clocks(engine)
    install_write_counter(engine)
    third = next(clock_id for clock_id, row in stored.items() if row[4] == START.replace(minute=20))

    with logged_changes(monkeypatch, engine) as log:
        ingestor.ingest([make_event("r-early", 21, role="staff")])

    assert clock_writes(engine) == [("update", third)]
    [(removed, added)] = log.calls
    assert [clock.id for clock in removed] == [clock.id for clock in added] == [third]
    assert removed[0].content() == stored[third]
    assert added[0].stopped_at == START.replace(minute=21)
    assert added[0].outcome == "met"
    after = stored_clocks(engine)
    assert {key: value for key, value in after.items() if key != third} == {
        key: value for key, value in stored.items() if key != third
    }


def test_a_late_reply_among_many_client_messages_reads_on_only_to_the_next_reply(
    engine: Engine, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One clock runs through 300 client messages a minute apart, answered
    # only at the end. A reply arriving late in the middle stops it there;
    # the next message opens another, which the same last reply stops.
    events = [make_event("first", 0), make_event("r-first", 1, role="staff")]
    events += [make_event(f"m{number}", 2 + number) for number in range(300)]
    events.append(make_event("r-last", 302, role="staff"))
    ingestor.ingest(events)
    read: list[int] = []
    more_events = ingest._Batch._more_events

    def counted(batch: Any, windows: Any) -> dict[int, list[Any]]:
        pages = more_events(batch, windows)
        read.extend(facts.id for page in pages.values() for facts in page)
        return pages

    with monkeypatch.context() as patch:
        patch.setattr(ingest, "_PAGE", 20)
        patch.setattr(ingest._Batch, "_more_events", counted)
        [result] = ingestor.ingest([make_event("r-middle", 152.5, role="staff")])

    assert result.status == "created"
    clocks = outcome(engine)[0]
    assert [(clock[1], clock[9]) for clock in clocks] == [
        ("first", "r-first"),
        ("m0", "r-middle"),
        ("m151", "r-last"),
    ]
    # Past the page in which the new clock opened, while both replays hold a
    # running clock, only the next reply is read, not the 129 messages before it.
    assert len(read) == 20 + 1


def test_the_page_of_stops_reads_the_events_whose_facts_stop_a_clock() -> None:
    # Every kind, author and internal flag as a row of the events' table: the
    # statement a replay reads while both its versions hold a running clock
    # gives exactly those that EventFacts, and so the reducer, say stop one.
    combinations = list(itertools.product(EventKind, AuthorRole, (False, True)))
    database = sqlite3.connect(":memory:")
    database.execute(
        "CREATE TABLE event (id INTEGER, thread_id INTEGER, source TEXT, external_id TEXT,"
        " kind TEXT, occurred_at TEXT, author_role TEXT, internal BOOLEAN, staff_id INTEGER)"
    )
    database.execute(
        f"CREATE INDEX ix_event_stops ON event (thread_id, occurred_at) WHERE {STOP_EVENTS}"
    )
    database.executemany(
        "INSERT INTO event VALUES (?, 1, 'webhook', ?, ?, ?, ?, ?, NULL)",
        [
            (number, str(number), kind.value, f"2026-01-05 08:00:{number:02d}", role.value, inside)
            for number, (kind, role, inside) in enumerate(combinations)
        ],
    )

    rows = database.execute(ingest._STOPS_SQL, (1, "2026-01-05", len(combinations))).fetchall()

    read = {ingest._stored_facts(row).id for row in rows}
    assert read == {
        number
        for number, (kind, role, inside) in enumerate(combinations)
        if EventFacts(number, order_key(START, "webhook", "x"), kind, role, inside, None).stops
    }
    assert read  # the replies and "no reply needed" are there


def test_the_page_of_stops_is_read_through_the_index_of_stops(tmp_path: Path) -> None:
    # Not through the index of all the thread's events: that walked past every
    # client message before the next reply (9,000 rows on the bench's thread
    # of 30,000 events). SQLite uses a partial index only for a query whose
    # condition repeats the index's: this holds the two together.
    connection = sqlite3.connect(open_database(str(tmp_path / "pmdesk.db")).url.database or "")
    plan = connection.execute(
        "EXPLAIN QUERY PLAN " + ingest._STOPS_SQL, (1, "2026-01-05", 20)
    ).fetchall()
    connection.close()

    assert [row[-1] for row in plan] == [
        "SEARCH event USING INDEX ix_event_stops (thread_id=? AND occurred_at>?)"
    ]


def test_a_late_message_between_clocks_opens_one_and_touches_no_other(
    engine: Engine, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingestor.ingest(long_thread(8))
    install_write_counter(engine)

    with logged_changes(monkeypatch, engine) as log:
        [result] = ingestor.ingest([make_event("m-between", 27)])

    # It opens a clock; the client message at minute 30 finds it running and
    # opens nothing (its clock goes), and the reply at 35 stops the new one.
    [(what, new_id), (gone_what, gone_id)] = sorted(clock_writes(engine), reverse=True)
    assert (what, gone_what) == ("insert", "delete")
    [(removed, added)] = log.calls
    assert [clock.id for clock in removed] == [gone_id]
    assert [clock.id for clock in added] == [new_id]
    assert added[0].opened_by == result.event_id
    assert added[0].stopped_at == START.replace(minute=35)
    assert added[0].outcome == "met"


def test_a_late_first_message_makes_the_old_first_clock_a_next_one(
    engine: Engine, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingestor.ingest(long_thread(3))
    ingestor.ingest([make_event("r-before", -20, role="staff")])  # nothing to stop: no write
    install_write_counter(engine)

    with logged_changes(monkeypatch, engine) as log:
        ingestor.ingest([make_event("m-first", -30)])

    writes = clock_writes(engine)
    assert sorted(what for what, _ in writes) == ["insert", "update"]
    [(removed, added)] = log.calls
    assert [clock.kind for clock in removed] == ["first"]
    assert sorted(clock.kind for clock in added) == ["first", "next"]
    clocks, _ = outcome(engine)
    assert [row[2] for row in clocks] == ["first", "next", "next", "next"]


def test_withdrawing_a_reply_tells_the_stopped_and_the_running_version(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    ana = add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)
    clock.advance(minutes=3)
    result = reply(ingestor, 1, ana, "on it", clock=clock, hold=UNDO_WINDOW)
    [stopped] = stored_clocks(engine).values()
    assert stopped[CONTENT_FIELDS.index("outcome")] == "met"

    with logged_changes(monkeypatch, engine) as log:
        undo(ingestor, result.event_id or 0, ana)

    [(removed, added)] = log.calls
    assert [clock.outcome for clock in removed] == ["met"]
    assert [clock.outcome for clock in added] == ["running"]
    assert log.table == stored_clocks(engine)


def test_a_database_from_before_gets_its_threads_filled_and_keeps_every_raw_text(
    tmp_path: Path,
) -> None:
    from core.store.db import create_db_engine, migrate

    engine = create_db_engine(str(tmp_path / "old.db"))
    migrate(engine, "0006")
    at = "2026-11-23 09:{:02d}:00.000000"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO thread (id, kind, channel, title, closed, created_at) "
                "VALUES (1, 'task', 'webhook', 'T', 0, :at)"
            ),
            {"at": at.format(0)},
        )
        for number, minute in ((1, 0), (2, 5), (3, 20), (4, 3)):
            connection.execute(
                text(
                    "INSERT INTO event (id, source, external_id, thread_id, kind, occurred_at, "
                    "received_at, author_role, text, internal, raw, triage) VALUES "
                    "(:id, 'webhook', :ext, 1, 'message', :at, :at, 'client', '', 0, :raw, 'new')"
                ),
                {
                    "id": number,
                    "ext": f"m{number}",
                    "at": at.format(minute),
                    "raw": f"raw {number}",
                },
            )
        for clock_id, opener, minute in ((1, 1, 0), (2, 3, 20)):
            connection.execute(
                text(
                    "INSERT INTO clock (id, thread_id, opened_by, kind, policy, started_at, "
                    "due_at, warn_at, escalate_at, outcome) VALUES "
                    "(:id, 1, :opener, 'first', 'default', :at, :at, :at, :at, 'running')"
                ),
                {"id": clock_id, "opener": opener, "at": at.format(minute)},
            )

    migrate(engine)

    with engine.connect() as connection:
        raws = connection.execute(text("SELECT event_id, raw FROM event_raw ORDER BY 1")).all()
        thread = connection.execute(text("SELECT last_event_at, clock_id FROM thread")).one()
        columns = {row[1] for row in connection.execute(text("PRAGMA table_info(event)"))}
    assert [tuple(row) for row in raws] == [(n, f"raw {n}") for n in (1, 2, 3, 4)]
    assert tuple(thread) == (at.format(20), 2)
    assert "raw" not in columns
    engine.dispose()
