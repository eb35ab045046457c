"""Account management: how much of each project's time went to it (docs/time.md).

What counts as account management is the configuration's rule (`[time]`):
time logged on tasks carrying one of `am_tags`, on tasks whose name holds one
of `am_task_words`, and all the time logged by staff holding one of
`am_roles`; the rest of a project's time is production. A project whose share
is above `target_share` (10 %) is flagged.

The figures are sums in SQL over the time rows (core.store.models.time): one
pass per table of the report, grouped by project and month, by person, and by
month for the trend (the six months ending with the period's last). A row of
an unknown project, or of someone who is not staff, counts as unassigned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from core.config.settings import TimeConfig
from core.store.reader import Reader

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


def am_condition(config: TimeConfig) -> tuple[str, dict[str, Any], bool]:
    """The SQL that says a row (`r`, staff `s`) is account management; its parameters;
    whether it needs the staff tables joined."""
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
        parts.append(f"s.role IN ({', '.join(names)})")
    return (" OR ".join(parts) or "1 = 0"), params, bool(config.am_roles)


_STAFF_JOIN = """
  LEFT JOIN staffemail e ON e.email = r.user_email
  LEFT JOIN staff s ON s.id = e.staff_id"""


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
    condition, params, needs_staff = am_condition(config)
    join = _STAFF_JOIN if needs_staff else ""
    am = f"CASE WHEN {condition} THEN r.minutes ELSE 0 END"
    params = {**params, "since": since.isoformat(), "until": until.isoformat()}
    by_project = reader.rows(
        f"""
SELECT r.project_id, max(r.project_name), r.month, sum({am}), sum(r.minutes)
  FROM timerow r{join}
 WHERE r.day >= :since AND r.day <= :until
 GROUP BY r.project_id, r.month""",
        params,
    )
    mapping = projects or {}
    lines: dict[str | None, ProjectLine] = {}
    total = Share()
    for project_id, name, month, am_minutes, minutes in by_project:
        line = lines.get(project_id)
        if line is None:
            line = lines[project_id] = ProjectLine(
                client_of(mapping, project_id, name) if project_id else None, project_id, name
            )
        line.time.add(int(am_minutes), int(minutes))
        line.months.setdefault(month, Share()).add(int(am_minutes), int(minutes))
        total.add(int(am_minutes), int(minutes))
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

    by_person = reader.rows(
        f"""
SELECT r.user_email, max(r.user_name), max(s.name), sum({am}), sum(r.minutes)
  FROM timerow r{_STAFF_JOIN}
 WHERE r.day >= :since AND r.day <= :until
 GROUP BY r.user_email""",
        params,
    )
    people = [
        PersonLine(
            staff_name or user_name or email or "?",
            email,
            staff_name is not None,
            Share(int(am_minutes), int(minutes)),
        )
        for email, user_name, staff_name, am_minutes, minutes in by_person
    ]
    people.sort(key=lambda person: (-person.time.am, person.name.casefold()))

    months = months_back(until)
    trend = {month: Share() for month in months}
    for month, am_minutes, minutes in reader.rows(
        f"""
SELECT r.month, sum({am}), sum(r.minutes)
  FROM timerow r{join}
 WHERE r.month >= :first AND r.month <= :last
 GROUP BY r.month""",
        {**params, "first": months[0], "last": months[-1]},
    ):
        trend[month].add(int(am_minutes), int(minutes))
    rule = {
        "tags": list(config.am_tags),
        "task_words": list(config.am_task_words),
        "roles": list(config.am_roles),
    }
    return AmReport(since, until, config.target_share, rule, ordered, clients, people, trend, total)
