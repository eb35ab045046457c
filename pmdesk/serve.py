"""`pmdesk serve`: the background services without the dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from pmdesk.app import app
from pmdesk.context import command, context


@app.command()
@command
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address the HTTP intake listens on (http.host; 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port of the HTTP intake (http.port; 8765).", min=0, max=65535),
    ] = None,
) -> None:
    """Run the background services headless, until Ctrl-C: the HTTP intake, the Telegram bot.

    One process per database runs them; another `pmdesk serve` (or dashboard)
    waits, without listening, and takes over if this one stops. Without a
    Telegram token, the services run without the bot; without
    PMDESK_WEBHOOK_SECRET, the intake refuses every event.
    """
    import asyncio
    import contextlib
    import logging
    import signal

    from bots.services.runner import run_services
    from core.base.collector import collect_rarely
    from core.store.health import check_writable

    ctx = context()
    settings, engine = ctx.settings, ctx.engine
    # Before anything listens: a database it cannot write would fail every request.
    check_writable(engine)
    changes = {"host": host, "port": port}
    http = settings.http.model_copy(update={k: v for k, v in changes.items() if v is not None})
    settings = settings.model_copy(update={"http": http})
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line for every request
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # the intake logs its own
    collect_rarely()  # ingestion's short-lived objects: see core.base.collector

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            # Not on Windows: Ctrl-C raises KeyboardInterrupt there instead.
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(number, stop.set)
        await run_services(settings, stop, clock=ctx.clock, engine=engine)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
