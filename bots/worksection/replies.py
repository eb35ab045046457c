"""Replies to Worksection tasks: pending deliveries posted as comments.

A reply written in pmdesk (dashboard or Telegram) on a thread whose channel
is Worksection waits in the outbox (`core.notify.drain.due_deliveries` with
channel "worksection"). It goes out with `post_comment` on the thread's
task, as the staff member who wrote it (`email_user_from`: their address;
Worksection shows the comment under their name), then is marked delivered
with the new comment's id. That id is how the comment, coming back through
the webhook or the event log, is recognised as ours and not stored again
(`bots.worksection.store.claim_echo`).

Failures: a transient one (network, 5xx, rate limit, after the client's
own retries) puts the reply off with a growing delay; a permanent one
(Worksection refuses: unknown task, unknown user) fails it for good, which
tells its author through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import Engine

from bots.worksection.api import WorksectionClient, WorksectionError
from bots.worksection.store import SOURCE, reply_author_email
from core.base.instants import Now
from core.notify.drain import due_deliveries, mark_delivered, mark_delivery_failed, may_send

log = logging.getLogger("pmdesk.worksection")

BACKOFF_CAP = 600.0


def retry_delay(attempts: int) -> float:
    """Seconds before trying a reply again after `attempts` failures: 5, 10, 20... 600."""
    return float(min(5.0 * 2 ** max(attempts, 0), BACKOFF_CAP))


async def deliver_replies(
    engine: Engine,
    client: WorksectionClient,
    clock: Now,
    batch: int = 20,
    holder: str | None = None,
) -> int:
    """Post the replies due now; returns how many reached Worksection.

    `holder`: the services lease's holder; each reply is checked just before
    it is posted, with the lease (core.notify.drain.may_send): one delivered
    meanwhile by another process is skipped, and a lease found lost ends
    the batch, posting nothing more.
    """
    views = await asyncio.to_thread(due_deliveries, engine, clock(), batch, SOURCE)
    delivered = 0
    for view in views:
        verdict = await asyncio.to_thread(
            may_send, engine, "delivery", view.event_id, clock(), holder
        )
        if verdict == "lost":
            log.error("the services lease is lost: posting no more replies")
            break
        if verdict == "done":
            continue
        if view.target is None:
            await asyncio.to_thread(
                mark_delivery_failed,
                engine,
                view.event_id,
                clock(),
                "the thread has no Worksection task",
                True,
            )
            continue
        email = await asyncio.to_thread(reply_author_email, engine, view.event_id)
        try:
            comment_id = await client.post_comment(view.target, view.text, email)
        except WorksectionError as error:
            at = clock()
            if error.transient:
                retry_at = at + timedelta(seconds=retry_delay(view.attempts))
                log.warning("reply %s put off: %s", view.event_id, error.message)
                await asyncio.to_thread(
                    mark_delivery_failed, engine, view.event_id, at, error.message, False, retry_at
                )
            else:
                log.warning("reply %s refused: %s", view.event_id, error.message)
                await asyncio.to_thread(
                    mark_delivery_failed, engine, view.event_id, at, error.message, True
                )
            continue
        # Once Worksection has it, its record must land even if we are being stopped.
        await asyncio.shield(
            asyncio.to_thread(mark_delivered, engine, view.event_id, clock(), comment_id)
        )
        delivered += 1
    return delivered
