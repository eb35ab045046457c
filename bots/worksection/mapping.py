"""Worksection items (from `get_events` or a webhook) as pmdesk events.

An item: `{"action": "post|update|close|reopen|delete", "object": {"type":
"task|comment|project", "id", "page"}, "date_added": "YYYY-MM-DD HH:MM",
"user_from": {"id", "email", "name"}, "new": {...}, "old": {...}}`.

What each becomes:

- a comment posted: a `message` by its author, a client or staff (see
  `People`); a hidden comment (`new.hidden` set: visible to some users
  only) is an internal note;
- a task posted: `task_created`; closed: `task_closed`; reopened:
  `task_reopened`;
- a task updated: one event per field that changed: `date_end` gives a
  `deadline`, `user_to` an `assignee` (`NOONE`/`ANY`: nobody); a rename
  only refreshes the title;
- comment edits and deletions, task deletions and project changes are
  not events (the item is kept in the inbox, marked ignored).

Tags are not read from items: tag changes made in Worksection's interface
fire no webhook at all, so the poller's snapshot of `get_tasks` is the
one source of `status` events (see bots.worksection.poller), and a change never comes
twice by two roads.

The event id depends only on what the item says, never on how it came:
the same change delivered by webhook and by polling is stored once.
Comments have ids (`comment:<id>`); task changes do not, so theirs is made
of the task, the action, the minute and a digest of the new value.

Assumptions where Worksection's documentation is silent: a comment's text
is `new.text` (else the item's `text`); the task of a comment is the last
task id in its `page` (`/project/P/T/[S/]#comC`), a subtask being a thread
of its own; `new.hidden` marks hidden comments.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bots.worksection.store import SOURCE, TaskInfo
from core.config.settings import WorksectionConfig

NOBODY = frozenset({"NOONE", "ANY", ""})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


class Unusable(ValueError):
    """An item that cannot be read as Worksection's; the message says what is wrong."""


@dataclass(frozen=True)
class People:
    """Who is staff: a registered address, or one at the agency's domains."""

    emails: frozenset[str]
    domains: tuple[str, ...] = ()

    @classmethod
    def of(cls, emails: Iterable[str], domains: Iterable[str]) -> People:
        return cls(frozenset(e.lower() for e in emails), tuple(d.lower() for d in domains))

    def is_staff(self, email: str | None) -> bool:
        if not email:
            return False
        email = email.strip().lower()
        return email in self.emails or email.rpartition("@")[2] in self.domains


@dataclass(frozen=True)
class Reading:
    """An item as read: about which task, and its comment if it is one."""

    task_id: str | None
    comment_id: str | None
    ignored: str | None = None


def read(item: Mapping[str, Any]) -> Reading:
    """Which task (and comment) an item is about; `ignored` says why it gives no event."""
    if not isinstance(item, Mapping):
        raise Unusable("not a JSON object")
    obj = item.get("object")
    if not isinstance(obj, Mapping):
        raise Unusable("no object")
    kind, action = obj.get("type"), item.get("action")
    if kind == "project":
        return Reading(None, None, ignored="project change")
    if kind == "task":
        task = _id(obj.get("id")) or _task_of_page(obj.get("page"))
        if task is None:
            raise Unusable("a task item without a task id")
        if action == "delete":
            return Reading(task, None, ignored="task deleted in Worksection")
        if action not in ("post", "update", "close", "reopen"):
            return Reading(task, None, ignored=f"task action {action!r}")
        return Reading(task, None)
    if kind == "comment":
        comment = _id(obj.get("id"))
        new = _mapping(item.get("new"))
        task = _task_of_page(obj.get("page")) or _id(new.get("id_task"))
        if comment is None or task is None:
            raise Unusable("a comment item without its comment id and task")
        if action != "post":
            return Reading(task, comment, ignored=f"comment {action}")
        return Reading(task, comment)
    raise Unusable(f"unknown object type {kind!r}")


