"""SLA rollups: kept by every write of clocks, they give the report the exact figures.

The oracle is the plain computation over the clock table (every answer of
the period, sorted): the report reading rollups must give the same counts,
and medians and p90s within a second (within 0.05 s, as the rollups keep
tenths). Histories come in any order (late events replay a thread), with
actions taken back (undo) and threads whose client is named later.
"""

from __future__ import annotations

import importlib.util
import random
import re
import tempfile
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text

from core.conversations.actions import UNDO_WINDOW, no_reply_needed, reply
from core.conversations.chats import link_chat
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.sla.policies import PolicyBook
from core.sla.report import SlaLine, SlaReport, daily_share_met, percentile, sla_report
from core.sla.rollups import LONGEST, decode, encode, percentiles, tenths
from core.store.connect import reader_for
from core.store.db import migrate, open_database
from core.store.models.system import table
from core.store.models.threads import SlaRollup, ThreadRef
from core.store.reader import Reader, required_instant
from tests.conftest import round_the_clock_settings
from tests.support import START, MovableClock, make_event

PARIS = ZoneInfo("Europe/Paris")
# Histories from late September to early December: months whole and cut,
# and the night the clocks go back (25 October).
FIRST_MINUTE = -64 * 24 * 60
LAST_MINUTE = 10 * 24 * 60
STAFF = ["Ann", "Bob", "Cid"]
ROLLUP, REFS = table(SlaRollup), table(ThreadRef)
MIGRATION = (
    Path(__file__).resolve().parents[3] / "core/store/migrations/versions/0008_sla_rollups.py"
)


def _migration_revisions() -> tuple[str, str]:
    """The rollups' migration's revision and the one it follows, read from its file."""
    found = dict(
        re.findall(r"^(revision|down_revision)[^=]*= '([^']+)'", MIGRATION.read_text(), re.M)
    )
    return found["revision"], found["down_revision"]


def staff_event(id_: str, minute: float, name: str, task: str, **fields: Any) -> dict[str, Any]:
    event = make_event(id_, minute, role="staff", task=task, **fields)
    event["author"] = {"name": name, "email": f"{name.lower()}@agency.example", "role": "staff"}
    return event


