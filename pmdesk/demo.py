"""`pmdesk demo`: the demo agency, seeded and live."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from core.base.instants import utc_now
from pmdesk.app import app
from pmdesk.console import out
from pmdesk.context import _interactive, command, context


@app.command()
@command
def demo(
    db: Annotated[
        str | None,
        typer.Option(help="Where to build the demo database (default: a fresh demo.db)."),
    ] = None,
    pace: Annotated[float, typer.Option(help="Live events per minute.", min=0.1)] = 6.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated agency.")] = 7,
    duration: Annotated[
        float | None,
        typer.Option(help="With --print: stop after this many seconds (default: Ctrl-C)."),
    ] = None,
    print_events: Annotated[
        bool,
        typer.Option("--print", help="Print the live events instead of opening the dashboard."),
    ] = False,
) -> None:
    """Open the dashboard on a fresh demo agency, with its simulated clients writing live.

    A week of history (clients, projects, staff, answered and late messages),
    invoices with today's reminder drafts and a bank statement go in first,
    then a simulator feeds new events through the same ingestion path as
    every source. The dashboard runs the demo's services: the scheduler, and
    simulated clients who take the replies. Without a terminal (or with
    --print), the live events are printed instead.
    """
    import threading

    from core.base.paths import default_database_path
    from core.demo.scenario import demo_settings, load_scenario
    from core.demo.seeding import seed_demo
    from core.demo.simulator import Simulator
    from core.store.db import open_database as open_db
    from pmdesk.dashboard import run_demo, simulate_job

    # The demo never touches the configured database.
    path = Path(db) if db else default_database_path().with_name("demo.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    settings = demo_settings().model_copy(update={"db": str(path)})
    engine = open_db(str(path))
    now = utc_now()
    created = seed_demo(engine, settings, now, folder=path.parent)
    simulator = Simulator(load_scenario(), seed=seed, pace=pace)
    if _interactive() and not print_events:
        context().db = str(path)
        run_demo(settings, simulator, now, context().clock)
        return
    out.print(f"demo database {path}: {created} events of history", markup=False)
    zone = ZoneInfo(settings.timezone)
    stop = threading.Event()
    if duration is not None:
        timer = threading.Timer(duration, stop.set)
        timer.daemon = True
        timer.start()
    simulate = simulate_job(
        engine,
        settings,
        simulator,
        now,
        created=lambda event: out.print(_event_line(event, zone), markup=False),
    )
    try:
        simulate(stop)
    except KeyboardInterrupt:
        stop.set()


def _event_line(event: dict[str, Any], zone: ZoneInfo) -> str:
    at = datetime.fromisoformat(event["occurred_at"]).astimezone(zone)
    author = (event.get("author") or {}).get("name", "")
    text = (event.get("text") or "").splitlines()[0:1]
    return (
        f"{at:%H:%M:%S}  {event.get('client') or '':<18.18} {event['kind']:<12} "
        f"{author:<18.18} {(text[0] if text else ''):.60}"
    )
