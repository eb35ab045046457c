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
    window = {"own_low": low.isoformat(), "own_high": high.isoformat()}
    logged = reader.rows(
        f"""
SELECT r.task_id, r.day, r.user_email, r.month, r.project_id, r.project_name, r.user_name,
       r.minutes, CASE WHEN {condition} THEN 1 ELSE 0 END
  FROM timerow r
 WHERE {_OWN_ROWS} AND r.day >= :own_low AND r.day <= :own_high""",
        {**params, **window},
    )
    found: list[tuple[Any, ...]] = []
    back: set[tuple[str | None, date, str | None]] = set()
    for task, day, email, month, project, name, user, minutes, counted in logged:
        day = as_date(day)
        back.add((task, day, email))
        if counted:
            continue
        inside = since <= day <= until
        minutes = int(minutes)
        # Account management without adding to the total: +m of both, then -m of the total.
        for am, total in ((minutes, minutes), (0, -minutes)):
            found.append(
                (month, project, email, name, user, *((am, total) if inside else (0, 0)), am, total)
            )
    measured = reader.rows(
        """
SELECT o.day, o.staff_id, o.screen_seconds + o.telegram_seconds, s.name,
       (SELECT min(f.external_id) FROM threadref f
         WHERE f.thread_id = o.thread_id AND f.source = :own_source),
       p.name,
       EXISTS (SELECT 1 FROM owncost c JOIN timerow r ON r.id = c.cost_id
                WHERE c.thread_id = o.thread_id AND c.day = o.day AND c.staff_id = o.staff_id)
  FROM owntime o
  JOIN staff s ON s.id = o.staff_id
  JOIN thread t ON t.id = o.thread_id
  LEFT JOIN project p ON p.id = t.project_id
 WHERE o.day >= :own_low AND o.day <= :own_high""",
        {**window, "own_source": TASK_SOURCE},
    )
    if not measured:
        return found
    emails: dict[int, list[str]] = {}
    for email, staff_id in reader.rows("SELECT email, staff_id FROM staffemail ORDER BY email"):
        emails.setdefault(int(staff_id), []).append(email)
    tasks = _task_projects(reader, {row[4] for row in measured if row[4] is not None})
    by_name = _projects_named(reader, {row[5] for row in measured if row[5] is not None})
    for day, staff_id, seconds, staff_name, task, pmdesk_project, known in measured:
        day, staff_id = as_date(day), int(staff_id)
        addresses = emails.get(staff_id, [])
        if known or any((task, day, email) in back for email in addresses):
            continue  # Worksection's copy counts
        minutes = minutes_of(int(seconds))
        if not minutes:
            continue
        project, name = tasks.get(task, (None, None)) if task is not None else (None, None)
        if project is None and pmdesk_project is not None:
            project, name = by_name.get(pmdesk_project), pmdesk_project
        inside = since <= day <= until
        found.append(
            (
                day.strftime("%Y-%m"),
                project,
                addresses[0] if addresses else None,
                name,
                staff_name,
                *((minutes, minutes) if inside else (0, 0)),
                minutes,
                minutes,
            )
        )
    return found


def _task_projects(reader: Reader, tasks: set[str]) -> dict[str, tuple[str | None, str | None]]:
    """Worksection task -> (project id, project name), as the connector knows them."""
    found: dict[str, tuple[str | None, str | None]] = {}
    ordered = sorted(tasks)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        names = {f"task{n}": task for n, task in enumerate(chunk)}
        marks = ", ".join(f":{name}" for name in names)
        for task, project, name in reader.rows(
            "SELECT task_id, project_id, project_name FROM worksectiontask"
            f" WHERE task_id IN ({marks})",
            names,
        ):
            found[task] = (project, name)
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
