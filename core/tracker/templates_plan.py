"""A template laid on a project: each task with its real dates and its owner.

Day numbers count business days of the agency's calendar (weekends, public
holidays and closed dates skipped) from the project's start: day 0 is the
start itself, or the first business day after it when the start falls on a
closed day; day 3 is the third business day after day 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from core.base.business_time import BusinessCalendar
from core.config.settings import Settings
from core.tracker.dates import add_business_days
from core.tracker.templates import TaskSpec, Template

if TYPE_CHECKING:
    # Types only: showing a template needs no database (teams do).
    from core.tracker.teams import Owner

ONE_DAY = timedelta(days=1)


class BusinessDays:
    """Business days of a calendar, counted from a start date (see the module's docstring).

    The dates of `core.tracker.dates.add_business_days`, kept as they are
    found: a template asks for the same few dozen days again and again.
    """

    def __init__(self, calendar: BusinessCalendar, zone: ZoneInfo, start: date) -> None:
        self._calendar = calendar
        self._zone = zone
        self._days: list[date] = []
        self._start = start

    def day(self, number: int) -> date:
        """The date of business day `number` (0: the start's first business day)."""
        while len(self._days) <= number:
            after = self._days[-1] + ONE_DAY if self._days else self._start
            self._days.append(add_business_days(self._calendar, self._zone, after, 0))
        return self._days[number]


def business_days(settings: Settings, start: date) -> BusinessDays:
    """Business days from `start` in the templates' calendar (`templates.calendar`)."""
    calendar = settings.calendar(settings.templates_calendar_name)
    return BusinessDays(calendar, ZoneInfo(settings.templates_timezone), start)


def path_key(path: tuple[str, ...]) -> str:
    """A task's path of titles as it is recorded (JSON: titles may hold any character)."""
    return json.dumps(list(path), ensure_ascii=False)


@dataclass(frozen=True)
class PlannedTask:
    spec: TaskSpec
    start: date
    deadline: date
    # None when the project's team has nobody in the task's role (or no team was given).
    owner: Owner | None

    @property
    def path(self) -> str:
        return path_key(self.spec.path)

    @property
    def parent(self) -> str | None:
        parent = self.spec.parent
        return None if parent is None else path_key(parent)


def plan(
    template: Template, days: BusinessDays, team: Mapping[str, Owner] | None = None
) -> list[PlannedTask]:
    """Every task of `template` with its dates and owner, each parent before its subtasks."""
    team = team or {}
    return [
        PlannedTask(task, days.day(task.start), days.day(task.deadline), team.get(task.role))
        for task in template.walk()
    ]


def roles_used(template: Template) -> list[str]:
    """The roles a template gives tasks to, in the order they first appear."""
    return list(dict.fromkeys(task.role for task in template.walk()))
