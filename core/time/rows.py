"""A row of logged time as Worksection's `get_costs` serves it, read or refused.

`time` is `H:MM` (minutes 00..59, hours not negative); `money` a decimal
(`"100.00"`); `date` `YYYY-MM-DD`, perhaps followed by a time. A row that
breaks one of these is refused with its id and the reason, and never harms
the other rows of the answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

_TIME = re.compile(r"(\d{1,6}):([0-5]\d)")


class BadRow(ValueError):
    """A row pmdesk cannot read: `row_id` (None when it has none) and the reason."""

    def __init__(self, row_id: str | None, reason: str, day: date | None = None) -> None:
        super().__init__(f"time row {row_id or '?'}: {reason}")
        self.row_id = row_id
        self.reason = reason
        self.day = day


@dataclass(frozen=True)
class TimeEntry:
    """One row of logged time, as stored (core.store.models.time.TimeRow)."""

    id: str
    day: date
    minutes: int
    money_cents: int
    is_timer: bool
    comment: str
    user_id: str | None
    user_email: str | None
    user_name: str | None
    task_id: str | None
    task_name: str
    task_page: str | None
    project_id: str | None
    project_name: str | None
    tags: tuple[str, ...]

    @property
    def month(self) -> str:
        return self.day.strftime("%Y-%m")

    @property
    def task_key(self) -> str:
        return self.task_name.casefold()

    @property
    def tag_key(self) -> str:
        """The tags folded, between bars: `|am|communication|` (`|` for none)."""
        return "|" + "".join(f"{tag.casefold()}|" for tag in self.tags)

    def stored(self) -> dict[str, Any]:
        """The columns of its TimeRow (but `synced_at`)."""
        return {
            "id": self.id,
            "day": self.day,
            "month": self.month,
            "minutes": self.minutes,
            "money_cents": self.money_cents,
            "is_timer": self.is_timer,
            "comment": self.comment,
            "user_id": self.user_id,
            "user_email": self.user_email,
            "user_name": self.user_name,
            "task_id": self.task_id,
            "task_name": self.task_name,
            "task_key": self.task_key,
            "task_page": self.task_page,
            "project_id": self.project_id,
            "project_name": self.project_name,
            "tags": self.tag_key,
        }


def minutes_of(text: str) -> int:
    """`"1:30"` -> 90. Raises ValueError for anything but `H:MM` (`"1:75"`, `"-1:00"`)."""
    found = _TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"time {text!r} is not H:MM")
    return int(found[1]) * 60 + int(found[2])


def hours_text(minutes: int) -> str:
    """90 -> `"1:30"`, as Worksection writes time."""
    return f"{minutes // 60}:{minutes % 60:02d}"


def read_row(data: Mapping[str, Any]) -> TimeEntry:
    """A `get_costs` row; raises BadRow with the row's id and what is wrong."""
    row_id = _id(data.get("id"))
    if row_id is None:
        raise BadRow(None, "no id")
    day = _day(data.get("date"))
    if day is None:
        raise BadRow(row_id, f"date {data.get('date')!r} is not YYYY-MM-DD")
    try:
        minutes = minutes_of(data.get("time"))  # type: ignore[arg-type]
    except ValueError as error:
        raise BadRow(row_id, str(error), day) from None
    money = _cents(data.get("money"))
    if money is None:
        raise BadRow(row_id, f"money {data.get('money')!r} is not an amount", day)
    user = _mapping(data.get("user_from"))
    task = _mapping(data.get("task"))
    project = _mapping(task.get("project"))
    email = _text(user.get("email"))
    return TimeEntry(
        id=row_id,
        day=day,
        minutes=minutes,
        money_cents=money,
        is_timer=str(data.get("is_timer") or "0") not in ("0", "false", "False", ""),
        comment=_text(data.get("comment")) or "",
        user_id=_id(user.get("id")),
        user_email=email.lower() if email else None,
        user_name=_text(user.get("name")),
        task_id=_id(task.get("id")),
        task_name=_text(task.get("name")) or "",
        task_page=_text(task.get("page")),
        project_id=_id(project.get("id")),
        project_name=_text(project.get("name")),
        tags=_tags(task.get("tags")),
    )


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    return text or None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _cents(value: Any) -> int | None:
    if value is None or value == "":
        return 0
    try:
        amount = Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return int((amount * 100).to_integral_value())


def _tags(value: Any) -> tuple[str, ...]:
    """Tag names from `{"id": "name"}` (as tasks carry them) or a list of names or objects."""
    names: list[str] = []
    items: list[Any]
    if isinstance(value, Mapping):
        items = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        return ()
    for item in items:
        name = item.get("title") or item.get("name") if isinstance(item, Mapping) else item
        text = _text(name)
        if text and "|" not in text:
            names.append(text)
    return tuple(names)
