"""Worksection items to stored events: the step shared by the webhook inbox and the poller.

For a list of items: find the task each is about, fetch the titles not yet
cached (`get_task`, once per task), set aside comments that are our own
replies coming back, map the rest (bots.worksection.mapping) and ingest them in one
batch. Each item gets an outcome: done, ignored (nothing of ours: a
project change, an echo of our reply...) or failed with the reason.

A transient API error while fetching a title stops the whole batch
(`WorksectionError` propagates) so that the caller tries again later with
nothing half done; a task Worksection no longer knows is mapped with what
the item and its page say.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from bots.worksection.api import WorksectionClient, WorksectionError
from bots.worksection.echoes import is_our_change
from bots.worksection.mapping import Mapper, People, Reading, Unusable, read, task_info
from bots.worksection.store import (
    DONE,
    FAILED,
    IGNORED,
    TaskInfo,
    cached_tasks,
    claim_echo,
    remember_tasks,
    staff_emails,
)
from core.base.instants import Now
from core.config.settings import WorksectionConfig
from core.conversations.ingest import Ingestor

log = logging.getLogger("pmdesk.worksection")


@dataclass(frozen=True)
class Outcome:
    status: str  # done, ignored or failed
    reason: str | None = None


class ItemProcessor:
    """Maps and ingests Worksection items; keep one for the life of the connector."""

    def __init__(
        self,
        config: WorksectionConfig,
        engine: Engine,
        ingestor: Ingestor,
        client: WorksectionClient,
        clock: Now,
    ) -> None:
        self.config = config
        self.engine = engine
        self.ingestor = ingestor
        self.client = client
        self.clock = clock

    async def process(self, items: Sequence[Any]) -> list[Outcome]:
        """One outcome per item, in order. Raises WorksectionError when the API is unreachable."""
        readings: list[Reading | Outcome] = []
        for item in items:
            try:
                readings.append(read(item))
            except Unusable as error:
                readings.append(Outcome(FAILED, str(error)))
        wanted = {r.task_id for r in readings if isinstance(r, Reading) and not r.ignored}
        tasks = await self._tasks({task for task in wanted if task})
        emails = await asyncio.to_thread(staff_emails, self.engine)
        mapper = Mapper(self.config, People.of(emails, self.config.staff_domains))
        outcomes: list[Outcome | None] = []
        events: list[dict[str, Any]] = []
        owners: list[int] = []
        for index, (item, reading) in enumerate(zip(items, readings, strict=True)):
            if isinstance(reading, Outcome):
                outcomes.append(reading)
                continue
            if reading.ignored or reading.task_id is None:
                outcomes.append(Outcome(IGNORED, reading.ignored))
                continue
            if await asyncio.to_thread(is_our_change, self.engine, item, reading, self.clock()):
                outcomes.append(Outcome(IGNORED, "our own change in the tracker, already stored"))
                continue
            if reading.comment_id and await self._is_echo(item, reading, mapper):
                outcomes.append(Outcome(IGNORED, "our own reply, already stored"))
                continue
            renamed = _renamed(item, tasks[reading.task_id])
            if renamed is not None:
                tasks[reading.task_id] = renamed
                await asyncio.to_thread(remember_tasks, self.engine, [renamed], self.clock())
            try:
                mapped = mapper.events(item, tasks[reading.task_id])
            except Unusable as error:
                outcomes.append(Outcome(FAILED, str(error)))
                continue
            if not mapped:
                outcomes.append(Outcome(IGNORED, "no change pmdesk follows"))
                continue
            outcomes.append(None)
            events.extend(mapped)
            owners.extend([index] * len(mapped))
        failures: dict[int, str] = {}
        if events:
            results = await asyncio.to_thread(self.ingestor.ingest_batch, events)
            for result, owner in zip(results, owners, strict=True):
                if result.status == "rejected":
                    failures[owner] = result.reason or "rejected"
        return [
            outcome
            if outcome is not None
            else (Outcome(FAILED, failures[index]) if index in failures else Outcome(DONE))
            for index, outcome in enumerate(outcomes)
        ]

    async def _tasks(self, task_ids: set[str]) -> dict[str, TaskInfo]:
        """Every task's cached details, asking Worksection for those not known yet."""
        known = await asyncio.to_thread(cached_tasks, self.engine, task_ids)
        fetched: list[TaskInfo] = []
        for task_id in sorted(task_ids - known.keys()):
            try:
                info = task_info(await self.client.get_task(task_id))
            except WorksectionError as error:
                if error.transient:
                    raise
                # Deleted, or out of the key's reach: the events still count.
                log.warning("task %s: %s; stored without its title", task_id, error.message)
                info = TaskInfo(task_id=task_id, title="")
            except Unusable as error:
                log.warning("task %s: %s", task_id, error)
                info = TaskInfo(task_id=task_id, title="")
            if info.task_id != task_id:
                info = TaskInfo(task_id, info.title, info.page, info.project_id, info.project_name)
            fetched.append(info)
            known[task_id] = info
        if fetched:
            await asyncio.to_thread(remember_tasks, self.engine, fetched, self.clock())
        return known

    async def _is_echo(self, item: Mapping[str, Any], reading: Reading, mapper: Mapper) -> bool:
        author = mapper.author(item.get("user_from"))
        if author is None or author["role"] != "staff":
            return False
        new = item.get("new")
        text = str((new if isinstance(new, Mapping) else item).get("text", "") or "")
        assert reading.task_id is not None and reading.comment_id is not None
        found = await asyncio.to_thread(
            claim_echo,
            self.engine,
            reading.task_id,
            reading.comment_id,
            text,
            author.get("email"),
            self.clock(),
        )
        return found is not None


def _renamed(item: Mapping[str, Any], task: TaskInfo) -> TaskInfo | None:
    """The task with the new name a task item gives it, if it renames it."""
    obj = item.get("object")
    new = item.get("new")
    if not (isinstance(obj, Mapping) and obj.get("type") == "task" and isinstance(new, Mapping)):
        return None
    name = str(new.get("name") or "")
    if not name or name == task.title:
        return None
    return TaskInfo(task.task_id, name, task.page, task.project_id, task.project_name)


def dumps(item: Any) -> str:
    """An item as the inbox keeps it."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))
