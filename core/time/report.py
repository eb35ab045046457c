"""Account management: how much of each project's time went to it (docs/time.md).

What counts as account management is the configuration's rule (`[time]`):
time logged on tasks carrying one of `am_tags`, on tasks whose name holds one
of `am_task_words`, and all the time logged by staff holding one of
`am_roles`; the rest of a project's time is production. A project whose share
is above `target_share` (10 %) is flagged.

The figures are sums in SQL over the time rows (core.store.models.time): one
pass over a covering index, grouped by month, project and person, for the
period and for the trend (the six months ending with the period's last); the
period's partial first and last months are read again with each row's day. A
row of an unknown project, or of someone who is not staff, counts as
unassigned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from core.config.settings import TimeConfig
from core.store.reader import Reader
from core.time.own import own_rows

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


def _like(word: str) -> str:
    escaped = word.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped


def am_condition(config: TimeConfig) -> tuple[str, dict[str, Any]]:
    """The SQL that says a row `r` is account management, and its parameters."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    for number, tag in enumerate(config.am_tags):
        params[f"tag{number}"] = f"%|{_like(tag)}|%"
        parts.append(f"r.tags LIKE :tag{number} ESCAPE '\\'")
    for number, word in enumerate(config.am_task_words):
        params[f"word{number}"] = f"%{_like(word)}%"
        parts.append(f"r.task_key LIKE :word{number} ESCAPE '\\'")
    if config.am_roles:
        names = []
        for number, role in enumerate(config.am_roles):
            params[f"role{number}"] = role
            names.append(f":role{number}")
        parts.append(
            "r.user_email IN (SELECT e.email FROM staffemail e JOIN staff s ON s.id = e.staff_id"
            f" WHERE s.role IN ({', '.join(names)}))"
        )
    return (" OR ".join(parts) or "1 = 0"), params


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
    condition, params = am_condition(config)
    am = f"CASE WHEN {condition} THEN r.minutes ELSE 0 END"
    months = months_back(until)
    low = min(since, date.fromisoformat(f"{months[0]}-01"))
    high = max(until, _month_end(until))
    params = {**params, "since": since.isoformat(), "until": until.isoformat()}
    # One pass over the covering index, in its order, by month, project and
    # person: the rule is worked out once a row. A month the period takes
    # whole, or not at all, needs no day; only the period's first and last
    # months, when it takes part of them, are read again with each row's day.
    edges = sorted(
        {
            day.strftime("%Y-%m")
            for day, whole in ((since, since.day == 1), (until, until == _month_end(until)))
            if not whole
        }
    )
    skip = "".join(f" AND r.month <> :edge{number}" for number in range(len(edges)))
    whole_rows = reader.rows(
        f"""
SELECT r.month, r.project_id, r.user_email, max(r.project_name), max(r.user_name),
       sum({am}), sum(r.minutes)
  FROM timerow r
 WHERE r.month >= :low AND r.month <= :high{skip}
 GROUP BY r.month, r.project_id, r.user_email""",
        {
            **params,
            "low": low.strftime("%Y-%m"),
            "high": high.strftime("%Y-%m"),
            **{f"edge{n}": month for n, month in enumerate(edges)},
        },
    )
    first_month, last_month = since.strftime("%Y-%m"), until.strftime("%Y-%m")
    rows: list[Any] = [
        (
            month,
            project,
            email,
            name,
            user,
            *((am_all, all_minutes) if first_month <= month <= last_month else (0, 0)),
            am_all,
            all_minutes,
        )
        for month, project, email, name, user, am_all, all_minutes in whole_rows
    ]
    for edge in edges:
        rows += reader.rows(
            f"""
SELECT r.month, r.project_id, r.user_email, max(r.project_name), max(r.user_name),
       sum(CASE WHEN r.day >= :since AND r.day <= :until THEN {am} ELSE 0 END),
       sum(CASE WHEN r.day >= :since AND r.day <= :until THEN r.minutes ELSE 0 END),
       sum({am}), sum(r.minutes)
  FROM timerow r
 WHERE r.month = :edge
 GROUP BY r.month, r.project_id, r.user_email""",
            {**params, "edge": edge},
        )
    # pmdesk's own measure, all account management, where Worksection has no copy of it.
    rows += own_rows(reader, since, until, low, high, condition, params)
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
    for month, project_id, email, name, user_name, am_in, in_minutes, am_all, minutes in rows:
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
        person = people.get(email)
        if person is None:
            person = people[email] = PersonLine(
                staff.get(email or "") or user_name or email or "?", email, email in staff
            )
        person.time.add(am_in, in_minutes)
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
