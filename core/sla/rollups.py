"""SLA rollups: the stopped clocks of each local day and month, summed as they are written.

A report over a year would otherwise read every clock of the year. A rollup
row (core.store.models.threads.SlaRollup) holds, for one local day or month
and one staff member (who answered), one client (the thread's) or everyone:
the outcome counts and the answers' business and wall response times as a
sorted array of tenths of a second. Two rows merge by concatenating their
arrays, and a percentile of several sorted arrays is found by counting with
bisection (`percentiles`), without merging them: a whole year is a dozen
month rows and a few day rows per line of the report (the latest month's
days: it has no month rows until a later one has rollups, see
`_months_built`). Times kept to a tenth
of a second put a median or p90 within 0.05 s of the exact one.

Days and months are those of one zone, stored with the rollups (the
configured time zone when they were first built). A report in another zone
is still exact: it reads the clocks of the part of its period that is not
made of whole days of the rollups' zone straight from the clock table.

Writers keep the rollups in their own transaction: `record` with the old and
new versions of the clocks they rewrite, `move_threads` before a thread's
client changes. Only stopped clocks count; running ones are read live.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from itertools import repeat
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from core.base.paths import configured
from core.store.reader import Reader, required_instant

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from core.sla.clocks import ClockState


class _Log:
    """The module's logger, made on first use: the read side logs nothing, and
    a read command starts faster without the logging module."""

    def error(self, message: str, *args: Any) -> None:
        import logging

        logging.getLogger("pmdesk.sla").error(message, *args)


log = _Log()

DAY, MONTH = "day", "month"
STAFF, CLIENT, ALL = "staff", "client", "all"
# The member of a row for nobody (no staff member, no client) and for everyone.
NONE = 0
DEFAULT_ZONE = "Europe/Paris"
_MET, _BREACHED, _NO_REPLY = "met", "breached", "no_reply_needed"
_ANSWERS = frozenset({_MET, _BREACHED})
_BIG_ENDIAN = sys.byteorder == "big"
# So many times or fewer are sorted together rather than searched by bisection.
_SORT_BELOW = 512


# -- the stored form ---------------------------------------------------------------------


def tenths(seconds: float | None) -> int:
    """A response time as stored: whole tenths of a second (a missing one is 0).

    Kept in 32 bits: a time beyond LONGEST (about 6.8 years, an answer to a
    message of long ago in imported history) counts as LONGEST.
    """
    return min(max(round((seconds or 0.0) * 10), 0), LONGEST)


LONGEST = 2**31 - 1


def decode(blob: bytes | None) -> array[int]:
    values: array[int] = array("i")
    if blob:
        values.frombytes(blob)
        if _BIG_ENDIAN:
            values.byteswap()
    return values


def view(blob: bytes | None) -> Sequence[int]:
    """A stored array to read, without copying it: a year's rows hold megabytes."""
    if not blob:
        return array("i")
    if _BIG_ENDIAN:
        return decode(blob)
    return memoryview(blob).cast("i")


def encode(values: array[int]) -> bytes:
    if _BIG_ENDIAN:
        values = array("i", values)
        values.byteswap()
    return values.tobytes()


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def stored_zone(reader: Reader) -> ZoneInfo | None:
    """The zone of the rollups' days; None before any was built."""
    rows = reader.rows("SELECT zone FROM slarollupzone")
    return ZoneInfo(rows[0][0]) if rows else None


# -- reading -----------------------------------------------------------------------------


class Tally:
    """One line's stopped clocks: outcome counts and sorted arrays of times (tenths).

    The `less_` arrays are times to take out of the others: the days of a
    month outside the period, when reading the month is cheaper than its days.
    (A plain class: a dataclass costs the read commands' start-up milliseconds.)
    """

    __slots__ = (
        "breached",
        "business",
        "less_business",
        "less_wall",
        "met",
        "no_reply_needed",
        "wall",
    )

    def __init__(self) -> None:
        self.met = self.breached = self.no_reply_needed = 0
        self.business: list[Sequence[int]] = []
        self.wall: list[Sequence[int]] = []
        self.less_business: list[Sequence[int]] = []
        self.less_wall: list[Sequence[int]] = []

    @property
    def answered(self) -> int:
        return self.met + self.breached


