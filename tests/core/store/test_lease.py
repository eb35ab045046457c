"""The services lease: one holder at a time, renewed, lost when it lapses, given back."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from core.store.db import open_database
from core.store.lease import (
    acquire,
    default_holder,
    holds,
    is_dead,
    release,
    renamed,
    renew,
    services_seen,
    this_host,
)
from core.store.reader import Reader
from tests.support import START

TTL = timedelta(seconds=30)
BOT_ONLY = {"intake": "stopped", "scheduler": "stopped", "bot": "running"}


def later(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def test_the_first_to_ask_gets_the_lease_and_others_wait(engine: Engine, reader: Reader) -> None:
    assert acquire(engine, "a", BOT_ONLY, START, TTL)

    assert not acquire(engine, "b", BOT_ONLY, START + later(29), TTL)
    assert services_seen(reader, START + later(1), holder="a").states == {
        "intake": "stopped",
        "scheduler": "stopped",
        "bot": "running",
    }
    assert services_seen(reader, START + later(1), holder="b").states["bot"] == "elsewhere"
    assert services_seen(reader, START + later(1)).states["bot"] == "elsewhere"


def test_a_lapsed_lease_goes_to_whoever_asks_next(engine: Engine, reader: Reader) -> None:
    acquire(engine, "a", BOT_ONLY, START, TTL)

    assert services_seen(reader, START + TTL).states["bot"] == "stopped"  # a crashed holder
    assert acquire(engine, "b", BOT_ONLY, START + TTL, TTL)
    assert not renew(engine, "a", BOT_ONLY, START + TTL + later(1), TTL)
    assert services_seen(reader, START + TTL + later(1), holder="b").states["bot"] == "running"


def test_renewing_extends_the_lease_and_reports_the_states(engine: Engine, reader: Reader) -> None:
    acquire(engine, "a", dict.fromkeys(BOT_ONLY, "stopped"), START, TTL)

    assert renew(engine, "a", BOT_ONLY, START + later(20), TTL)

    # Still held at START + 40 s, past the first expiry, and the bot is now reported.
    assert not acquire(engine, "b", BOT_ONLY, START + later(40), TTL)
    assert services_seen(reader, START + later(40), holder="a").states["bot"] == "running"
    # Asking again for a lease one holds renews it.
    assert acquire(engine, "a", BOT_ONLY, START + later(45), TTL)


def test_a_lapsed_lease_nobody_took_can_still_be_renewed(engine: Engine) -> None:
    acquire(engine, "a", BOT_ONLY, START, TTL)

    assert renew(engine, "a", BOT_ONLY, START + later(90), TTL)
    assert not acquire(engine, "b", BOT_ONLY, START + later(91), TTL)


def test_releasing_stops_the_services_and_frees_the_lease(engine: Engine, reader: Reader) -> None:
    acquire(engine, "a", BOT_ONLY, START, TTL)

    assert not release(engine, "b")  # not the holder: nothing happens
    assert release(engine, "a")

    assert services_seen(reader, START + later(1)).states == dict.fromkeys(
        ("intake", "scheduler", "bot"), "stopped"
    )
    assert acquire(engine, "b", BOT_ONLY, START + later(1), TTL)
    assert not release(engine, "a")


def test_a_lease_must_last(engine: Engine) -> None:
    with pytest.raises(ValueError, match="some time"):
        acquire(engine, "a", BOT_ONLY, START, timedelta(0))


def test_racing_processes_never_both_win(engine: Engine, engine_url: str) -> None:
    """Ten engines (as ten processes would) ask at once: exactly one gets the lease."""
    engines = [open_database(engine_url) for _ in range(10)]
    barrier = threading.Barrier(len(engines))
    won: list[str] = []

    def ask(number: int) -> None:
        barrier.wait()
        if acquire(engines[number], f"p{number}", BOT_ONLY, START, TTL):
            won.append(f"p{number}")

    threads = [threading.Thread(target=ask, args=(number,)) for number in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in engines:
        other.dispose()

    assert len(won) == 1


def a_finished_process() -> int:
    """The id of a process of this host that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_dead_holder_of_this_host_loses_the_lease_at_once(engine: Engine) -> None:
    here = this_host()
    dead = f"{here}:{a_finished_process()}:0a0b0c"
    assert acquire(engine, dead, BOT_ONLY, START, TTL)

    # Long before it lapses, a restarted process sees its predecessor is gone.
    assert acquire(engine, default_holder(), BOT_ONLY, START + later(1), TTL)


