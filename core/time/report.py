"""Account management: how much of each project's time went to it (docs/time.md).

What counts as account management is the configuration's rule (`[time]`):
time logged on tasks carrying one of `am_tags`, on tasks whose name holds one
of `am_task_words`, and all the time logged by staff holding one of
`am_roles`; the rest of a project's time is production. A project whose share
is above `target_share` (10 %) is flagged.

The figures are sums by month, for the period and for the trend (the six
months ending with the period's last). Whole months come from the monthly
sums the sync keeps (core.time.sums) while they were built under this rule
and the staff holding its roles then; otherwise from one pass over the time
rows' covering index (core.store.models.time), with the same result. The
period's partial first and last months are read from the rows with each
row's day. A row of an unknown project, or of someone who is not staff,
counts as unassigned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from core.config.settings import TimeConfig
from core.store.reader import Reader, Row
from core.time import sums
from core.time.own import own_rows
from core.time.rule import am_condition

TREND_MONTHS = 6


@dataclass
class Share:
    """Minutes of account management out of all minutes."""

    am: int = 0
    total: int = 0

    @property
    def share(self) -> float | None:
        return self.am / self.total if self.total else None

    def add(self, am: int, total: int) -> None:
        self.am += am
        self.total += total

    def as_dict(self, target: float | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {
            "am_minutes": self.am,
            "total_minutes": self.total,
            "am_hours": round(self.am / 60, 2),
            "total_hours": round(self.total / 60, 2),
            "share": None if self.share is None else round(self.share, 4),
        }
        if target is not None:
            found["above_target"] = self.share is not None and self.share > target
        return found


@dataclass
class ProjectLine:
    client: str | None
    project_id: str | None
    project: str | None
    time: Share = field(default_factory=Share)
    months: dict[str, Share] = field(default_factory=dict)


@dataclass
class PersonLine:
    name: str
    email: str | None
    staff: bool
    time: Share = field(default_factory=Share)


@dataclass
class AmReport:
    since: date
    until: date
    target: float
    rule: dict[str, list[str]]
    projects: list[ProjectLine]
    clients: dict[str | None, Share]
    people: list[PersonLine]
    trend: dict[str, Share]
    total: Share

    def above_target(self, share: Share) -> bool:
        return share.share is not None and share.share > self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "target_share": self.target,
            "rule": self.rule,
            "total": self.total.as_dict(self.target),
            "clients": [
                {"client": client, **share.as_dict(self.target)}
                for client, share in self.clients.items()
            ],
            "projects": [
                {
                    "client": line.client,
                    "project_id": line.project_id,
                    "project": line.project,
                    **line.time.as_dict(self.target),
                    "months": {month: share.as_dict() for month, share in line.months.items()},
                }
                for line in self.projects
            ],
            "staff": [
                {
                    "name": person.name,
                    "email": person.email,
                    "staff": person.staff,
                    **person.time.as_dict(),
                }
                for person in self.people
            ],
            "trend": [
                {"month": month, **share.as_dict(self.target)}
                for month, share in self.trend.items()
            ],
        }


def client_of(projects: Mapping[str, str], project_id: str | None, name: str | None) -> str | None:
    """A project's client: the configured mapping (by id, then name), else its name."""
    for key in (project_id, name):
        if key and key in projects:
            return projects[key]
    return name


def months_back(last: date, count: int = TREND_MONTHS) -> list[str]:
    """`count` months ending with `last`'s, oldest first: `["2026-06", ..., "2026-11"]`."""
    year, month = last.year, last.month
    found = []
    for _ in range(count):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return found[::-1]