def read_days(
    reader: Reader, first: date, end: date, tallies: dict[tuple[str, int], Tally]
) -> None:
    """Add the rollups of local days [first, end) to `tallies`, keyed (dimension, member).

    A month wholly inside is its month row; a month mostly inside is its
    month row less the rows of its days outside; the others are their days,
    and so is a month without month rows (the latest: see `_months_built`).
    """
    signs: dict[tuple[str, str], int] = {}
    spans = []  # (month, its first day inside, the day after its last inside, next month)
    month = first.replace(day=1)
    while month < end:
        following = _next_month(month)
        spans.append((month, max(first, month), min(end, following), following))
        month = following
    mostly = [m for m, low, high, f in spans if (high - low).days > (f - m).days // 2]
    built = _built_months(reader, mostly)
    for month, low, high, following in spans:
        if month in built:
            signs[(MONTH, month.isoformat())] = 1
            outside = [*_days(month, low), *_days(high, following)]
            signs.update({(DAY, day.isoformat()): -1 for day in outside})
        else:
            signs.update({(DAY, day.isoformat()): 1 for day in _days(low, high)})
    names: dict[str, str] = {}
    wanted: list[str] = []
    # Each span asks for its own starts: a month's first day is not read as a day.
    for span in (MONTH, DAY):
        marks = []
        for kind, start in signs:
            if kind == span:
                marks.append(f":s{len(names)}")
                names[f"s{len(names)}"] = start
        if marks:
            wanted.append(f"(span = '{span}' AND start IN ({', '.join(marks)}))")
    if not wanted:
        return
    query = f"""
SELECT span, start, dimension, member, met, breached, no_reply_needed, business, wall
  FROM slarollup WHERE {" OR ".join(wanted)}
"""
    for span, start, dimension, member, met, breached, no_reply, business, wall in reader.rows(
        query, names
    ):
        sign = signs[(span, start)]
        tally = tallies.get((dimension, member))
        if tally is None:
            tally = tallies[(dimension, member)] = Tally()
        tally.met += sign * met
        tally.breached += sign * breached
        tally.no_reply_needed += sign * no_reply
        if met or breached:
            if sign > 0:
                tally.business.append(view(business))
                tally.wall.append(view(wall))
            else:
                tally.less_business.append(view(business))
                tally.less_wall.append(view(wall))


def _built_months(reader: Reader, months: list[date]) -> set[date]:
    """Those of `months` that have month rows; no query for none (a week's report)."""
    if not months:
        return set()
    marks = {f"m{index}": month.isoformat() for index, month in enumerate(months)}
    rows = reader.rows(
        f"SELECT start FROM slarollup WHERE span = '{MONTH}' AND dimension = '{ALL}'"
        f" AND member = {NONE} AND start IN ({', '.join(':' + name for name in marks)})",
        marks,
    )
    return {date.fromisoformat(start) for (start,) in rows}


def _days(first: date, end: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((end - first).days)]


def add_clocks(rows: Iterable[Sequence[Any]], tallies: dict[tuple[str, int], Tally]) -> None:
    """Add clocks read exactly, as (outcome, business, wall, staff id, client id) rows."""
    business: dict[tuple[str, int], list[int]] = {}
    wall: dict[tuple[str, int], list[int]] = {}
    for outcome, business_seconds, wall_seconds, staff, client in rows:
        for key in ((ALL, NONE), (STAFF, staff or NONE), (CLIENT, client or NONE)):
            tally = tallies.get(key)
            if tally is None:
                tally = tallies[key] = Tally()
            if outcome == _MET:
                tally.met += 1
            elif outcome == _BREACHED:
                tally.breached += 1
            elif outcome == _NO_REPLY:
                tally.no_reply_needed += 1
                continue
            else:
                continue
            business.setdefault(key, []).append(tenths(business_seconds))
            wall.setdefault(key, []).append(tenths(wall_seconds))
    for key, values in business.items():
        tallies[key].business.append(array("i", sorted(values)))
        tallies[key].wall.append(array("i", sorted(wall[key])))


def percentiles(
    arrays: Sequence[Sequence[int]], shares: Sequence[float], less: Sequence[Sequence[int]] = ()
) -> list[float | None]:
    """Percentiles in seconds (numpy's linear interpolation) of sorted arrays of tenths.

    The arrays are taken together, as if merged, without the values of
    `less` (each of which some array holds). A rank is found by bisection
    on the value, counting with bisection in each array, until few values
    are left between the bounds: those are then sorted. A year of months
    costs a few dozen bisections per array, however many answers it holds.
    """
    arrays = [values for values in arrays if values]
    less = [values for values in less if values]
    total = sum(map(len, arrays)) - sum(map(len, less))
    if total <= 0:
        return [None for _ in shares]
    arrays = _fewer(arrays, total)
    found: list[float | None] = []
    for share in shares:
        position = (total - 1) * share
        low = int(position)
        high = min(low + 1, total - 1)
        if len(arrays) == 1 and not less:
            at_low, at_high = arrays[0][low], arrays[0][high]
        else:
            at_low, following = _kth(arrays, less, low, total)
            if high == low:
                at_high = at_low
            elif following is not None:
                at_high = following
            else:
                at_high = _kth(arrays, less, high, total)[0]
        found.append((at_low + (at_high - at_low) * (position - low)) / 10)
    return found


def _fewer(arrays: list[Sequence[int]], total: int) -> list[Sequence[int]]:
    """The same values in fewer arrays: the shortest merged, as long as they are short.

    Sorting costs per value, bisection per array: a few days are merged,
    months are kept.
    """
    if len(arrays) == 1:
        return arrays
    arrays = sorted(arrays, key=len)
    limit = _SORT_BELOW if total > _SORT_BELOW else total
    merged: list[int] = []
    count = 0
    while count < len(arrays) and len(merged) + len(arrays[count]) <= limit:
        merged.extend(arrays[count])
        count += 1
    if count < 2:
        return arrays
    return [array("i", sorted(merged)), *arrays[count:]]


# So many values or fewer left between the bounds of a rank's search are sorted.
_GATHER_BELOW = 256


def _kth(
    arrays: Sequence[Sequence[int]], less: Sequence[Sequence[int]], k: int, total: int
) -> tuple[int, int | None]:
    """The k-th smallest (from 0) of the arrays together, and the next when found with it.

    Bisection on the value: the arrays' own values at the same share of
    their length bound the search, most often tightly (months look alike);
    else all values do. Each array's values between the bounds are a slice
    of it that narrows with them, so each count bisects that slice alone.
    Once few values lie between the bounds, they are sorted.
    """
    every, kept = [*arrays, *less], len(arrays)
    share = k / total
    indexes = [int(share * len(values)) for values in arrays]
    low = min(values[max(0, index - 1)] for values, index in zip(arrays, indexes, strict=True))
    high = max(
        values[min(len(values) - 1, index + 1)]
        for values, index in zip(arrays, indexes, strict=True)
    )
    # Where each array's values from `low` to `high` start and stop.
    starts = list(map(bisect_left, every, repeat(low)))
    stops = list(map(bisect_right, every, repeat(high)))
    below, up_to = _net(starts, kept), _net(stops, kept)
    if up_to <= k or below > k:
        low = min(values[0] for values in arrays)
        high = max(values[-1] for values in arrays)
        starts, stops = [0 for _ in every], list(map(len, every))
        below, up_to = 0, total
    # Invariant: `below` values under `low` (at most k), `up_to` up to `high` (more than k).
    # Guesses alternate between interpolating the counts (few steps where
    # times are dense) and halving (a bound on the steps where they are not).
    halve = False
    while low < high and up_to - below > _GATHER_BELOW:
        if halve:
            middle = (low + high) // 2
        else:
            middle = low + (k - below) * (high - low) // max(1, up_to - below)
            middle = min(max(middle, low), high - 1)
        halve = not halve
        cuts = list(map(bisect_right, every, repeat(middle), starts, stops))
        count = _net(cuts, kept)
        if count > k:
            high, up_to, stops = middle, count, cuts
        else:
            low, below, starts = middle + 1, count, cuts
    if low == high:
        return low, low if up_to > k + 1 else None
    between: list[int] = []
    for values, start, stop in zip(arrays, starts, stops, strict=False):
        between.extend(values[start:stop])
    between.sort()
    for values, start, stop in zip(less, starts[kept:], stops[kept:], strict=True):
        for value in values[start:stop]:
            del between[bisect_left(between, value)]
    index = k - below
    return between[index], between[index + 1] if index + 1 < len(between) else None


def _net(positions: list[int], kept: int) -> int:
    """How many values lie before `positions`: in the arrays, less in the `less` ones."""
    return sum(positions[:kept]) - sum(positions[kept:])


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


# -- writing (inside the writer's transaction) ---------------------------------------------


def record(
    connection: Connection,
    removed: Sequence[ClockState],
    added: Sequence[ClockState],
    clients: Mapping[int, int | None] | None = None,
    zone: ZoneInfo | None = None,
    kept: Kept | None = None,
) -> ZoneInfo | None:
    """Take the stored versions `removed` out of the rollups and put the new `added` in.

    A clock counts only once stopped: a running version adds and removes
    nothing. Call it in the transaction that writes the clocks, with
    `removed` read before they were overwritten. `clients`, when the writer
    knows them, are the threads' stored clients (thread id to client id);
    the others are read. `zone`: the rollups' zone (`rollup_zone`) when the
    writer knows it; it is read otherwise. Returns the zone when it was
    needed (None when nothing changed), for a writer to keep while no one
    else writes. `kept`: rows as this writer last wrote them (see Kept).
    """
    signed: Counter[tuple[int, datetime, int, str, int, int]] = Counter()
    for sign, clocks in ((-1, removed), (1, added)):
        for clock in clocks:
            if clock.stopped_at is None or clock.outcome not in _COUNTED:
                continue
            key = (
                clock.thread_id,
                clock.stopped_at,
                clock.stopped_by_staff or NONE,
                clock.outcome,
                tenths(clock.business_seconds),
                tenths(clock.wall_seconds),
            )
            signed[key] += sign
    changes = [(key, count) for key, count in signed.items() if count]
    if not changes:
        return None
    threads = {key[0] for key, _ in changes}
    known = (
        {} if clients is None else {thread: clients[thread] for thread in threads & clients.keys()}
    )
    if len(known) < len(threads):
        known.update(_stored_clients(connection, [t for t in threads if t not in known]))
    clients = known
    if zone is None:
        zone = rollup_zone(connection)
    _apply(
        connection,
        [
            (local_day(at, zone), staff, clients.get(thread) or NONE, outcome, b, w, count)
            for (thread, at, staff, outcome, b, w), count in changes
        ],
        (ALL, STAFF, CLIENT),
        kept,
    )
    return zone


def move_threads(
    connection: Connection, clients: Mapping[int, int | None], kept: Kept | None = None
) -> None:
    """Threads about to get new clients (thread id to client id): their clocks move along.

    Call it before the threads' rows are updated: it reads their stored client.
    `kept`: as for `record`.
    """
    if not clients:  # as in nearly every batch of the intake
        return
    stored = _stored_clients(connection, clients.keys())
    moving = {
        thread: (stored.get(thread) or NONE, new or NONE)
        for thread, new in clients.items()
        if (stored.get(thread) or NONE) != (new or NONE)
    }
    if not moving:
        return
    from sqlalchemy import select

    clock = _tables()[0]
    zone = rollup_zone(connection)
    contributions: list[tuple[date, int, int, str, int, int, int]] = []
    for chunk in _chunks(sorted(moving)):
        rows = connection.execute(
            select(
                clock.c.thread_id,
                clock.c.stopped_at,
                clock.c.outcome,
                clock.c.business_seconds,
                clock.c.wall_seconds,
            ).where(clock.c.thread_id.in_(chunk), clock.c.outcome.in_(sorted(_COUNTED)))
        )
        for thread, at, outcome, business, wall in rows:
            day = local_day(required_instant(at), zone)
            old, new = moving[thread]
            b, w = tenths(business), tenths(wall)
            contributions.append((day, NONE, old, outcome, b, w, -1))
            contributions.append((day, NONE, new, outcome, b, w, 1))
    _apply(connection, contributions, (CLIENT,), kept)


def rollup_zone(connection: Connection) -> ZoneInfo:
    """The rollups' zone; the configured time zone on a database that has none yet."""
    from sqlalchemy import insert, select

    zones = _tables()[3]
    name = connection.execute(select(zones.c.zone)).scalar()
    if name is None:
        name = configured("timezone", DEFAULT_ZONE)
        connection.execute(insert(zones).values(zone=name))
    return ZoneInfo(name)


_COUNTED = frozenset({_MET, _BREACHED, _NO_REPLY})
_RowKey = tuple[str, str, str, int]
# A row's outcome counts (met, breached, no reply needed) and its two arrays.
_Row = tuple[int, int, int, "array[int]", "array[int]"]
KEPT_ROWS = 2048


class Kept(dict[_RowKey, "_Row | None"]):
    """What one writer knows of the rollups, kept while no one else writes.

    Rows as it last wrote them, by key (None: no such row): its next batch
    reads none of them again (a month's rows hold a month of answers).
    Bounded by KEPT_ROWS. And the latest month with rollups, with whether
    it has month rows (see `_months_built`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.latest: str | None = None
        self.latest_built = False


class _Change:
    """What one row gains (or loses, counted negative): outcomes and times."""

    __slots__ = ("business", "counts", "wall")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.business: dict[int, int] = {}
        self.wall: dict[int, int] = {}


def _apply(
    connection: Connection,
    contributions: Iterable[tuple[date, int, int, str, int, int, int]],
    dimensions: Collection[str],
    kept: Kept | None = None,
) -> None:
    """Add each (day, staff, client, outcome, business, wall, count) to its rows."""
    changes: dict[_RowKey, _Change] = {}
    starts: dict[date, tuple[str, str]] = {}
    for day, staff, client, outcome, business, wall, count in contributions:
        start = starts.get(day)
        if start is None:
            start = starts[day] = (day.isoformat(), day.replace(day=1).isoformat())
        answer = outcome in _ANSWERS
        for dimension in dimensions:
            member = NONE if dimension == ALL else staff if dimension == STAFF else client
            for key in ((DAY, start[0], dimension, member), (MONTH, start[1], dimension, member)):
                change = changes.get(key)
                if change is None:
                    change = changes[key] = _Change()
                change.counts[outcome] = change.counts.get(outcome, 0) + count
                if answer:
                    change.business[business] = change.business.get(business, 0) + count
                    change.wall[wall] = change.wall.get(wall, 0) + count
    if changes:
        if kept is None:
            kept = Kept()
        _months_built(connection, changes, kept)
        _write(connection, changes, kept)


def _months_built(connection: Connection, changes: dict[_RowKey, _Change], kept: Kept) -> None:
    """Leave the latest month's rows out of `changes`; build a month's rows once it is past.

    A month row is the sum of its day rows. Kept up by every write, those of
    the month under way would be rewritten whole by every answer, a month
    of answers each: the intake's every transaction writing hundreds of
    kilobytes late in a busy month. So the latest month with rollups has no
    month rows (a report reads its days); when a later month gets its first
    rollups, the past one's month rows are built from its days, once, and
    kept up from then on like the days'. Every month before the latest has
    its month rows, or no rollups at all: a month row written then is its
    days' sum from the first. (A database whose rollups were built by the
    upgrade has month rows for its latest month too: they are kept up.)
    """
    touched = max((key[1] for key in changes if key[0] == MONTH), default=None)
    if touched is None:
        return
    if kept.latest is None or touched > kept.latest:
        _latest_month(connection, touched, kept)
    if kept.latest_built:
        return
    for key in [key for key in changes if key[0] == MONTH and key[1] == kept.latest]:
        del changes[key]


def _latest_month(connection: Connection, touched: str, kept: Kept) -> None:
    """Find the latest month with rollups, build the one before it if `touched` is later."""
    if connection.dialect.name != "sqlite":
        # One writer at a time past here, as SQLite has anyway: two would
        # otherwise build a month and write its days at once, each unseen.
        plain_rows(connection, "SELECT zone FROM slarollupzone FOR UPDATE", ())
    found = plain_rows(
        connection,
        "SELECT start FROM slarollup WHERE span = ? AND dimension = ? ORDER BY start DESC LIMIT 1",
        (DAY, ALL),
    )
    stored = found[0][0][:8] + "01" if found else None
    if stored is not None and stored >= touched:
        kept.latest, kept.latest_built = stored, _has_month_rows(connection, stored)
        return
    if stored is not None and not _has_month_rows(connection, stored):
        _build_month(connection, stored, kept)
    kept.latest, kept.latest_built = touched, False


def _has_month_rows(connection: Connection, month: str) -> bool:
    return bool(
        plain_rows(
            connection,
            "SELECT 1 FROM slarollup WHERE span = ? AND start = ? AND dimension = ? AND member = ?",
            (MONTH, month, ALL, NONE),
        )
    )


def _build_month(connection: Connection, month: str, kept: Kept) -> None:
    """The month rows of `month` (YYYY-MM-01), the sums of its day rows."""
    following = _next_month(date.fromisoformat(month)).isoformat()
    changes: dict[_RowKey, _Change] = {}
    for dimension, member, met, breached, no_reply, business, wall in plain_rows(
        connection,
        "SELECT dimension, member, met, breached, no_reply_needed, business, wall "
        "FROM slarollup WHERE span = ? AND start >= ? AND start < ?",
        (DAY, month, following),
    ):
        key = (MONTH, month, dimension, member)
        change = changes.get(key)
        if change is None:
            change = changes[key] = _Change()
        for outcome, count in ((_MET, met), (_BREACHED, breached), (_NO_REPLY, no_reply)):
            change.counts[outcome] = change.counts.get(outcome, 0) + count
        for times, values in ((change.business, business), (change.wall, wall)):
            for value in decode(values):
                times[value] = times.get(value, 0) + 1
    if changes:
        _write(connection, changes, kept)


def _write(connection: Connection, changes: dict[_RowKey, _Change], kept: Kept) -> None:
    """The changed rows read (unless `kept`), added to and written back (deleted and inserted).

    On SQLite the statements are constant text with rows as tuples, run by
    the driver: SQLAlchemy's compiling and per-row dicts cost more than
    SQLite's own work here. Other databases take the generic path.
    """
    rollup = _tables()[2]
    sqlite = connection.dialect.name == "sqlite"
    if len(kept) > KEPT_ROWS:
        kept.clear()
    stored: dict[_RowKey, _Row] = {}
    unknown = [key for key in changes if key not in kept]
    if unknown:
        for span, start, dimension, member, *values in _stored_rows(
            connection, rollup, unknown, sqlite=sqlite
        ):
            key = (span, start, dimension, member)
            if key in changes:
                met, breached, no_reply, business, wall = values
                stored[key] = (met, breached, no_reply, decode(business), decode(wall))
    for key in changes:
        row = kept.get(key)
        if row is not None:
            stored[key] = row
    rows: list[tuple[Any, ...]] = []
    for key, change in changes.items():
        old = stored.get(key)
        counts = change.counts
        met = (old[0] if old is not None else 0) + counts.get(_MET, 0)
        breached = (old[1] if old is not None else 0) + counts.get(_BREACHED, 0)
        no_reply = (old[2] if old is not None else 0) + counts.get(_NO_REPLY, 0)
        if met < 0 or breached < 0 or no_reply < 0:
            log.error("SLA rollup %s would count below zero: its figures are off", key)
        business = _changed(old[3] if old is not None else array("i"), change.business, key)
        wall = _changed(old[4] if old is not None else array("i"), change.wall, key)
        if met or breached or no_reply:
            rows.append(
                (*key, met, breached, no_reply, met + breached, encode(business), encode(wall))
            )
            kept[key] = (met, breached, no_reply, business, wall)
        else:
            kept[key] = None
    if sqlite:
        if stored:
            plain_many(
                connection,
                f"DELETE FROM {rollup.name} "
                "WHERE span = ? AND start = ? AND dimension = ? AND member = ?",
                list(stored),
            )
        if rows:
            plain_many(
                connection,
                f"INSERT INTO {rollup.name} ({', '.join(_ROW_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_ROW_COLUMNS))})",
                rows,
            )
        return
    from sqlalchemy import bindparam, delete, insert

    if stored:
        connection.execute(
            delete(rollup).where(
                rollup.c.span == bindparam("k_span"),
                rollup.c.start == bindparam("k_start"),
                rollup.c.dimension == bindparam("k_dimension"),
                rollup.c.member == bindparam("k_member"),
            ),
            [
                {"k_span": k[0], "k_start": k[1], "k_dimension": k[2], "k_member": k[3]}
                for k in stored
            ],
        )
    if rows:
        connection.execute(
            insert(rollup), [dict(zip(_ROW_COLUMNS, row, strict=True)) for row in rows]
        )


# A rollup row's columns in the order `_write` builds its tuples.
_ROW_COLUMNS = (
    "span",
    "start",
    "dimension",
    "member",
    _MET,
    _BREACHED,
    _NO_REPLY,
    "answered",
    "business",
    "wall",
)


def _stored_rows(
    connection: Connection, rollup: Any, keys: Iterable[_RowKey], *, sqlite: bool
) -> Iterable[Any]:
    """The stored rows of `keys` (and maybe a few others), in `_ROW_COLUMNS` order without
    `answered`.

    Only the rows asked for are read, by their key: the other members' rows
    of the same days and months hold arrays as long as theirs (a month's
    rows, a month of answers each), which reading cost more than the rest
    of the write. One query per dimension, with the days and months and the
    members asked for: SQLite finds each by the primary key.
    """
    wanted = (*_ROW_COLUMNS[:7], "business", "wall")
    starts: set[str] = set()
    members: dict[str, set[int]] = {}
    for _, start, dimension, member in keys:
        starts.add(start)
        members.setdefault(dimension, set()).add(member)
    found: list[Any] = []
    parts: list[str] = []
    params: list[Any] = []
    for start_chunk in _chunks(sorted(starts)):
        days = ", ".join("?" * len(start_chunk))
        for dimension, ids in sorted(members.items()):
            for member_chunk in _chunks(sorted(ids)):
                if not sqlite:
                    from sqlalchemy import select

                    query = select(*(rollup.c[name] for name in wanted)).where(
                        rollup.c.span.in_([DAY, MONTH]),
                        rollup.c.start.in_(start_chunk),
                        rollup.c.dimension == dimension,
                        rollup.c.member.in_(member_chunk),
                    )
                    found += connection.execute(query).all()
                    continue
                parts.append(
                    f"SELECT {', '.join(wanted)} FROM {rollup.name} "
                    f"WHERE span IN ('{DAY}', '{MONTH}') AND start IN ({days}) "
                    f"AND dimension = ? AND member IN ({', '.join('?' * len(member_chunk))})"
                )
                params += (*start_chunk, dimension, *member_chunk)
                if len(params) > _PARAMETERS_PER_READ:
                    found += plain_rows(connection, " UNION ALL ".join(parts), params)
                    parts, params = [], []
    if parts:
        found += plain_rows(connection, " UNION ALL ".join(parts), params)
    return found


# Bound parameters of one read of stored rows at most, well under SQLite's limit.
_PARAMETERS_PER_READ = 5000


def _changed(values: array[int], change: dict[int, int], key: _RowKey) -> array[int]:
    """`values` with the times of `change` added or taken out (in place, or a new array)."""
    added: list[int] = []  # in order: the changes are taken by time
    for value, count in sorted(change.items()):
        if count > 0:
            added.extend([value] * count)
        for _ in range(-count):
            index = bisect_left(values, value)
            if index < len(values) and values[index] == value:
                del values[index]
            else:
                log.error("SLA rollup %s misses a time it should hold: its figures are off", key)
    if len(added) < _INSERT_BELOW:
        for value in added:
            insort(values, value)
        return values
    return _merged(values, added)


# Fewer new times than this go into a row's array one by one, more by a merge.
_INSERT_BELOW = 16


def _merged(values: array[int], added: list[int]) -> array[int]:
    """Two sorted runs as one sorted array.

    A month's row holds a month of answers, and a batch of an import adds a
    few hundred to it: then the runs of `values` between two new times are
    copied a slice at a time, by the array itself (sorting all of them made
    a Python integer of every time: two to ten times as long). When the
    new times are many beside the old (a day's row), one sort of both runs
    costs less than a search for each (docs/benchmarks.md, ingest round 25).
    """
    if len(added) * _SLICED_BELOW < len(values):
        merged = array("i")
        start = 0
        for value in added:
            end = bisect_right(values, value, start)
            merged.extend(values[start:end])
            merged.append(value)
            start = end
        merged.extend(values[start:])
        return merged
    both = values.tolist()
    both += added
    both.sort()
    return array("i", both)


# A search costs some ten times what a sort costs a time: the slices pay
# while the new times are under a ninth of the old.
_SLICED_BELOW = 9


def _stored_clients(connection: Connection, threads: Iterable[int]) -> dict[int, int | None]:
    from sqlalchemy import select

    thread = _tables()[1]
    found: dict[int, int | None] = {}
    for chunk in _chunks(sorted(set(threads))):
        query = select(thread.c.id, thread.c.client_id).where(thread.c.id.in_(chunk))
        found.update({thread_id: client for thread_id, client in connection.execute(query)})
    return found


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    from core.store.db import chunks

    return chunks(values)


def plain_rows(connection: Connection, statement: str, parameters: Sequence[Any]) -> list[Any]:
    from core.store import db

    return db.plain_rows(connection, statement, parameters)


def plain_many(connection: Connection, statement: str, rows: Sequence[Sequence[Any]]) -> int:
    from core.store import db

    return db.plain_many(connection, statement, rows)


def _tables() -> tuple[Any, Any, Any, Any]:
    global _TABLES
    if _TABLES is None:
        from core.store.models.system import table
        from core.store.models.threads import Clock, SlaRollup, SlaRollupZone, Thread

        _TABLES = table(Clock), table(Thread), table(SlaRollup), table(SlaRollupZone)
    return _TABLES


# The tables, imported on first use (the read side needs none of them).
_TABLES: tuple[Any, Any, Any, Any] | None = None
