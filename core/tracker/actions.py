"""The assistant's changes to a tracker task, recorded as events of pmdesk's own source.

Each action is an event of the staff member who made it (through
core.conversations.actions.act: audited, deduplicated by its key, kept
through replays) whose `extra.tracker` says what to write to Worksection:
the ingestion stores it in `TrackerAction` with a `Delivery` row in the
same transaction, and the services send it (bots.worksection.actions).

Which event each action is:

- deadline: a `deadline` event (the thread's deadline follows at once);
- owner: an `assignee` event (pmdesk's own assignment follows at once);
- close, reopen: `task_closed`, `task_reopened`;
- checklist items, a subtask: `checklist`, `subtask`;
- tags: a `status` event with the task's tags as they will be (the tags the
  connector's tag poll last saw, changed), as the poll itself records a tag
  change; `tags` when the poll has not seen the task yet.

None of these kinds opens or stops a response clock.

A thread is named by its pmdesk id (`12`, `#12`), or by its Worksection
task: `ws:4211` or the task's address (`https://.../project/77/4211/`).
Bad input is refused (`TrackerRefused`) before anything is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from core.base.i18n import gettext
from core.base.instants import Now, utc_now
from core.base.kinds import EventKind
from core.config.settings import Settings
from core.conversations.actions import ActionRefused, act, staff_author
from core.conversations.ingest import Ingestor
from core.conversations.people import AmbiguousStaff, UnknownStaff, find_staff
from core.store.models.system import table
from core.store.models.threads import Thread, ThreadRef
from core.store.models.worksection import WorksectionTask
from core.tracker.dates import BadDate, agency_calendar, parse_deadline

TRACKER_SOURCE = "worksection"
# What Worksection keeps of a text (a longer one would be cut silently).
MAX_TEXT = 65_536
MAX_TITLE = 1_000
NOONE = "NOONE"

THREAD, REFS, TASKS = table(Thread), table(ThreadRef), table(WorksectionTask)

_PAGE = re.compile(r"/project/(\d+)/(?:\d+/)*?(\d+)/?(?:[#?].*)?$")


class TrackerRefused(ActionRefused):
    """Nothing was recorded; the message says why, for the person who tried."""


@dataclass(frozen=True)
class Target:
    """The thread an action is on and its Worksection task."""

    thread_id: int
    task_id: str
    title: str
    project_id: str | None


@dataclass(frozen=True)
class Recorded:
    """An action recorded: its event, and whether it was new ("created") or a repeat."""

    event_id: int | None
    status: str
    target: Target
    verb: str
    params: dict[str, Any]


def find_target(engine: Engine, ref: str | int) -> Target:
    """The thread and Worksection task `ref` names (see the module's docstring)."""
    text = str(ref).strip()
    with engine.connect() as connection:
        if text.lstrip("#").isdigit():
            thread_id = int(text.lstrip("#"))
            title = connection.execute(
                select(THREAD.c.title).where(THREAD.c.id == thread_id)
            ).scalar()
            if title is None:
                raise TrackerRefused(gettext("no thread {id}").format(id=thread_id))
            task_id = connection.execute(
                select(REFS.c.external_id).where(
                    REFS.c.thread_id == thread_id, REFS.c.source == TRACKER_SOURCE
                )
            ).scalar()
            if task_id is None:
                raise TrackerRefused(
                    gettext("thread {id} has no Worksection task").format(id=thread_id)
                )
        else:
            task_id = _task_of(text)
            found = connection.execute(
                select(THREAD.c.id, THREAD.c.title)
                .select_from(REFS.join(THREAD, THREAD.c.id == REFS.c.thread_id))
                .where(REFS.c.source == TRACKER_SOURCE, REFS.c.external_id == task_id)
            ).first()
            if found is None:
                raise TrackerRefused(
                    gettext(
                        "pmdesk knows no thread of Worksection task {task} (not seen yet?)"
                    ).format(task=task_id)
                )
            thread_id, title = int(found.id), found.title
        project = connection.execute(
            select(TASKS.c.project_id).where(TASKS.c.task_id == task_id)
        ).scalar()
    return Target(thread_id, str(task_id), title or "", project)


def _task_of(text: str) -> str:
    if text.lower().startswith("ws:") and text[3:].strip().isdigit():
        return text[3:].strip()
    page = _PAGE.search(text)
    if page:
        return page.group(2)
    raise TrackerRefused(
        gettext(
            "{ref!r} names no thread: give its number (12), ws:TASK or the task's address"
        ).format(ref=text)
    )


class Tracker:
    """Records the actions; one per intake (keep its ingestor's lifetime)."""

    def __init__(self, ingestor: Ingestor, settings: Settings, clock: Now = utc_now) -> None:
        self.ingestor = ingestor
        self.engine = ingestor.engine
        self.settings = settings
        self.clock = clock

    # -- the actions ----------------------------------------------------------------

    def deadline(
        self, ref: str | int, staff_id: int, when: str, key: str | None = None
    ) -> Recorded:
        """Move the task's deadline to `when` (a date or `+N` business days)."""
        target = find_target(self.engine, ref)
        day = self._day(when)
        params = {"dateend": day.strftime("%d.%m.%Y")}
        return self._record(
            target, staff_id, EventKind.DEADLINE, "deadline", params, key, deadline=day.isoformat()
        )

    def todo(
        self, ref: str | int, staff_id: int, lines: Sequence[str], key: str | None = None
    ) -> Recorded:
        """Add checklist items (a comment of checkboxes: Worksection's only way)."""
        items = _lines(lines)
        if not items:
            raise TrackerRefused(gettext("an empty checklist is not sent: give one line or more"))
        target = find_target(self.engine, ref)
        return self._record(
            target, staff_id, EventKind.CHECKLIST, "todo", {"todo": items}, key, "\n".join(items)
        )

    def subtask(
        self,
        ref: str | int,
        staff_id: int,
        title: str,
        *,
        owner: str | None = None,
        deadline: str | None = None,
        todo: Sequence[str] = (),
        key: str | None = None,
    ) -> Recorded:
        """Create a subtask of the thread's task: title, owner, deadline, checklist."""
        name = " ".join(title.split())
        if not name:
            raise TrackerRefused(gettext("a subtask needs a title"))
        if len(name) > MAX_TITLE:
            raise TrackerRefused(
                gettext("a title is {most} characters at most").format(most=MAX_TITLE)
            )
        target = find_target(self.engine, ref)
        params: dict[str, Any] = {"title": name}
        if target.project_id:
            params["id_project"] = target.project_id
        if owner is not None:
            params["email_user_to"] = self._email(owner)
        if deadline is not None:
            params["dateend"] = self._day(deadline).strftime("%d.%m.%Y")
        items = _lines(todo)
        if items:
            params["todo"] = items
        return self._record(target, staff_id, EventKind.SUBTASK, "subtask", params, key, name)

    def owner(
        self, ref: str | int, staff_id: int, owner: str | None, key: str | None = None
    ) -> Recorded:
        """Give the task to `owner` (a staff name, email or id) in the tracker; None: nobody.

        pmdesk's own assignment of the thread follows (an `assignee` event).
        """
        target = find_target(self.engine, ref)
        if owner is None:
            return self._record(
                target,
                staff_id,
                EventKind.ASSIGNEE,
                "owner",
                {"email_user_to": NOONE},
                key,
                assignee=None,
            )
        person = self._person(owner)
        email = self._email_of(person.name, person.emails)
        return self._record(
            target,
            staff_id,
            EventKind.ASSIGNEE,
            "owner",
            {"email_user_to": email},
            key,
            assignee=staff_author(self.engine, person.id),
        )

    def close(self, ref: str | int, staff_id: int, key: str | None = None) -> Recorded:
        target = find_target(self.engine, ref)
        return self._record(target, staff_id, EventKind.TASK_CLOSED, "close", {}, key)

    def reopen(self, ref: str | int, staff_id: int, key: str | None = None) -> Recorded:
        target = find_target(self.engine, ref)
        return self._record(target, staff_id, EventKind.TASK_REOPENED, "reopen", {}, key)

    def tags(
        self,
        ref: str | int,
        staff_id: int,
        plus: Iterable[str] = (),
        minus: Iterable[str] = (),
        key: str | None = None,
    ) -> Recorded:
        """Add the tags `plus` and remove the tags `minus`, the task's others kept."""
        added, removed = _names(plus), _names(minus)
        if not added and not removed:
            raise TrackerRefused(gettext("no tag to add or remove: write +TAG or -TAG"))
        both = sorted(set(added) & set(removed))
        if both:
            raise TrackerRefused(
                gettext("a tag cannot be both added and removed: {tags}").format(
                    tags=", ".join(both)
                )
            )
        for name in added + removed:
            if "," in name:
                raise TrackerRefused(gettext("a tag name has no comma: {tag}").format(tag=name))
        target = find_target(self.engine, ref)
        params = {"plus": added, "minus": removed}
        text = " ".join([*(f"+{tag}" for tag in added), *(f"-{tag}" for tag in removed)])
        known = self._tags_of(target.task_id)
        if known is None:
            return self._record(target, staff_id, EventKind.TAGS, "tags", params, key, text)
        # The task's tags as they will be: the thread's status follows at once,
        # as it does for a change the tag poll finds.
        after = sorted((set(known) - set(removed)) | set(added))
        return self._record(
            target,
            staff_id,
            EventKind.STATUS,
            "tags",
            params,
            key,
            text,
            status=", ".join(after)[:200],
        )

    def _tags_of(self, task_id: str) -> list[str] | None:
        """The task's tags as the connector's tag poll last saw them; None if never."""
        with self.engine.connect() as connection:
            stored = connection.execute(
                select(TASKS.c.tags).where(TASKS.c.task_id == task_id)
            ).scalar()
        return None if stored is None else [str(tag) for tag in json.loads(stored)]

    # -- parts ----------------------------------------------------------------------

    def _day(self, when: str) -> Any:
        calendar, zone = agency_calendar(self.settings)
        today = self.clock().astimezone(zone).date()
        try:
            return parse_deadline(when, today, calendar, zone)
        except BadDate as error:
            raise TrackerRefused(str(error)) from None

    def _person(self, who: str) -> Any:
        try:
            person = find_staff(self.engine, who)
        except (UnknownStaff, AmbiguousStaff) as error:
            raise TrackerRefused(str(error.args[0] if error.args else error)) from None
        if not person.active:
            raise TrackerRefused(
                gettext("{name} is no longer on the team").format(name=person.name)
            )
        return person

    def _email(self, who: str) -> str:
        person = self._person(who)
        return self._email_of(person.name, person.emails)

    @staticmethod
    def _email_of(name: str, emails: Sequence[str]) -> str:
        if not emails:
            raise TrackerRefused(
                gettext(
                    "{name} has no email address, which is how Worksection knows people: "
                    "pmdesk staff edit {name} --email ADDRESS"
                ).format(name=name)
            )
        return emails[0]

    def _record(
        self,
        target: Target,
        staff_id: int,
        kind: EventKind,
        verb: str,
        params: dict[str, Any],
        key: str | None,
        text: str = "",
        **fields: Any,
    ) -> Recorded:
        try:
            staff_author(self.engine, staff_id)
        except UnknownStaff as error:
            raise TrackerRefused(str(error)) from None
        try:
            result = act(
                self.ingestor,
                target.thread_id,
                staff_id,
                kind,
                text,
                clock=self.clock,
                key=None if key is None else f"{verb}:{key}",
                extra={"tracker": {"task": target.task_id, "verb": verb, "params": params}},
                **fields,
            )
        except TrackerRefused:
            raise
        except ActionRefused as error:  # the event itself refused (a text too long...)
            raise TrackerRefused(str(error)) from None
        return Recorded(result.event_id, result.status, target, verb, params)


def tag_changes(words: Iterable[str]) -> tuple[list[str], list[str]]:
    """`+x -y` (as the command line, the dashboard and Telegram take them): the tags to add
    and to remove; TrackerRefused names the first word that is neither."""
    plus: list[str] = []
    minus: list[str] = []
    for word in words:
        if word.startswith("+") and len(word) > 1:
            plus.append(word[1:])
        elif word.startswith("-") and len(word) > 1:
            minus.append(word[1:])
        else:
            raise TrackerRefused(
                gettext("write +TAG to add a tag and -TAG to remove one, not {tag!r}").format(
                    tag=word
                )
            )
    if not plus and not minus:
        raise TrackerRefused(gettext("no tag to add or remove: write +TAG or -TAG"))
    return plus, minus


def _lines(lines: Iterable[str]) -> list[str]:
    """Checklist items: one per line given (a line may hold several), blank ones dropped."""
    items = [part.strip() for line in lines for part in line.splitlines() if part.strip()]
    for item in items:
        if len(item) > MAX_TEXT:
            raise TrackerRefused(
                gettext("a checklist item is {most} characters at most").format(most=MAX_TEXT)
            )
    return items


def _names(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(name.strip() for name in names if name.strip()))