def test_a_live_or_distant_holder_keeps_the_lease_until_it_lapses(engine: Engine) -> None:
    here = this_host()
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as alive:
        try:
            for holder in (
                f"{here}:{alive.pid}:0a0b0c",  # running
                f"{here}:{os.getpid()}:0a0b0c",  # this process, under another token
                f"elsewhere.example:{a_finished_process()}:0a0b0c",  # another host's
                # Same name, another machine or container: its process ids are not ours.
                f"{this_host().split('/')[0]}/0000/1:{a_finished_process()}:0a0b0c",
                "a",  # not a name this program gives
            ):
                release(engine, "taker")
                assert acquire(engine, holder, BOT_ONLY, START, TTL)
                assert not is_dead(holder)
                assert not acquire(engine, "taker", BOT_ONLY, START + later(1), TTL), holder
                release(engine, holder)
        finally:
            alive.kill()


def test_holds_is_the_fencing_check(engine: Engine) -> None:
    acquire(engine, "a", BOT_ONLY, START, TTL)
    with engine.connect() as connection:
        assert holds(connection, "a", START + later(1))
        assert not holds(connection, "a", START + TTL)  # lapsed: holds nothing
        assert not holds(connection, "b", START + later(1))
    acquire(engine, "b", BOT_ONLY, START + TTL, TTL)
    with engine.connect() as connection:
        assert not holds(connection, "a", START + TTL + later(1))  # taken over
        assert holds(connection, "b", START + TTL + later(1))


def test_a_lease_taken_again_gets_a_new_token() -> None:
    holder = default_holder()
    again = renamed(holder)
    assert again != holder
    assert again.rsplit(":", 1)[0] == holder.rsplit(":", 1)[0]  # same host and process


def test_services_taken_again_under_a_new_token_still_show_as_this_processs(
    engine: Engine, reader: Reader
) -> None:
    holder = default_holder()
    acquire(engine, renamed(holder), BOT_ONLY, START, TTL)

    assert services_seen(reader, START + later(1), holder=holder).states["bot"] == "running"
    assert (
        services_seen(reader, START + later(1), holder=default_holder()).states["bot"] == "running"
    )
    elsewhere = f"another-host:{os.getpid()}:0a0b0c"
    assert services_seen(reader, START + later(1), holder=elsewhere).states["bot"] == "elsewhere"


def test_a_failed_service_shows_as_failed_with_its_reason_from_another_process(
    engine: Engine, reader: Reader
) -> None:
    reported = {"intake": "failed", "scheduler": "running", "bot": "starting"}
    why = {"intake": "cannot listen on 127.0.0.1:8080 (Address already in use)"}
    assert acquire(engine, "a", reported, START, TTL, failures=why)

    for holder in ("b", None, "a"):  # another process, anyone, and the holder itself
        seen = services_seen(reader, START + later(1), holder=holder)
        assert seen.states["intake"] == "failed"
        assert seen.failures == why
    assert services_seen(reader, START + later(1), holder="b").states == {
        "intake": "failed",
        "scheduler": "elsewhere",
        "bot": "stopped",  # starting is not running yet
    }

    # Running again: the reason goes with the failure.
    assert renew(engine, "a", {**reported, "intake": "running"}, START + later(10), TTL)
    seen = services_seen(reader, START + later(11), holder="b")
    assert seen.states["intake"] == "elsewhere" and seen.failures == {}
    # A lapsed lease says nothing of what failed in it.
    renew(engine, "a", reported, START + later(20), TTL, failures=why)
    lapsed = services_seen(reader, START + later(20) + TTL, holder="b")
    assert set(lapsed.states.values()) == {"stopped"} and lapsed.failures == {}
