"""The pacer on a clock moved by its own sleeps: Telegram's limits without waiting for them."""

from __future__ import annotations

import asyncio
import warnings
from datetime import timedelta

import pytest
from telegram.error import RetryAfter

from bots.telegram.pacing import INTERACTIVE, Backoff, Limits, Pacer, retry_after_seconds

PRIVATE, OTHER, GROUP = 501, 502, -4001


class Clock:
    """Time that passes only when someone sleeps: exact for one caller at a time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)
        self.now += seconds  # only if not woken (cancelled) before


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pacer(clock: Clock) -> Pacer:
    return Pacer(clock=clock, sleep=clock.sleep)


async def turns(pacer: Pacer, clock: Clock, chats: list[int]) -> list[float]:
    """When each call started, one after the other."""
    started = []
    for chat in chats:
        async with pacer.turn(chat):
            started.append(clock.now)
    return started


async def test_a_chat_gets_one_message_a_second_and_others_need_not_wait(
    pacer: Pacer, clock: Clock
) -> None:
    assert await turns(pacer, clock, [PRIVATE, OTHER, PRIVATE, PRIVATE]) == [0, 0, 1, 2]


async def test_a_group_gets_twenty_a_minute(pacer: Pacer, clock: Clock) -> None:
    started = await turns(pacer, clock, [GROUP] * 21)

    assert started[:20] == [float(n) for n in range(20)]
    assert started[20] == 60.0  # the first of the twenty left the window


async def test_thirty_a_second_overall(pacer: Pacer, clock: Clock) -> None:
    started = await turns(pacer, clock, list(range(1, 32)))

    assert started[:30] == [0.0] * 30
    assert started[30] == 1.0


async def test_a_pause_stops_every_chat(pacer: Pacer, clock: Clock) -> None:
    await turns(pacer, clock, [PRIVATE])
    pacer.pause(7)

    assert await turns(pacer, clock, [OTHER, GROUP]) == [7.0, 7.0]


async def test_a_failed_call_does_not_count(pacer: Pacer, clock: Clock) -> None:
    with pytest.raises(RuntimeError):
        async with pacer.turn(PRIVATE):
            raise RuntimeError("502")

    assert await turns(pacer, clock, [PRIVATE]) == [0.0]


async def test_calls_to_one_chat_keep_their_order() -> None:
    pacer = Pacer(Limits(per_chat_interval=0.001))
    done: list[int] = []

    async def call(n: int) -> None:
        async with pacer.turn(PRIVATE):
            await asyncio.sleep(0.001 * (5 - n))  # later calls would finish first
            done.append(n)

    await asyncio.gather(*(call(n) for n in range(5)))

    assert done == [0, 1, 2, 3, 4]


async def test_when_slots_are_short_the_most_urgent_goes_first(clock: Clock) -> None:
    pacer = Pacer(Limits(global_limit=1), clock=clock, sleep=clock.sleep)
    went: list[int] = []

    async def call(chat: int, priority: float) -> None:
        async with pacer.turn(chat, priority):
            went.append(chat)

    async with pacer.turn(PRIVATE):  # holds the only slot while the others ask
        waiting = [
            asyncio.create_task(call(chat, priority))
            for chat, priority in ((1, 1), (2, 5), (3, INTERACTIVE), (4, 5))
        ]
        await asyncio.sleep(0)
    await asyncio.gather(*waiting)

    assert went == [3, 2, 4, 1]  # an answer to someone, then the longest backlogs, in order
    assert clock.now == 4.0  # one a second: the limit was the only wait


async def test_giving_up_on_a_turn_frees_its_place(pacer: Pacer, clock: Clock) -> None:
    async with pacer.turn(PRIVATE):
        given_up = asyncio.create_task(turns(pacer, clock, [PRIVATE]))
        await asyncio.sleep(0)
        given_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await given_up

    assert await turns(pacer, clock, [PRIVATE, OTHER]) == [1.0, 1.0]


def test_backoff_doubles_up_to_a_minute() -> None:
    backoff = Backoff()

    assert [backoff.delay(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay(10_000) == 60


@pytest.mark.parametrize("timedeltas", ["true", "false"])
def test_retry_after_is_read_either_way(monkeypatch: pytest.MonkeyPatch, timedeltas: str) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", timedeltas)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library's own constructor reads the int form
        errors = [RetryAfter(7), RetryAfter(timedelta(seconds=2.5))]

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and reading it here must not warn
        assert [retry_after_seconds(error) for error in errors] == [7.0, 2.5]
