"""Tracker actions sent to Worksection: deadlines, checklists, subtasks, owners, status, tags.

What the assistant does to a task in pmdesk (core.tracker.actions) waits as
a pending delivery (core.tracker.delivery.due_actions: in order per task).
Each goes out as the call the API documents:

- deadline: `update_task` with `dateend` (`DD.MM.YYYY`);
- owner: `update_task` with `email_user_to` (`NOONE`: nobody);
- checklist items: `post_comment` with `todo[]` repeated, as the author
  (`update_task` cannot change a checklist);
- subtask: `post_task` with `id_parent`, `title`, and `email_user_to`,
  `dateend`, `todo[]` when given (the project asked of `get_task` when
  pmdesk does not know it);
- close, reopen: `complete_task`, `reopen_task`;
- tags: `update_task_tags` with `plus`, `minus`.

Failures are those of replies (bots.worksection.replies): a transient one
(network, 5xx, rate limit, after the client's own retries) puts the action
off with a growing delay, and holds back the later actions on its task; a
refusal fails it with Worksection's message and tells its author
(core.tracker.delivery.mark_refused). Each action is checked with the
services lease just before it is sent (core.notify.drain.may_send): one
sent meanwhile by another process is skipped, a lost lease ends the batch.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from bots.worksection.api import WorksectionClient, WorksectionError
from bots.worksection.replies import retry_delay
from core.base.instants import Now
from core.notify.drain import may_send
from core.tracker.delivery import ActionView, due_actions, mark_refused, mark_written, put_off

log = logging.getLogger("pmdesk.worksection")


async def deliver_actions(
    engine: Engine,
    client: WorksectionClient,
    clock: Now,
    batch: int = 20,
    holder: str | None = None,
) -> int:
    """Send the tracker actions due now; returns how many Worksection took."""
    views = await asyncio.to_thread(due_actions, engine, clock(), batch)
    written = 0
    held: set[str] = set()
    for view in views:
        if view.task_id in held:
            continue
        verdict = await asyncio.to_thread(
            may_send, engine, "delivery", view.event_id, clock(), holder
        )
        if verdict == "lost":
            log.error("the services lease is lost: sending no more tracker changes")
            break
        if verdict == "done":
            continue
        try:
            result = await send(client, view)
        except WorksectionError as error:
            at = clock()
            if error.transient:
                held.add(view.task_id)
                retry_at = at + timedelta(seconds=retry_delay(view.attempts))
                log.warning("tracker change %s put off: %s", view.event_id, error.message)
                await asyncio.to_thread(
                    put_off, engine, view.event_id, view.task_id, at, error.message, retry_at
                )
            else:
                log.warning("tracker change %s refused: %s", view.event_id, error.message)
                await asyncio.to_thread(mark_refused, engine, view.event_id, at, error.message)
            continue
        except ValueError as error:
            # An action stored with parameters the call cannot take: never sendable.
            await asyncio.to_thread(mark_refused, engine, view.event_id, clock(), str(error))
            continue
        # Once Worksection has it, its record must land even if we are being stopped.
        await asyncio.shield(
            asyncio.to_thread(mark_written, engine, view.event_id, clock(), result)
        )
        written += 1
    return written


async def send(client: WorksectionClient, view: ActionView) -> str | None:
    """One action's call; the id Worksection gave (a subtask's, a comment's), if any."""
    params = view.params
    task = view.task_id
    if view.verb == "deadline":
        await client.update_task(task, dateend=_day(params["dateend"]))
        return None
    if view.verb == "owner":
        await client.update_task(task, email_user_to=params["email_user_to"])
        return None
    if view.verb == "todo":
        return await client.post_comment(task, "", view.author_email, todo=list(params["todo"]))
    if view.verb == "subtask":
        project = params.get("id_project") or await _project_of(client, task)
        created = await client.post_task(
            project,
            params["title"],
            parent_id=task,
            email_user_from=view.author_email,
            email_user_to=params.get("email_user_to"),
            dateend=_day(params["dateend"]) if params.get("dateend") else None,
            todo=params.get("todo", []),
        )
        return created.id
    if view.verb == "close":
        await client.complete_task(task)
        return None
    if view.verb == "reopen":
        await client.reopen_task(task)
        return None
    if view.verb == "tags":
        await client.update_task_tags(
            task, plus=params.get("plus", []), minus=params.get("minus", [])
        )
        return None
    raise ValueError(f"unknown tracker action {view.verb!r}")


async def _project_of(client: WorksectionClient, task_id: str) -> str:
    data: dict[str, Any] = await client.get_task(task_id)
    project = data.get("project")
    found = project.get("id") if isinstance(project, dict) else None
    if found is None:
        raise WorksectionError(f"task {task_id}: its project is unknown", transient=False)
    return str(found)


def _day(text: str) -> date:
    return datetime.strptime(text, "%d.%m.%Y").date()