@st.composite
def histories(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Events of a few threads, in batches of any order."""
    events: list[dict[str, Any]] = []
    for thread in range(draw(st.integers(1, 5))):
        task = f"T{thread}"
        # None: the thread's first events name no client, a later one does.
        client = draw(st.sampled_from(["Acme", "Bigco", None]))
        later = draw(st.sampled_from(["Acme", "Bigco"]))
        minutes = sorted(
            draw(st.lists(st.integers(FIRST_MINUTE, LAST_MINUTE), min_size=1, max_size=8))
        )
        named_from = draw(st.integers(0, len(minutes)))
        for index, minute in enumerate(minutes):
            what = draw(st.sampled_from(["ask", "ask", "reply", "reply", "thanks", "note"]))
            name = draw(st.sampled_from(STAFF))
            seconds = draw(st.integers(0, 59)) / 60 + draw(st.integers(0, 9)) / 600
            who = client or (later if index >= named_from else None)
            id_ = f"{task}-{index}"
            at = minute + seconds
            if what == "ask":
                events.append(make_event(id_, at, task=task, client=who))
            elif what == "reply":
                events.append(staff_event(id_, at, name, task, client=who))
            elif what == "thanks":
                events.append(staff_event(id_, at, name, task, client=who, kind="no_reply_needed"))
            else:
                events.append(staff_event(id_, at, name, task, client=who, internal=True))
    shuffled = draw(st.permutations(events))
    size = draw(st.integers(1, max(1, len(shuffled))))
    return [shuffled[start : start + size] for start in range(0, len(shuffled), size)]


@st.composite
def actions(draw: st.DrawFn) -> list[tuple[int, int, str, bool]]:
    """(thread index, minute, reply or no reply needed, taken back) taken in pmdesk."""
    return draw(
        st.lists(
            st.tuples(
                st.integers(0, 4),
                st.integers(FIRST_MINUTE, LAST_MINUTE),
                st.sampled_from(["reply", "thanks"]),
                st.booleans(),
            ),
            max_size=4,
        )
    )


@st.composite
def periods(draw: st.DrawFn) -> tuple[datetime, datetime]:
    """Periods of whole local days or cut anywhere, a day to the whole history long."""

    def moment() -> datetime:
        minute = draw(st.integers(FIRST_MINUTE - 1440, LAST_MINUTE + 1440))
        at = START + timedelta(minutes=minute, seconds=draw(st.integers(0, 59)))
        if draw(st.booleans()):  # a local midnight
            day = at.astimezone(PARIS).date()
            return datetime(day.year, day.month, day.day, tzinfo=PARIS)
        return at

    since, until = sorted([moment(), moment()])
    return since, until + timedelta(days=1)


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def fresh_engine(folder: Path) -> Engine:
    path = Path(tempfile.mkdtemp(dir=folder)) / "pmdesk.db"
    return open_database(str(path))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # Each example builds a database: shrinking a failure would take minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(batches=histories(), taken=actions(), asked=st.lists(periods(), min_size=3, max_size=3))
def test_the_report_from_rollups_equals_the_exact_one(
    workspace: Path,
    batches: list[list[dict[str, Any]]],
    taken: list[tuple[int, int, str, bool]],
    asked: list[tuple[datetime, datetime]],
) -> None:
    engine = fresh_engine(workspace)
    try:
        clock = MovableClock()
        ingestor = Ingestor(engine, PolicyBook(round_the_clock_settings()), clock=clock)
        for batch in batches:
            ingestor.ingest(batch)
        take_actions(engine, ingestor, clock, taken)
        assert engine.url.database
        reader = reader_for(engine.url.database)
        now = START + timedelta(minutes=LAST_MINUTE + 2 * 1440)
        for since, until in asked:
            expected = exact_report(engine, since, until)
            assert_same(engine, sla_report(reader, since, until, now), expected)
            days = daily_share_met(reader, since, until, PARIS)
            found = [(day.day, day.answered, day.met) for day in days]
            assert found == exact_days(engine, since, until), (since, until)
        assert_kept(stored_rollups(engine), rebuilt_rollups(engine))
    finally:
        engine.dispose()


def assert_kept(
    stored: dict[tuple[str, str, str, int], tuple[Any, ...]],
    rebuilt: dict[tuple[str, str, str, int], tuple[Any, ...]],
) -> None:
    """The rows kept are those built from the clocks, but the latest month's month rows.

    Those a month of rollups has only once a later month has some: the
    latest month with day rows may have none of them, or all.
    """
    assert {key: stored[key] for key in stored} == {key: rebuilt.get(key) for key in stored}
    missing = {key for key in rebuilt if key not in stored}
    assert all(span == "month" for span, _, _, _ in missing), missing
    latest = max((start[:8] + "01" for span, start, _, _ in rebuilt if span == "day"), default="")
    assert {start for _, start, _, _ in missing} <= {latest}
    if missing:
        assert not [key for key in stored if key[0] == "month" and key[1] == latest]


def take_actions(
    engine: Engine,
    ingestor: Ingestor,
    clock: MovableClock,
    taken: list[tuple[int, int, str, bool]],
) -> None:
    with engine.connect() as connection:
        threads = list(
            connection.execute(select(REFS.c.thread_id).where(REFS.c.source == "webhook")).scalars()
        )
    if not threads:
        return
    ana = add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)
    for index, minute, kind, undone in taken:
        clock.instant = START + timedelta(minutes=minute)
        thread = threads[index % len(threads)]
        if kind == "reply":
            result = reply(ingestor, thread, ana, "On it.", clock=clock, hold=UNDO_WINDOW)
        else:
            result = no_reply_needed(ingestor, thread, ana, clock=clock)
        if undone and result.event_id is not None:
            ingestor.withdraw(result.event_id, "Ana", UNDO_WINDOW)


# -- the oracle: every answer of the period, read and sorted ---------------------------

_CLOCKS = text(
    "SELECT c.stopped_at, c.outcome, c.business_seconds, c.wall_seconds,"
    "       c.stopped_by_staff, t.client_id"
    "  FROM clock c JOIN thread t ON t.id = c.thread_id WHERE c.outcome != 'running'"
)


def stopped(engine: Engine, since: datetime, until: datetime) -> list[Any]:
    with engine.connect() as connection:
        rows = list(connection.execute(_CLOCKS))
    return [row for row in rows if since <= required_instant(row.stopped_at) < until]


def exact_report(engine: Engine, since: datetime, until: datetime) -> dict[tuple[str, int], Any]:
    groups: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for row in stopped(engine, since, until):
        for key in (
            ("all", 0),
            ("staff", row.stopped_by_staff or 0),
            ("client", row.client_id or 0),
        ):
            groups[key].append(row)
    figures = {}
    for key, rows in groups.items():
        outcomes = Counter(row.outcome for row in rows)
        answers = [row for row in rows if row.outcome != "no_reply_needed"]
        business = sorted(row.business_seconds or 0.0 for row in answers)
        wall = sorted(row.wall_seconds or 0.0 for row in answers)
        figures[key] = (
            outcomes["met"],
            outcomes["breached"],
            outcomes["no_reply_needed"],
            [percentile(business, 0.5), percentile(business, 0.9)],
            [percentile(wall, 0.5), percentile(wall, 0.9)],
        )
    return figures


def assert_same(engine: Engine, report: SlaReport, expected: dict[tuple[str, int], Any]) -> None:
    with engine.connect() as connection:
        staff = {name: id_ for id_, name in connection.execute(text("SELECT id, name FROM staff"))}
        clients = {
            name: id_ for id_, name in connection.execute(text("SELECT id, name FROM client"))
        }
    lines = {("all", 0): report.overall}
    lines |= {("staff", staff.get(line.name, 0)): line for line in report.by_staff}
    lines |= {("client", clients.get(line.name, 0)): line for line in report.by_client}
    assert len(lines) == 1 + len(report.by_staff) + len(report.by_client)
    for key, (met, breached, no_reply, business, wall) in expected.items():
        if key[0] == "staff" and met + breached == 0:
            assert key not in lines  # "no reply needed" alone makes no staff line
            continue
        line = lines[key]
        assert (line.met, line.breached, line.no_reply_needed) == (met, breached, no_reply), key
        assert_close(line, business, wall)
    for key, line in lines.items():
        if key not in expected:  # everyone, or a client with clocks running only
            assert key == ("all", 0) or (key[0] == "client" and line.open > 0), key
            assert line.answered == line.no_reply_needed == 0


def assert_close(line: SlaLine, business: list[float | None], wall: list[float | None]) -> None:
    found = [
        line.median_business_seconds,
        line.p90_business_seconds,
        line.median_wall_seconds,
        line.p90_wall_seconds,
    ]
    for got, want in zip(found, [*business, *wall], strict=True):
        if want is None:
            assert got is None
        else:
            assert got is not None and abs(got - want) <= 0.05 + 1e-9


def exact_days(engine: Engine, since: datetime, until: datetime) -> list[tuple[date, int, int]]:
    days: dict[date, Counter[str]] = defaultdict(Counter)
    for row in stopped(engine, since, until):
        days[required_instant(row.stopped_at).astimezone(PARIS).date()][row.outcome] += 1
    first = since.astimezone(PARIS).date()
    last = (until - timedelta(microseconds=1)).astimezone(PARIS).date()
    result = []
    day = first
    while day <= last:
        outcomes = days.get(day, Counter())
        result.append((day, outcomes["met"] + outcomes["breached"], outcomes["met"]))
        day += timedelta(days=1)
    return result


# -- the rows kept equal those built from scratch ---------------------------------------


def stored_rollups(engine: Engine) -> dict[tuple[str, str, str, int], tuple[Any, ...]]:
    with engine.connect() as connection:
        return {
            (row.span, row.start, row.dimension, row.member): (
                row.met,
                row.breached,
                row.no_reply_needed,
                row.answered,
                list(decode(row.business)),
                list(decode(row.wall)),
            )
            for row in connection.execute(select(ROLLUP))
        }


def rebuilt_rollups(engine: Engine) -> dict[tuple[str, str, str, int], tuple[Any, ...]]:
    """What the upgrade to rollups builds from the clocks alone."""
    spec = importlib.util.spec_from_file_location("sla_rollups_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with engine.connect() as connection:
        rows = migration._backfill(connection, PARIS)
    return {
        (row["span"], row["start"], row["dimension"], row["member"]): (
            row["met"],
            row["breached"],
            row["no_reply_needed"],
            row["answered"],
            list(decode(row["business"])),
            list(decode(row["wall"])),
        )
        for row in rows
    }


# -- examples ----------------------------------------------------------------------------


def test_an_existing_database_gets_its_rollups_on_upgrade(
    engine: Engine, ingestor: Ingestor, clock: MovableClock
) -> None:
    ingestor.ingest(
        [
            make_event("m1", -3000, task="A"),
            staff_event("r1", -2990, "Ann", task="A"),
            make_event("m2", 0, task="B", client="Bigco"),
            staff_event("r2", 30, "Bob", task="B"),
            make_event("m3", 5, task="C", client=None),
            staff_event("x3", 6, "Ann", task="C", kind="no_reply_needed"),
        ]
    )
    kept = stored_rollups(engine)
    assert kept  # kept by ingestion as it went
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE slarollup"))
        connection.execute(text("DROP TABLE slarollupzone"))
        connection.execute(
            text("UPDATE alembic_version SET version_num = :before"),
            {"before": _migration_revisions()[1]},
        )

    # Up to the rollups' own revision: later ones found their tables in place.
    migrate(engine, _migration_revisions()[0])

    # The upgrade builds the latest month's month rows too.
    assert_kept(kept, stored_rollups(engine))


def test_a_chat_linked_to_a_client_takes_its_answers_along(
    engine: Engine, ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest(
        [
            make_event("q", 0, task="-1001", client=None, source="telegram"),
            staff_event("a", 4, "Ann", task="-1001", client=None, source="telegram"),
            make_event("acme", 0, task="other"),  # makes the client Acme known
        ]
    )
    day = START.astimezone(PARIS).date()
    since = datetime(day.year, day.month, day.day, tzinfo=PARIS)
    until = since + timedelta(days=1)
    before = sla_report(reader, since, until, until)
    assert [(line.name, line.answered) for line in before.by_client] == [
        ("(no client)", 1),
        ("Acme", 0),
    ]

    link_chat(engine, -1001, "Acme", None, START)

    after = sla_report(reader, since, until, until)
    assert [(line.name, line.answered, line.open) for line in after.by_client] == [("Acme", 1, 1)]
    assert_kept(stored_rollups(engine), rebuilt_rollups(engine))


def test_percentiles_of_arrays_together_less_some_values() -> None:
    months = [array("i", range(0, 10_000, 2)), array("i", range(1, 10_000, 2))]
    outside = [array("i", range(0, 1000, 2))]
    everything = sorted([*range(10_000)])
    kept = sorted(set(everything) - set(range(0, 1000, 2)))

    assert percentiles(months, (0.5, 0.9)) == pytest.approx(
        [percentile([value / 10 for value in everything], share) for share in (0.5, 0.9)]
    )
    assert percentiles(months, (0.5, 0.9), outside) == pytest.approx(
        [percentile([value / 10 for value in kept], share) for share in (0.5, 0.9)]
    )
    assert percentiles([], (0.5,)) == [None]
    assert percentiles(months, (0.5,), months) == [None]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 3000), max_size=900), min_size=1, max_size=14),
    st.lists(st.tuples(st.integers(0, 13), st.integers(1, 4)), max_size=4),
    st.sampled_from([(0.5, 0.9), (0.0, 1.0), (0.25, 0.75, 0.99)]),
)
def test_percentiles_equal_those_of_the_merged_values(
    values: list[list[int]], taken_out: list[tuple[int, int]], shares: tuple[float, ...]
) -> None:
    # Repeated times, months of any size, some of a month's values taken out
    # (its days outside the period): the search by bisection, and the sorting
    # of the few values left between its bounds, find the ranks a sort finds.
    arrays = [array("i", sorted(month)) for month in values]
    less = [arrays[index][::step] for index, step in taken_out if index < len(arrays)]
    kept = Counter(value for month in arrays for value in month)
    kept.subtract(value for month in less for value in month)
    if any(count < 0 for count in kept.values()):
        return  # the same values taken out twice: never asked
    merged = [value / 10 for value in sorted(kept.elements())]

    found = percentiles(arrays, shares, less)

    if not merged:
        assert found == [None for _ in shares]
    else:
        assert found == pytest.approx([percentile(merged, share) for share in shares])


@settings(max_examples=200, deadline=None)
@given(
    # (times stored, times added): a few added one by one; many added to
    # many more (a month's row), slice by slice; many to few (a day's), by a sort.
    st.sampled_from([(0, 3), (40, 10), (0, 30), (300, 20), (2000, 60), (50, 40), (30, 200)]),
    st.randoms(use_true_random=False),
)
def test_a_row_s_times_change_as_a_count_of_each_time_would(
    sizes: tuple[int, int], rng: random.Random
) -> None:
    # Either way the row holds what counting each time gives, sorted, with
    # some times taken out (a clock's older version) among those added.
    from core.sla.rollups import _changed

    stored = [rng.randint(0, 500) for _ in range(sizes[0])]
    added = [rng.randint(0, 500) for _ in range(sizes[1])]
    taken = rng.sample(sorted(set(stored)), k=min(len(set(stored)), rng.randint(0, 8)))
    change = Counter(added)
    change.subtract(taken)
    expected = Counter(stored)
    expected.update(change)

    found = _changed(array("i", sorted(stored)), dict(change), ("day", "2026-01-05", "all", 0))

    assert list(found) == sorted(expected.elements())


def test_times_are_kept_in_tenths_and_a_time_of_years_does_not_overflow() -> None:
    assert [tenths(None), tenths(0.04), tenths(299.96), tenths(-1.0)] == [0, 0, 3000, 0]
    ten_years = 10 * 365 * 86400.0
    assert tenths(ten_years) == LONGEST
    assert list(decode(encode(array("i", [tenths(ten_years)])))) == [LONGEST]


def test_an_ingestor_keeps_its_rollup_rows_only_while_no_one_else_writes(engine: Engine) -> None:
    """The intake keeps the rollup rows it wrote from one batch to the next; a row another
    writer (the bot's ingestor) changed meanwhile is read again, not overwritten from memory."""
    clock = MovableClock()
    book = PolicyBook(round_the_clock_settings())
    intake = Ingestor(engine, book, clock=clock)
    bot = Ingestor(engine, book, clock=clock)

    intake.ingest([make_event("m1", 0, task="T1"), make_event("r1", 5, role="staff", task="T1")])
    intake.ingest([make_event("m2", 1, task="T2"), make_event("r2", 6, role="staff", task="T2")])
    bot.ingest([make_event("m3", 2, task="T3"), make_event("r3", 7, role="staff", task="T3")])
    intake.ingest([make_event("m4", 3, task="T4"), make_event("r4", 8, role="staff", task="T4")])

    stored = stored_rollups(engine)
    assert_kept(stored, rebuilt_rollups(engine))
    everyone = [values for key, values in stored.items() if key[0] == "day" and key[2] == "all"]
    assert [answered for _, _, _, answered, _, _ in everyone] == [4]


def test_a_month_gets_its_month_rows_once_a_later_month_has_rollups(
    engine: Engine, reader: Reader
) -> None:
    """Whichever writer's answer opens the later month, and whichever wrote before.

    The latest month has day rows only (every answer would otherwise
    rewrite a month of answers); the report reads its days, and reads the
    month's row once it has one, which late answers keep up.
    """
    clock = MovableClock()
    book = PolicyBook(round_the_clock_settings())
    intake = Ingestor(engine, book, clock=clock)
    bot = Ingestor(engine, book, clock=clock)
    december = 10 * 24 * 60  # minutes from START (23 November) to 3 December
    november = datetime(2026, 11, 1, tzinfo=PARIS), datetime(2026, 12, 1, tzinfo=PARIS)

    intake.ingest([make_event("m1", 0, task="T1"), make_event("r1", 5, role="staff", task="T1")])
    assert months_with_rows(engine) == set()
    assert sla_report(reader, *november, clock.instant).overall.answered == 1

    bot.ingest(
        [make_event("m2", december, task="T2"), staff_event("r2", december + 9, "Bob", "T2")]
    )
    assert months_with_rows(engine) == {"2026-11-01"}  # built from its days, December not
    intake.ingest([make_event("m3", 60, task="T3"), staff_event("r3", 70, "Ann", "T3")])
    intake.ingest([make_event("m4", 61, task="T4"), make_event("r4", 62, role="staff", task="T4")])

    assert_kept(stored_rollups(engine), rebuilt_rollups(engine))
    assert sla_report(reader, *november, clock.instant).overall.answered == 3
    december_report = sla_report(
        reader, november[1], datetime(2027, 1, 1, tzinfo=PARIS), clock.instant
    )
    assert december_report.overall.answered == 1


def months_with_rows(engine: Engine) -> set[str]:
    return {start for span, start, _, _ in stored_rollups(engine) if span == "month"}
