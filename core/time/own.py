"""pmdesk's own measure of account management: kept, counted, logged back (docs/time.md).

This module reads (plain SQL through a core.store.reader.Reader, as the
report does: no SQLAlchemy); core.time.recorder writes the measure and
core.time.costs the rows logged back.

**Kept** per staff member, thread and day (the agency's local day) in
`OwnTime` (core.store.models.time): the seconds the dashboard measured
(core.time.meter; core.time.recorder: `add_screen_time`, one transaction per batch) and the
fixed amounts counted for replies and actions taken from Telegram
(`count_telegram_action`: `[time] telegram_reply_minutes`,
`telegram_action_minutes`).

**Counted** in the account-management report (core.time.report) by
`own_rows`: every minute of it is account management of the thread's
project. Worksection's copy wins: once the day's time of a thread and
person is back in pmdesk's copy of Worksection's time (a row with the comment
`OWN_COMMENT` on the thread's task, that day, by that person; or the row
Worksection created for it, whatever its comment became), the row counts
and the measure does not. Rows with the comment count as account management
whatever their task's tags say.

**Logged back** (`[time] log_own_time`): once a day has ended (and
`SETTLE` more, for the dashboard's last batch), core.time.costs creates one
`OwnCost` row per thread, day and person, which the services send with
`add_costs` on the thread's task (bots.worksection.owncosts): the primary
key makes it once, and a try whose answer was lost is checked with
`get_costs` before anything is sent again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from core.base.instants import as_date
from core.store.reader import Reader

# The comment of the rows of time pmdesk logs in Worksection (not translated:
# it is how those rows are known when they come back).
OWN_COMMENT = "account management (pmdesk)"
# The source whose threads are Worksection tasks.
TASK_SOURCE = "worksection"
# A day is logged back this long after it ended: the dashboard's last batch is written by then.
SETTLE = timedelta(minutes=15)


def minutes_of(seconds: float) -> int:
    """Seconds as whole minutes, to the nearest (30 s and more count as a minute)."""
    return int((seconds + 30) // 60)


@dataclass(frozen=True)
class OwnDay:
    """A staff member's time on a thread on a day, as kept."""

    staff_id: int
    thread_id: int
    day: date
    screen_seconds: int
    telegram_seconds: int
    telegram_actions: int

    @property
    def seconds(self) -> int:
        return self.screen_seconds + self.telegram_seconds


def own_days(reader: Reader, since: date, until: date) -> list[OwnDay]:
    """What is kept from `since` to `until` (both included), by day, staff member and thread."""
    return [
        OwnDay(int(staff), int(thread), as_date(day), int(screen), int(telegram), int(actions))
        for staff, thread, day, screen, telegram, actions in reader.rows(
            "SELECT staff_id, thread_id, day, screen_seconds, telegram_seconds, telegram_actions"
            "  FROM owntime WHERE day >= :since AND day <= :until"
            " ORDER BY day, staff_id, thread_id",
            {"since": since.isoformat(), "until": until.isoformat()},
        )
    ]


# -- counted in the report ------------------------------------------------------------

# Rows of Worksection's time that pmdesk logged: found through their own
# partial index (ix_timerow_own), whose condition this repeats word for word.
_OWN_ROWS = f"r.comment = '{OWN_COMMENT}'"