def am_report(
    reader: Reader,
    config: TimeConfig,
    since: date,
    until: date,
    projects: Mapping[str, str] | None = None,
) -> AmReport:
    """Account management over `since`..`until` (both included); see the module's docstring.

    `projects`: project id or name -> client (the Worksection connector's
    mapping); a project not listed is its own client.
    """
    if until < since:
        raise ValueError("the period ends before it starts")
    months = months_back(until)
    low = min(since, date.fromisoformat(f"{months[0]}-01")).strftime("%Y-%m")
    high = max(until, _month_end(until)).strftime("%Y-%m")
    # A month the period takes whole, or not at all, needs no day: its sums
    # (core.time.sums) while they count under this rule, else one pass over
    # the rows' covering index. Only the period's first and last months,
    # when it takes part of them, are read from the rows with each row's day.
    edges = sorted(
        {
            day.strftime("%Y-%m")
            for day, whole in ((since, since.day == 1), (until, until == _month_end(until)))
            if not whole
        }
    )
    first_month, last_month = since.strftime("%Y-%m"), until.strftime("%Y-%m")
    if sums.current(reader, config):
        by_project, by_person = sums.read(reader, low, high, edges)
        project_rows: list[Any] = [
            (month, key, name, *_inside(month, first_month, last_month, am, minutes))
            for month, key, name, am, minutes in by_project
        ]
        person_rows: list[Any] = [
            (month, key, name, *_inside(month, first_month, last_month, am, minutes))
            for month, key, name, am, minutes in by_person
        ]
    else:
        project_rows, person_rows = _folded(
            [
                (
                    month,
                    project,
                    email,
                    name,
                    user,
                    *_inside(month, first_month, last_month, am, minutes),
                )
                for month, project, email, name, user, am, minutes in _read_rows(
                    reader, config, low, high, edges
                )
            ]
        )
    for edge in edges:
        edge_projects, edge_people = _folded(_read_edge(reader, config, edge, since, until))
        project_rows += edge_projects
        person_rows += edge_people
    # pmdesk's own measure, all account management, where Worksection has no copy of it;
    # its rows are not folded: one adding to both figures and one taking off the total
    # again must each be seen (core.time.own.own_rows).
    condition, params = am_condition(config)
    for month, project_id, email, name, user_name, *figures in own_rows(
        reader,
        since,
        until,
        date.fromisoformat(f"{low}-01"),
        _month_end(date.fromisoformat(f"{high}-01")),
        condition,
        params,
    ):
        project_rows.append((month, project_id, name, *figures))
        person_rows.append((month, email, user_name, *figures))
    staff: dict[str, str] = {
        email: name
        for email, name in reader.rows(
            "SELECT e.email, s.name FROM staffemail e JOIN staff s ON s.id = e.staff_id"
        )
    }
    mapping = projects or {}
    lines: dict[str | None, ProjectLine] = {}
    people: dict[str | None, PersonLine] = {}
    total = Share()
    trend = {month: Share() for month in months}
    # By month, so that a project's or a person's name is that of its first month.
    for month, project_id, name, am_in, in_minutes, am_all, minutes in sorted(
        project_rows, key=lambda row: str(row[0])
    ):
        if month in trend:
            trend[month].add(int(am_all), int(minutes))
        if not in_minutes:
            continue
        am_in, in_minutes = int(am_in), int(in_minutes)
        line = lines.get(project_id)
        if line is None:
            line = lines[project_id] = ProjectLine(
                client_of(mapping, project_id, name) if project_id else None, project_id, name
            )
        line.time.add(am_in, in_minutes)
        line.months.setdefault(month, Share()).add(am_in, in_minutes)
        total.add(am_in, in_minutes)
    for _month, email, user_name, am_in, in_minutes, _am_all, _minutes in sorted(
        person_rows, key=lambda row: str(row[0])
    ):
        if not in_minutes:
            continue
        person = people.get(email)
        if person is None:
            person = people[email] = PersonLine(
                staff.get(email or "") or user_name or email or "?", email, email in staff
            )
        person.time.add(int(am_in), int(in_minutes))
    for line in lines.values():
        line.months = dict(sorted(line.months.items()))
    ordered = sorted(
        lines.values(),
        key=lambda line: (
            line.client is None,
            (line.client or "").casefold(),
            -(line.time.share or 0),
            (line.project or "").casefold(),
        ),
    )
    clients: dict[str | None, Share] = {}
    for line in ordered:
        clients.setdefault(line.client, Share()).add(line.time.am, line.time.total)
    everyone = sorted(people.values(), key=lambda p: (-p.time.am, p.name.casefold()))
    rule = {
        "tags": list(config.am_tags),
        "task_words": list(config.am_task_words),
        "roles": list(config.am_roles),
    }
    return AmReport(
        since, until, config.target_share, rule, ordered, clients, everyone, trend, total
    )


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def _inside(month: str, first: str, last: str, am: int, minutes: int) -> tuple[int, int, int, int]:
    """A whole month's sums: in the period (or none of it), and in all."""
    return (am, minutes, am, minutes) if first <= month <= last else (0, 0, am, minutes)


def _read_rows(
    reader: Reader, config: TimeConfig, low: str, high: str, skip: list[str]
) -> list[Row]:
    """The rows of the months `low`..`high` but `skip`, summed by month, project and person.

    One pass over the covering index, in its order: the rule is worked out
    once a row.
    """
    condition, params = am_condition(config)
    names = {f"edge{number}": month for number, month in enumerate(skip)}
    return reader.rows(
        f"""
SELECT r.month, r.project_id, r.user_email, max(r.project_name), max(r.user_name),
       sum(CASE WHEN {condition} THEN r.minutes ELSE 0 END), sum(r.minutes)
  FROM timerow r
 WHERE r.month >= :low AND r.month <= :high{"".join(f" AND r.month <> :{name}" for name in names)}
 GROUP BY r.month, r.project_id, r.user_email""",
        {**params, "low": low, "high": high, **names},
    )


def _read_edge(
    reader: Reader, config: TimeConfig, month: str, since: date, until: date
) -> list[Row]:
    """A month the period takes part of, by project and person: in the period, and in all."""
    condition, params = am_condition(config)
    am = f"CASE WHEN {condition} THEN r.minutes ELSE 0 END"
    return reader.rows(
        f"""
SELECT r.month, r.project_id, r.user_email, max(r.project_name), max(r.user_name),
       sum(CASE WHEN r.day >= :since AND r.day <= :until THEN {am} ELSE 0 END),
       sum(CASE WHEN r.day >= :since AND r.day <= :until THEN r.minutes ELSE 0 END),
       sum({am}), sum(r.minutes)
  FROM timerow r
 WHERE r.month = :edge
 GROUP BY r.month, r.project_id, r.user_email""",
        {**params, "edge": month, "since": since.isoformat(), "until": until.isoformat()},
    )


def _folded(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """Sums by month, project and person as sums by month and project, and by month and person.

    Each as (month, key, name, am in the period, minutes in it, am in all,
    minutes in all); a name is the greatest of its rows', as the sums keep.
    """
    projects: dict[tuple[str, str | None], list[Any]] = {}
    people: dict[tuple[str, str | None], list[Any]] = {}
    for month, project_id, email, name, user_name, *figures in rows:
        for found, key, named in ((projects, project_id, name), (people, email, user_name)):
            line = found.get((month, key))
            if line is None:
                found[(month, key)] = [month, key, named, *(int(n) for n in figures)]
                continue
            if named is not None and (line[2] is None or named > line[2]):
                line[2] = named
            for index, value in enumerate(figures, start=3):
                line[index] += int(value)
    return [tuple(line) for line in projects.values()], [tuple(line) for line in people.values()]
