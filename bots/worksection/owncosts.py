"""pmdesk's own measure logged back to Worksection with `add_costs` (core.time.costs).

With `[time] log_own_time`, the services run `run_own_costs` beside the
connector, on its client (so that together they keep to Worksection's one
request a second). Every `interval` seconds (a minute) it creates the rows
of the days that have ended (core.time.costs.queue_own_costs: one per
thread, day and staff member) and sends those due: `add_costs` on the
thread's task, as the staff member (`email_user_from`), the day's minutes
as `H:MM`, the day as `date`, and the comment "account management (pmdesk)"
(core.time.own.OWN_COMMENT), by which the row is known when `get_costs`
brings it back.

Failures are those of replies (bots.worksection.replies): a transient one
(network, 5xx, rate limit) puts the row off with a growing delay (5 s,
10 s... 10 minutes); a refusal (unknown task, unknown user) fails it with
Worksection's message and tells its staff member on Telegram, once.

Never twice: each row is claimed just before its call (the services lease
checked, the try counted, core.time.costs.claim_cost), and `add_costs` is
tried once per turn, never retried blindly inside the client. A row tried
before, whose answer may have been lost, is first looked for with
`get_costs` on its task and day (our comment, its staff member): found, it
is marked logged with that row's id and not sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bots.worksection.api import WorksectionClient, WorksectionError
from bots.worksection.replies import retry_delay
from core.base.instants import Now, utc_now
from core.config.settings import Settings
from core.time.costs import (
    CostView,
    claim_cost,
    due_own_costs,
    mark_cost_logged,
    mark_cost_refused,
    put_cost_off,
    queue_own_costs,
)
from core.time.own import OWN_COMMENT

log = logging.getLogger("pmdesk.worksection.time")

# How often the services look for days to log and rows to send (seconds).
INTERVAL = 60.0


async def deliver_own_costs(
    engine: Engine,
    client: WorksectionClient,
    clock: Now,
    batch: int = 20,
    holder: str | None = None,
) -> int:
    """Send the rows due now; returns how many Worksection has (sent now or found there)."""
    views = await asyncio.to_thread(due_own_costs, engine, clock(), batch)
    logged = 0
    for view in views:
        now = clock()
        retry_at = now + timedelta(seconds=retry_delay(view.attempts))
        verdict = await asyncio.to_thread(claim_cost, engine, view, now, retry_at, holder)
        if verdict == "lost":
            log.error("the services lease is lost: logging no more time to Worksection")
            break
        if verdict == "done":
            continue
        try:
            cost_id = await _send(client, view)
        except WorksectionError as error:
            if error.transient:
                log.warning(
                    "own time of %s on task %s put off: %s", view.day, view.task_id, error.message
                )
                await asyncio.to_thread(
                    put_cost_off, engine, view, clock(), error.message, retry_at
                )
            else:
                log.warning(
                    "own time of %s on task %s refused: %s", view.day, view.task_id, error.message
                )
                await asyncio.to_thread(mark_cost_refused, engine, view, clock(), error.message)
            continue
        except ValueError as error:  # a row the call cannot take: never sendable
            await asyncio.to_thread(mark_cost_refused, engine, view, clock(), str(error))
            continue
        # Once Worksection has it, its record must land even if we are being stopped.
        await asyncio.shield(asyncio.to_thread(mark_cost_logged, engine, view, clock(), cost_id))
        logged += 1
    return logged


async def _send(client: WorksectionClient, view: CostView) -> str | None:
    """The row's id in Worksection: found there (a try before may have made it), or made now."""
    if view.attempts > 0:
        found = await logged_already(client, view)
        if found is not None:
            log.info("own time of %s on task %s was already logged", view.day, view.task_id)
            return found
    return await client.add_costs(
        view.task_id, view.minutes, view.email, comment=OWN_COMMENT, day=view.day
    )


async def logged_already(client: WorksectionClient, view: CostView) -> str | None:
    """The id of a row of ours for `view` in Worksection (its task, day, comment, person)."""
    rows = await client.get_costs(view.day, view.day, task_id=view.task_id)
    for row in rows:
        user: Any = row.get("user_from")
        email = user.get("email") if isinstance(user, dict) else None
        if (
            row.get("comment") == OWN_COMMENT
            and isinstance(email, str)
            and view.email is not None
            and email.casefold() == view.email.casefold()
            and row.get("id") is not None
        ):
            return str(row["id"])
    return None


async def run_own_costs(
    settings: Settings,
    engine: Engine,
    stop: asyncio.Event,
    client: WorksectionClient,
    *,
    clock: Now = utc_now,
    holder: str | None = None,
    interval: float = INTERVAL,
) -> None:
    """Queue the ended days and send the rows due, every `interval` seconds, until `stop`."""
    zone = ZoneInfo(settings.timezone)
    while not stop.is_set():
        try:
            queued = await asyncio.to_thread(queue_own_costs, engine, settings.time, zone, clock())
            if queued:
                log.info("own time: %d days of threads to log to Worksection", queued)
            await deliver_own_costs(engine, client, clock, holder=holder)
        except Exception:
            # The database or Worksection away: the next turn tries again, nothing is lost.
            log.exception("logging own time to Worksection failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