def own_rows(
    reader: Reader,
    since: date,
    until: date,
    low: date,
    high: date,
    condition: str,
    params: Mapping[str, Any],
) -> list[tuple[Any, ...]]:
    """pmdesk's own measure, as the report's rows: minutes per month, project and person.

    Each row is `(month, project_id, email, project_name, user_name,
    am in the period, minutes in the period, am in the month, minutes in the
    month)` over the days `low`..`high` (the period is `since`..`until`):
    the measure where Worksection has no copy of it, all account
    management; and, for the rows of time pmdesk logged that the rule
    (`condition`, with its `params`, on a row `r`) does not already count,
    their minutes as account management: their total is already counted, so
    each gives two rows, one adding its minutes to both figures and one
    taking them off the total again.
    """
    window = {
        "own_low": low.isoformat(),
        "own_high": high.isoformat(),
        "own_since": since.isoformat(),
        "own_until": until.isoformat(),
    }
    inside = "o.day >= :own_since AND o.day <= :own_until"
    # The rows pmdesk logged, through their partial index; those the rule counts already
    # are left alone (a CASE, since the rule is NULL on a row of no email).
    found: list[tuple[Any, ...]] = []
    for month, project, email, name, user, in_period, minutes in reader.rows(
        f"""
SELECT r.month, r.project_id, r.user_email, max(r.project_name), max(r.user_name),
       sum(CASE WHEN {inside.replace("o.", "r.")} THEN r.minutes ELSE 0 END), sum(r.minutes)
  FROM timerow r
 WHERE {_OWN_ROWS} AND r.day >= :own_low AND r.day <= :own_high
   AND CASE WHEN {condition} THEN 0 ELSE 1 END = 1
 GROUP BY r.month, r.project_id, r.user_email""",
        {**params, **window},
    ):
        in_period, minutes = int(in_period), int(minutes)
        # Account management without adding to the total: +m of both, then -m of the total.
        found.append((month, project, email, name, user, in_period, in_period, minutes, minutes))
        found.append((month, project, email, name, user, 0, -in_period, 0, -minutes))
    # The measure, in minutes per (thread, day, person) as logged back, summed by month,
    # project and person; then, as negative rows, the part Worksection's copy holds (the
    # row add_costs made, or one with the comment on the thread's task, that day, by that
    # person), found from those few rows rather than looked for from each day's measure.
    # Summed by month, thread and person in SQL; each thread's project is looked up
    # once (below), not once a day.
    minutes = "(o.screen_seconds + o.telegram_seconds + 30) / 60"
    grouped = f"""
SELECT o.month, o.thread_id, o.staff_id,
       sum(CASE WHEN {inside} THEN {minutes} ELSE 0 END), sum({minutes})
  FROM {{owntime}}
 WHERE o.day >= :own_low AND o.day <= :own_high
 GROUP BY o.month, o.thread_id, o.staff_id"""
    covered = f"""(
SELECT f.thread_id AS thread_id, r.day AS day, e.staff_id AS staff_id
  FROM timerow r
  JOIN staffemail e ON e.email = r.user_email
  JOIN threadref f ON f.source = :own_source AND f.external_id = r.task_id
 WHERE {_OWN_ROWS} AND r.day >= :own_low AND r.day <= :own_high
UNION
SELECT c.thread_id, c.day, c.staff_id
  FROM owncost c JOIN timerow r ON r.id = c.cost_id
 WHERE c.day >= :own_low AND c.day <= :own_high
) k JOIN owntime o ON o.staff_id = k.staff_id AND o.thread_id = k.thread_id AND o.day = k.day"""
    own_params = {**window, "own_source": TASK_SOURCE}
    measured = [(*row, 1) for row in reader.rows(grouped.format(owntime="owntime o"), own_params)]
    if not measured:
        return found
    measured += [(*row, -1) for row in reader.rows(grouped.format(owntime=covered), own_params)]
    # Each thread's project: its Worksection task's (the refs found by thread, through
    # ix_threadref_thread_id, the source told apart after: `source = ...` beside it had
    # SQLite search the primary key by source, every ref of that source for each
    # thread), else the Worksection project named as its pmdesk project (a client's group).
    projects: dict[int, tuple[str | None, str | None]] = {}
    unnamed: dict[int, str] = {}
    for thread_id, project, name, pmdesk_project in reader.rows(
        """
SELECT t.id, w.project_id, w.project_name, p.name
  FROM thread t
  LEFT JOIN project p ON p.id = t.project_id
  LEFT JOIN worksectiontask w ON w.task_id = (
        SELECT min(CASE WHEN f.source = :own_source THEN f.external_id END)
          FROM threadref f WHERE f.thread_id = t.id)
 WHERE t.id IN (SELECT DISTINCT o.thread_id FROM owntime o
                 WHERE o.day >= :own_low AND o.day <= :own_high)""",
        own_params,
    ):
        projects[int(thread_id)] = (project, name)
        if project is None and pmdesk_project is not None:
            unnamed[int(thread_id)] = pmdesk_project
    by_name = _projects_named(reader, set(unnamed.values()))
    for thread_id, pmdesk_project in unnamed.items():
        projects[thread_id] = (by_name.get(pmdesk_project), pmdesk_project)
    emails: dict[int, str] = {}
    for email, staff_id in reader.rows(
        "SELECT min(email), staff_id FROM staffemail GROUP BY staff_id"
    ):
        emails[int(staff_id)] = email
    names = {int(staff_id): name for staff_id, name in reader.rows("SELECT id, name FROM staff")}
    summed: dict[tuple[str, str | None, str | None, int], list[int]] = {}
    for month, thread_id, staff_id, in_period, total, sign in measured:
        project, name = projects.get(int(thread_id), (None, None))
        sums = summed.setdefault((month, project, name, int(staff_id)), [0, 0])
        sums[0] += sign * int(in_period)
        sums[1] += sign * int(total)
    for (month, project, name, staff_id), (in_period, total) in summed.items():
        if total:
            found.append(
                (
                    month,
                    project,
                    emails.get(staff_id),
                    name,
                    names.get(staff_id),
                    in_period,
                    in_period,
                    total,
                    total,
                )
            )
    return found


def _projects_named(reader: Reader, names: set[str]) -> dict[str, str]:
    """A project's Worksection id by its name, for threads without a task (a Telegram group)."""
    if not names:
        return {}
    params = {f"name{n}": name for n, name in enumerate(sorted(names))}
    marks = ", ".join(f":{name}" for name in params)
    return {
        name: project
        for name, project in reader.rows(
            "SELECT project_name, min(project_id) FROM worksectiontask"
            f" WHERE project_name IN ({marks}) AND project_id IS NOT NULL GROUP BY project_name",
            params,
        )
    }
