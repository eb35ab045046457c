"""Which Worksection items are our own tracker changes coming back (core.tracker.echoes).

A change pmdesk wrote (bots.worksection.actions) is logged by Worksection
and comes back through the webhook and the event log like anyone's. It is
already an event of the person who made it in pmdesk, so its echo is set
aside (the inbox row is marked ignored), never ingested a second time:

- a task posted under a task (`/project/P/PARENT/T/`): our subtask, known by
  the id `post_task` gave, or by its parent and title;
- a task closed or reopened: our close or reopen of that task;
- a task updated: every field it changes (`date_end`, `user_to`) is one
  of ours (a deadline, an owner), else it is mapped as usual (tags in an
  item give no event: the tag poll finds them);
- a comment: our checklist, known by the id `post_comment` gave.

Tag changes found by the tag poll are matched the same way
(`is_our_tag_change`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine

from bots.worksection.mapping import Reading
from core.tracker.echoes import claim_echo


def is_our_change(engine: Engine, item: Any, reading: Reading, now: datetime) -> bool:
    """Whether `item` is the echo of a tracker action of ours (claimed if it is)."""
    if reading.task_id is None or not isinstance(item, Mapping):
        return False
    obj = item.get("object")
    action = item.get("action")
    new: Mapping[str, Any] = _mapping(item.get("new"))
    old: Mapping[str, Any] = _mapping(item.get("old"))
    if not isinstance(obj, Mapping):
        return False
    if reading.comment_id is not None:
        todo = new.get("todo")
        return (
            claim_echo(
                engine,
                reading.task_id,
                "todo",
                now,
                value=todo if isinstance(todo, list) else None,
                result_id=reading.comment_id,
                key=f"comment:{reading.comment_id}",
            )
            is not None
        )
    if obj.get("type") != "task":
        return False
    if action == "post":
        parent = _parent_of(obj.get("page"))
        if parent is None:
            return False
        found = claim_echo(
            engine,
            parent,
            "subtask",
            now,
            value=new.get("name"),
            result_id=reading.task_id,
            key=f"post:{reading.task_id}",
        )
        return found is not None
    if action in ("close", "reopen"):
        key = _key(item, reading.task_id)
        return claim_echo(engine, reading.task_id, action, now, key=key) is not None
    if action != "update":
        return False
    changed = [key for key in new if new.get(key) != old.get(key)]
    if not changed:
        return False
    claims: list[tuple[str, Any]] = []
    for key in changed:
        if key == "date_end":
            claims.append(("deadline", _date(new.get(key))))
        elif key == "user_to":
            claims.append(("owner", _email(new.get(key))))
        elif key == "tags":
            # Items' tags give no event (the tag poll is their one road): that
            # poll claims the change (is_our_tag_change).
            continue
        else:
            return False  # a change pmdesk did not make (a rename...): mapped as usual
    key = _key(item, reading.task_id)
    if not claims:
        return False
    return all(
        claim_echo(engine, reading.task_id, verb, now, value=value, key=f"{key}:{verb}") is not None
        for verb, value in claims
    )


def is_our_tag_change(
    engine: Engine, task_id: str, tags: Sequence[str], version: int, now: datetime
) -> bool:
    """Whether a task's new tags, found by the tag poll, are those an action of ours set."""
    key = f"tags:{task_id}:{version}"
    return claim_echo(engine, task_id, "tags", now, value=list(tags), key=key) is not None


def _key(item: Mapping[str, Any], task_id: str) -> str:
    """An echo's identity: the same item, by webhook or event log, gives the same key."""
    new = json.dumps(item.get("new"), sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha1(new.encode("utf-8")).hexdigest()[:12]
    return f"{item.get('action')}:{task_id}:{item.get('date_added')}:{digest}"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _parent_of(page: Any) -> str | None:
    if not isinstance(page, str):
        return None
    parts = [part for part in page.split("#")[0].split("/") if part]
    # /project/P/PARENT/T/: a subtask's page names its parent before itself.
    return parts[-2] if len(parts) >= 4 and parts[0] == "project" else None


def _date(value: Any) -> date | None:
    text = str(value or "").strip()
    for layout, size in (("%Y-%m-%d", 10), ("%d.%m.%Y", 10)):
        try:
            return datetime.strptime(text[:size], layout).date()
        except ValueError:
            continue
    return None


def _email(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("email") or "")
    return str(value or "")
