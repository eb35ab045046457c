"""The background services of one database, run by whichever process holds its lease.

`run_services` waits for the `services` lease (core.lease), then runs, until
`stop` is set:

- the Telegram bot and its outbox drain (bots.telegram), when a token is
  configured; without one, the other services run and the outbox waits;
- the intake and the scheduler, which a later issue adds (see `_session`).

It renews the lease every third of its time to live, reporting each
service's state ("running", "starting", "stopped", "failed"), so that the
dashboard can show what runs and where. A lease lost anyway (the database
was unreachable for longer than that) stops the services until it can be
taken again; the lease is given back on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from telegram.error import InvalidToken, TelegramError

from core.config import Settings
from core.db import open_database
from core.lease import LEASE_TTL, NAMES, acquire, release, renew
from core.timeutil import Now, utc_now

from .pacing import Backoff, wait_any
from .telegram import TelegramService

log = logging.getLogger("pmdesk.services")

RUNNING, STARTING, STOPPED, FAILED = "running", "starting", "stopped", "failed"


def default_holder() -> str:
    """Who holds the lease: this host and process, and a nonce (pids get reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class _States:
    """Each service's state, and a signal when one changes (to report it at once)."""

    def __init__(self) -> None:
        self.values = dict.fromkeys(NAMES, STOPPED)
        self.changed = asyncio.Event()

    def set(self, name: str, state: str) -> None:
        if self.values.get(name) != state:
            self.values[name] = state
            self.changed.set()


async def run_services(
    settings: Settings,
    stop: asyncio.Event,
    now: Now = utc_now,
    *,
    engine: Engine | None = None,
    holder: str | None = None,
    ttl: timedelta = LEASE_TTL,
    telegram: dict[str, Any] | None = None,
) -> None:
    """Run the services while holding the lease, until `stop` is set; see the module.

    `telegram`: keyword arguments for `TelegramService` (tests pass faster pacing).
    """
    if engine is None:
        engine = await asyncio.to_thread(open_database, settings.db)
    holder = holder or default_holder()
    if not settings.telegram_token:
        log.info("no Telegram token (PMDESK_TELEGRAM_TOKEN): running without the bot")
    while not stop.is_set():
        states = _States()
        if not await _wait_for_lease(engine, holder, states, stop, now, ttl):
            return
        log.info("services started (lease holder %s)", holder)
        try:
            await _session(settings, engine, holder, states, stop, now, ttl, telegram or {})
        finally:
            await asyncio.to_thread(release, engine, holder)
            log.info("services stopped")


async def _wait_for_lease(
    engine: Engine,
    holder: str,
    states: _States,
    stop: asyncio.Event,
    now: Now,
    ttl: timedelta,
) -> bool:
    """Take the lease, waiting while another process holds it; False if stopped first."""
    told = False
    while not stop.is_set():
        if await asyncio.to_thread(acquire, engine, holder, states.values, now(), ttl):
            return True
        if not told:
            log.info("another process runs the services; waiting to take over")
            told = True
        await _wait(stop, ttl.total_seconds() / 3)
    return False


async def _session(
    settings: Settings,
    engine: Engine,
    holder: str,
    states: _States,
    stop: asyncio.Event,
    now: Now,
    ttl: timedelta,
    telegram: dict[str, Any],
) -> None:
    """The services, until `stop` or until the lease is lost."""
    ended = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        group.create_task(_relay(stop, ended))
        group.create_task(_keep_lease(engine, holder, states, ended, now, ttl))
        if settings.telegram_token:
            bot = _run_bot(settings, engine, states, ended, now, telegram)
            group.create_task(bot)
        # The intake (HTTP, Worksection) and the scheduler of a later issue start
        # here, each with `ended` as its stop signal and reporting in `states`.


async def _relay(stop: asyncio.Event, ended: asyncio.Event) -> None:
    """End the session when asked to stop (or when it ended for another reason)."""
    await wait_any(stop, ended)
    ended.set()


async def _keep_lease(
    engine: Engine,
    holder: str,
    states: _States,
    ended: asyncio.Event,
    now: Now,
    ttl: timedelta,
) -> None:
    every = ttl.total_seconds() / 3
    renewed = time.monotonic()
    while not ended.is_set():
        states.changed.clear()
        try:
            kept = await asyncio.to_thread(renew, engine, holder, states.values, now(), ttl)
            renewed = time.monotonic()
        except Exception:
            # The database is busy or away: try again soon while the lease lasts;
            # past that, another process may have taken over.
            log.exception("could not renew the services lease")
            kept = time.monotonic() - renewed < ttl.total_seconds()
        if not kept:
            log.error("the services lease was lost or taken over: stopping the services")
            ended.set()
            return
        await wait_any(ended, states.changed, timeout=every)


async def _run_bot(
    settings: Settings,
    engine: Engine,
    states: _States,
    ended: asyncio.Event,
    now: Now,
    options: dict[str, Any],
) -> None:
    """Run the bot until the session ends; retry its start while Telegram is out of reach."""
    backoff = Backoff()
    failures = 0
    while not ended.is_set():
        states.set("bot", STARTING)
        try:
            service = TelegramService(settings, engine, now=now, **options)
            await service.run(ended, started=lambda: states.set("bot", RUNNING))
        except InvalidToken as error:
            log.error("Telegram refused the bot's token (%s): the bot stays off", error)
            states.set("bot", FAILED)
            return
        except Exception as error:
            # Telegram out of reach at start (NetworkError), or a bug: retry, with backoff.
            delay = backoff.delay(failures)
            failures += 1
            log.warning(
                "the bot stopped (%s); starting it again in %.0f s",
                error,
                delay,
                exc_info=not isinstance(error, TelegramError),
            )
            states.set("bot", STARTING)
            await _wait(ended, delay)
            continue
        states.set("bot", STOPPED)
        return


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