class Mapper:
    """Turns items into event dicts for `core.conversations.ingest.Ingestor`."""

    def __init__(self, config: WorksectionConfig, people: People) -> None:
        self.config = config
        self.people = people
        self.zone = ZoneInfo(config.timezone)

    def events(self, item: Mapping[str, Any], task: TaskInfo) -> list[dict[str, Any]]:
        """The events an item gives (none for an ignored one). Raises Unusable."""
        reading = read(item)
        if reading.ignored:
            return []
        at = self.instant(item.get("date_added"))
        obj = item["object"]
        new = _mapping(item.get("new"))
        old = _mapping(item.get("old"))
        author = self.author(item.get("user_from"))
        base = {
            "source": SOURCE,
            "occurred_at": at.isoformat(),
            "task": self.task(task, new),
            "client": self.client(task),
            "project": task.project_name,
            "extra": {"worksection": dict(item)},
        }
        if author is not None:
            base["author"] = author
        action = item.get("action")
        minute = str(item.get("date_added", "")).strip()
        if obj.get("type") == "comment":
            text = new.get("text", item.get("text", ""))
            return [
                {
                    **base,
                    "id": f"comment:{reading.comment_id}",
                    "kind": "message",
                    "text": _plain(text),
                    "internal": bool(new.get("hidden")),
                }
            ]
        prefix = f"task:{reading.task_id}"
        if action == "post":
            return [{**base, "id": f"{prefix}:post", "kind": "task_created"}]
        if action == "close":
            return [{**base, "id": f"{prefix}:close:{minute}", "kind": "task_closed"}]
        if action == "reopen":
            return [{**base, "id": f"{prefix}:reopen:{minute}", "kind": "task_reopened"}]
        return self._changes(base, prefix, minute, new, old)

    def _changes(
        self,
        base: dict[str, Any],
        prefix: str,
        minute: str,
        new: Mapping[str, Any],
        old: Mapping[str, Any],
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        if "date_end" in new and new.get("date_end") != old.get("date_end"):
            deadline = _deadline(new.get("date_end"))
            found.append(
                {
                    **base,
                    "id": f"{prefix}:deadline:{minute}:{_digest(new.get('date_end'))}",
                    "kind": "deadline",
                    "deadline": deadline.isoformat() if deadline else None,
                }
            )
        if "user_to" in new and new.get("user_to") != old.get("user_to"):
            assignee = self.assignee(new.get("user_to"))
            if assignee is not False:
                found.append(
                    {
                        **base,
                        "id": f"{prefix}:assignee:{minute}:{_digest(new.get('user_to'))}",
                        "kind": "assignee",
                        "assignee": assignee,
                    }
                )
        return found

    # -- parts --------------------------------------------------------------------

    def instant(self, value: Any) -> datetime:
        """`date_added`, in the account's time zone, as an aware instant."""
        text = str(value or "").strip()
        for layout in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
            try:
                return datetime.strptime(text, layout).replace(tzinfo=self.zone)
            except ValueError:
                continue
        raise Unusable(f"date_added {text!r} is not YYYY-MM-DD HH:MM")

    def author(self, user: Any) -> dict[str, Any] | None:
        if not isinstance(user, Mapping):
            return None
        email = str(user.get("email") or "").strip() or None
        name = str(user.get("name") or "").strip() or None
        if email in NOBODY and name in NOBODY:
            return None
        found: dict[str, Any] = {"role": "staff" if self.people.is_staff(email) else "client"}
        if name:
            found["name"] = name
        if email:
            found["email"] = email
        if _id(user.get("id")):
            found["id"] = _id(user.get("id"))
        return found if (name or email) else None

    def assignee(self, user: Any) -> dict[str, Any] | bool | None:
        """The new assignee; None for nobody; False when it is not staff (no event)."""
        if user is None or (isinstance(user, str) and user.strip().upper() in NOBODY):
            return None
        if isinstance(user, Mapping):
            email = str(user.get("email") or "").strip().upper()
            if email in NOBODY:
                return None
        person = self.author(user)
        if person is None:
            return None
        # Only staff can be assigned in pmdesk: a task given to the client
        # is not an assignment of ours.
        return person if person["role"] == "staff" else False

    def task(self, task: TaskInfo, new: Mapping[str, Any]) -> dict[str, Any]:
        # A rename in this very item wins over the cached title.
        title = str(new.get("name") or "") or task.title or None
        found: dict[str, Any] = {"id": task.task_id}
        if title:
            found["title"] = title[:1000]
        if task.page:
            found["url"] = f"{self.config.url}{task.page}"
        return found

    def client(self, task: TaskInfo) -> str | None:
        return client_of(self.config, task)


def client_of(config: WorksectionConfig, task: TaskInfo) -> str | None:
    """The client a task's project belongs to: the configured mapping, else the project's name."""
    for key in (task.project_id, task.project_name):
        if key and key in config.projects:
            return config.projects[key]
    return task.project_name


def task_info(data: Mapping[str, Any]) -> TaskInfo:
    """A `get_task` or `get_tasks` entry as the cache keeps it."""
    task_id = _id(data.get("id")) or _task_of_page(data.get("page"))
    if task_id is None:
        raise Unusable("a task without an id")
    project = _mapping(data.get("project"))
    page = data.get("page")
    return TaskInfo(
        task_id=task_id,
        title=str(data.get("name") or ""),
        page=str(page) if page else None,
        project_id=_id(project.get("id")) or _project_of_page(page),
        project_name=str(project.get("name")) if project.get("name") else None,
    )


def tags_of(data: Mapping[str, Any]) -> list[str]:
    """A task's tags, whether Worksection lists them or maps ids to names."""
    tags = data.get("tags")
    if isinstance(tags, Mapping):
        return sorted(str(name) for name in tags.values())
    if isinstance(tags, list):
        names = [
            str(tag.get("title") or tag.get("name")) if isinstance(tag, Mapping) else str(tag)
            for tag in tags
        ]
        return sorted(names)
    if isinstance(tags, str) and tags.strip():
        return sorted(part.strip() for part in tags.split(",") if part.strip())
    return []


def _id(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _parts(page: Any) -> list[str]:
    if not isinstance(page, str):
        return []
    return [part for part in page.split("#")[0].split("/") if part]


def _task_of_page(page: Any) -> str | None:
    parts = _parts(page)
    return parts[-1] if len(parts) >= 3 and parts[0] == "project" else None


def _project_of_page(page: Any) -> str | None:
    parts = _parts(page)
    return parts[1] if len(parts) >= 2 and parts[0] == "project" else None


def _deadline(value: Any) -> date | None:
    """A due date as Worksection writes it (YYYY-MM-DD, or DD.MM.YYYY); None if cleared."""
    text = str(value or "").strip()
    if _DATE.match(text):
        return date.fromisoformat(text[:10])
    try:
        return datetime.strptime(text[:10], "%d.%m.%Y").date()
    except ValueError:
        return None


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:12]


def _plain(text: Any) -> str:
    return str(text or "")
