"""The Worksection connector's loop: inbox, event log, tags, replies.

`run_worksection` runs until `stop` is set, doing in turn:

- **inbox**: items the webhook stored (bots.worksection.webhook) are mapped and ingested
  (bots.worksection.items), then marked done, ignored or failed; while Worksection
  cannot be reached for a title, they stay pending and are tried again.
- **event log**, every `poll_interval` seconds: `get_events` over the time
  since the last successful poll plus `overlap_minutes` (Worksection's
  periods are whole minutes and its times have no seconds, so windows
  overlap rather than meet; an item seen twice has the same event id and
  is stored once). The first poll looks back `first_poll_minutes`. The
  cursor only moves once a poll's items are stored: a failed poll is
  covered by the next one's longer window. The period asked is the
  smallest of Worksection's units that covers the window
  (bots.worksection.api.event_period); past 30 days, the log's reach, the
  window is cut to 30 days and the span out of reach is reported (`gap`,
  and the state's `last_error`). A window holding more than an answer's
  10,000 records is read again project by project.
- **tags**, a sweep every `tags_interval` seconds: `get_projects`, then
  each active project's tasks (`get_tasks` with `extra=tags`) compared
  with the stored snapshot; a task whose tags differ gives a `status`
  event (the new tags, comma-separated). A task seen for the first time is
  only recorded, or the first poll would announce every tag of the
  account. An answer holds 10,000 records at most, so `get_all_tasks`
  fails on a larger account: one project per request, the projects spread
  evenly over the interval (never closer than `min_request_interval`), so
  the sweep leaves room for the other calls. With more projects than
  `tags_interval` seconds, a sweep takes one second per project.
- **replies** due in the outbox go out as comments (bots.worksection.replies);
- **tracker changes** due (deadlines, checklists, subtasks, owners, status,
  tags) go out as the calls bots.worksection.actions names;
- **automatic start**: new projects a rule of `templates.autostart` names
  (seen in the inbox, the event log and the tag sweep's list of projects)
  get their template applied (bots.worksection.autostart).

A webhook's `wake` (see bots.worksection.webhook) makes the loop look at the inbox at
once instead of at its next turn.

How far behind it is: `WorksectionState.lag_seconds`, the seconds since the
last successful poll of the event log, passed to `on_state` after every
turn (and readable from the database by `bots.worksection.store.poll_lag`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from bots.worksection.actions import deliver_actions
from bots.worksection.api import (
    MAX_PERIOD_MINUTES,
    WorksectionClient,
    WorksectionError,
    too_many_records,
)
from bots.worksection.autostart import created_items, note_projects, start_projects
from bots.worksection.echoes import is_our_tag_change
from bots.worksection.items import ItemProcessor, Outcome, dumps
from bots.worksection.mapping import Unusable, client_of, tags_of, task_info
from bots.worksection.replies import deliver_replies
from bots.worksection.store import (
    EVENTS_POLL,
    FAILED,
    SOURCE,
    TAGS_POLL,
    TaskInfo,
    finish_inbox,
    last_success,
    pending_inbox,
    record_success,
    save_tags,
    store_inbox,
    tag_states,
)
from core.base.instants import Now, utc_now
from core.config.settings import Settings, WorksectionConfig
from core.conversations.ingest import Ingestor

log = logging.getLogger("pmdesk.worksection")


@dataclass
class TagSweep:
    """A sweep of the tags in progress: the projects still to read."""

    started: datetime
    began: float  # on the monotonic clock
    pending: list[str]
    spacing: float
    changed: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WorksectionState:
    """What `/healthz` says of the connector."""

    last_poll_at: datetime | None
    lag_seconds: float | None
    inbox_pending: int
    last_error: str | None


class WorksectionConnector:
    """One connector per database; see the module's docstring."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Now = utc_now,
        client: WorksectionClient | None = None,
        wakeup: asyncio.Event | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        holder: str | None = None,
    ) -> None:
        if settings.worksection is None:
            raise ValueError("Worksection is not configured (the [worksection] table)")
        self.config: WorksectionConfig = settings.worksection
        self.engine = engine
        self.clock = clock
        self._own_client = client is None
        self.client = client or WorksectionClient.from_config(self.config, engine, clock)
        self.settings = settings
        self.ingestor = Ingestor.for_settings(engine, settings, clock=clock)
        self.processor = ItemProcessor(self.config, engine, self.ingestor, self.client, clock)
        self.wakeup = wakeup or asyncio.Event()
        self._monotonic = monotonic
        # The services lease's holder: replies are fenced with it (bots.worksection.replies).
        self.holder = holder
        self._next_events = float("-inf")
        self._next_tags = float("-inf")
        self._sweep: TagSweep | None = None
        self._inbox_waiting = 0
        self._last_error: str | None = None
        # The span of the event log a poll could not reach (off for more than 30 days).
        self.gap: tuple[datetime, datetime] | None = None
        # Poll items that could not be stored, already kept as failed inbox rows:
        # overlapping windows bring them back, and once is enough.
        self._kept_failures: set[str] = set()

    def wake(self) -> None:
        """Look at the inbox now (the webhook just stored something)."""
        self.wakeup.set()

    # -- the loop ------------------------------------------------------------------

    async def run(
        self, stop: asyncio.Event, on_state: Callable[[WorksectionState], None] | None = None
    ) -> None:
        try:
            while not stop.is_set():
                await self.turn()
                if on_state is not None:
                    on_state(await self.state())
                await self._wait(stop)
        finally:
            if self._own_client:
                await self.client.aclose()

    async def turn(self) -> None:
        """One round: inbox, replies, then the polls that are due."""
        self.wakeup.clear()
        await self._step("inbox", self.process_inbox)
        await self._step("replies", self.deliver_replies)
        await self._step("tracker changes", self.deliver_actions)
        await self._step("automatic start", self.start_projects)
        if self._monotonic() >= self._next_events:
            if await self._step("event poll", self.poll_events):
                self._next_events = self._monotonic() + self.config.poll_interval
            else:
                self._next_events = self._monotonic() + min(self.config.poll_interval, 5.0)
        if self._monotonic() >= self._next_tags:
            # A failed step waits for its next turn: nothing is lost, the
            # snapshot still holds what was last seen.
            await self._step("tag poll", self.tag_step)

    async def _step(self, name: str, work: Callable[[], Any]) -> bool:
        try:
            await work()
        except WorksectionError as error:
            self._last_error = f"{name}: {error.message}"
            log.warning("Worksection %s failed: %s", name, error.message)
            return False
        except Exception as error:
            self._last_error = f"{name}: {error!r}"
            log.exception("Worksection %s failed", name)
            return False
        return True

    async def _wait(self, stop: asyncio.Event) -> None:
        due = min(self._next_events, self._next_tags) - self._monotonic()
        if self._inbox_waiting:
            due = min(due, 1.0)
        timeout = max(0.01, min(due, 5.0))
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wakeup.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*waiters, return_exceptions=True)

    async def state(self) -> WorksectionState:
        last = await asyncio.to_thread(last_success, self.engine, EVENTS_POLL)
        lag = None if last is None else max(0.0, (self.clock() - last).total_seconds())
        return WorksectionState(last, lag, self._inbox_waiting, self._last_error)

    # -- the steps -----------------------------------------------------------------

    async def process_inbox(self, batch: int = 200) -> int:
        """Map and ingest what the webhook stored; returns how many items were settled."""
        settled = 0
        while True:
            rows = await asyncio.to_thread(pending_inbox, self.engine, batch)
            self._inbox_waiting = len(rows)
            if not rows:
                return settled
            items: list[Any] = []
            for row in rows:
                try:
                    items.append(_loads(row.body))
                except ValueError:
                    items.append(None)  # read() refuses it: the row fails with a reason
            await self.note_projects(created_items(items))
            outcomes = await self.processor.process(items)
            await asyncio.to_thread(
                finish_inbox,
                self.engine,
                [
                    (row.id, outcome.status, outcome.reason)
                    for row, outcome in zip(rows, outcomes, strict=True)
                ],
                self.clock(),
            )
            settled += len(rows)
            self._inbox_waiting = 0
            if len(rows) < batch:
                return settled

    async def deliver_replies(self) -> int:
        return await deliver_replies(self.engine, self.client, self.clock, holder=self.holder)

    async def deliver_actions(self) -> int:
        return await deliver_actions(self.engine, self.client, self.clock, holder=self.holder)

    async def note_projects(self, projects: Sequence[dict[str, Any]]) -> int:
        """New projects a rule of `templates.autostart` names (bots.worksection.autostart)."""
        if not projects or not self.settings.templates.autostart:
            return 0
        return await asyncio.to_thread(
            note_projects, self.engine, self.settings, projects, self.clock()
        )

    async def start_projects(self) -> int:
        """Apply the templates of new projects still to staff (bots.worksection.autostart)."""
        if not self.settings.templates.autostart:
            return 0
        return await start_projects(self.engine, self.settings, self.client, self.clock)

    async def poll_events(self) -> int:
        """Poll the event log once; returns how many items it gave."""
        started = self.clock()
        last = await asyncio.to_thread(last_success, self.engine, EVENTS_POLL)
        minutes = self.config.first_poll_minutes
        if last is not None:
            elapsed = max(0.0, (started - last).total_seconds())
            minutes = math.ceil(elapsed / 60) + self.config.overlap_minutes
        items = await self._events(min(minutes, MAX_PERIOD_MINUTES))
        await self.note_projects(created_items(items))
        outcomes = await self.processor.process(items)
        await self._keep_failures(items, outcomes)
        await asyncio.to_thread(record_success, self.engine, EVENTS_POLL, started)
        reached = started - timedelta(minutes=MAX_PERIOD_MINUTES)
        if last is not None and last < reached:
            # Worksection's log goes back 30 days: what happened before is out of reach.
            self.gap = (last, reached)
            self._last_error = (
                f"event poll: the log was last read {last:%Y-%m-%d %H:%M} UTC and Worksection "
                f"keeps 30 days; changes from then to {reached:%Y-%m-%d %H:%M} UTC were not read"
            )
            log.error("Worksection %s", self._last_error)
        return len(items)

    async def _events(self, minutes: int) -> list[dict[str, Any]]:
        """The log of the last `minutes`; project by project past 10,000 records.

        A long window on a busy account (back after days off) may hold more
        than an answer does: the log is then read per active project. A
        project still past the limit is named in the log and the state.
        """
        try:
            return await self.client.get_events(minutes)
        except WorksectionError as error:
            if not too_many_records(error):
                raise
        log.warning("Worksection's log holds too many events: reading it project by project")
        items: list[dict[str, Any]] = []
        for project in await self.client.get_projects():
            if project.get("id") is None:
                continue
            try:
                items.extend(await self.client.get_events(minutes, str(project["id"])))
            except WorksectionError as error:
                if not too_many_records(error):
                    raise
                self._last_error = (
                    f"event poll: project {project['id']}: {error.message}; "
                    f"its changes of the last {minutes} minutes were not all read"
                )
                log.error("Worksection %s", self._last_error)
        return items

    async def poll_tags(self) -> int:
        """A whole sweep at once, project after project; returns how many tags changed."""
        sweep = await self._start_sweep()
        while sweep.pending:
            await self._sweep_one(sweep)
        await self._finish_sweep(sweep)
        return sweep.changed

    async def tag_step(self) -> None:
        """One request of the running sweep (starting one when due), then the next's time.

        Projects are spread over `tags_interval`: one every interval / (projects + 1)
        seconds, never closer than `min_request_interval`. Once every project has
        been read, the next sweep starts `tags_interval` after this one started.
        """
        sweep = self._sweep
        if sweep is None:
            # Should the list of projects not come, the next try is a whole interval away.
            self._next_tags = self._monotonic() + self.config.tags_interval
            sweep = self._sweep = await self._start_sweep()
        else:
            # Should this project fail (network, database), it is tried again at the next step.
            self._next_tags = self._monotonic() + sweep.spacing
            await self._sweep_one(sweep)
        if sweep.pending:
            self._next_tags = self._monotonic() + sweep.spacing
            return
        await self._finish_sweep(sweep)
        self._sweep = None
        self._next_tags = max(self._monotonic(), sweep.began + self.config.tags_interval)

    async def _start_sweep(self) -> TagSweep:
        started, began = self.clock(), self._monotonic()
        listed = await self.client.get_projects()
        await self.note_projects(listed)
        projects = [str(project["id"]) for project in listed if project.get("id") is not None]
        spacing = max(
            self.config.min_request_interval, self.config.tags_interval / (len(projects) + 1)
        )
        return TagSweep(started, began, projects, spacing)

    async def _sweep_one(self, sweep: TagSweep) -> None:
        """Read the sweep's next project and store what changed; it leaves the queue then.

        A project Worksection refuses for good (over 10,000 open tasks) is
        skipped and named in the log; a transient failure leaves it first
        in the queue and raises.
        """
        project = sweep.pending[0]
        try:
            tasks = await self.client.get_tasks(project)
        except WorksectionError as error:
            if error.transient:
                raise
            sweep.pending.pop(0)
            sweep.skipped.append(project)
            self._last_error = f"tag poll: project {project}: {error.message}"
            log.warning("Worksection tag poll skips project %s: %s", project, error.message)
            return
        sweep.changed += await self._compare_tags(tasks, sweep.started)
        sweep.pending.pop(0)

    async def _finish_sweep(self, sweep: TagSweep) -> None:
        if not sweep.skipped:
            await asyncio.to_thread(record_success, self.engine, TAGS_POLL, sweep.started)

    async def _compare_tags(self, tasks: Sequence[dict[str, Any]], started: datetime) -> int:
        """Compare these tasks' tags with the snapshot, store changes; how many changed."""
        parsed: list[tuple[TaskInfo, list[str]]] = []
        for data in tasks:
            try:
                parsed.append((task_info(data), tags_of(data)))
            except Unusable as error:
                log.warning("get_tasks: %s", error)
        ids = [info.task_id for info, _ in parsed]
        states = await asyncio.to_thread(tag_states, self.engine, ids)
        seen: list[tuple[TaskInfo, list[str], int]] = []
        events: list[dict[str, Any]] = []
        for info, tags in parsed:
            state = states.get(info.task_id)
            if state is not None and state.tags == tuple(tags) and state.info == info:
                continue  # as stored: nothing to write
            version = state.version if state is not None else 0
            if state is not None and state.tags is not None and tuple(tags) != state.tags:
                version += 1
                ours = await asyncio.to_thread(
                    is_our_tag_change, self.engine, info.task_id, tags, version, started
                )
                if not ours:
                    events.append(self._tag_event(info, tags, state.tags, version, started))
            seen.append((info, tags, version))
        if events:
            results = await asyncio.to_thread(self.ingestor.ingest_batch, events)
            for result in results:
                if result.status == "rejected":
                    log.warning("tag change not stored: %s", result.reason)
        # The snapshot moves only once the changes are stored: a crash in
        # between finds them again, under the same ids, and stores them once.
        await asyncio.to_thread(save_tags, self.engine, seen, started)
        return len(events)

    def _tag_event(
        self,
        info: TaskInfo,
        tags: Sequence[str],
        before: Sequence[str],
        version: int,
        at: datetime,
    ) -> dict[str, Any]:
        task: dict[str, Any] = {"id": info.task_id}
        if info.title:
            task["title"] = info.title[:1000]
        if info.page:
            task["url"] = f"{self.config.url}{info.page}"
        return {
            "id": f"tags:{info.task_id}:{version}",
            "source": SOURCE,
            "kind": "status",
            # Worksection's log does not say when tags changed: this poll saw it.
            "occurred_at": at.isoformat(),
            "task": task,
            "client": client_of(self.config, info),
            "project": info.project_name,
            "status": ", ".join(tags)[:200],
            "extra": {
                "tags": list(tags),
                "added": sorted(set(tags) - set(before)),
                "removed": sorted(set(before) - set(tags)),
            },
        }

    async def _keep_failures(self, items: Sequence[Any], outcomes: Sequence[Outcome]) -> None:
        """Polled items that could not be stored go to the inbox as failed rows, once."""
        for item, outcome in zip(items, outcomes, strict=True):
            if outcome.status != FAILED:
                continue
            body = dumps(item)
            if body in self._kept_failures:
                continue
            await asyncio.to_thread(
                store_inbox, self.engine, [body], self.clock(), outcome.reason or "failed"
            )
            self._kept_failures.add(body)


async def run_worksection(
    settings: Settings,
    engine: Engine,
    stop: asyncio.Event,
    *,
    clock: Now = utc_now,
    on_state: Callable[[WorksectionState], None] | None = None,
    client: WorksectionClient | None = None,
    wakeup: asyncio.Event | None = None,
    holder: str | None = None,
) -> None:
    """Run the connector until `stop` is set (see the module's docstring).

    `wakeup`: the event the webhook router's `wake` sets (`wake=wakeup.set`),
    so that what it stores is processed at once. `holder`: the services
    lease's holder, checked before each reply is posted.
    """
    connector = WorksectionConnector(
        settings, engine, clock=clock, client=client, wakeup=wakeup, holder=holder
    )
    await connector.run(stop, on_state)


def _loads(body: str) -> Any:
    return json.loads(body)
