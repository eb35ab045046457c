"""Refusals to strangers: once each, bounded in memory and in flight, one at a time."""

from __future__ import annotations

import asyncio
import time

from bots.telegram.refusals import Refusals


async def test_each_stranger_is_refused_once_while_remembered_and_memory_is_bounded() -> None:
    sent: list[int] = []

    async def send(chat_id: int) -> None:
        sent.append(chat_id)

    refusals = Refusals(interval=0, remember=3)
    refusals.attach(send)
    assert [refusals.refuse(user) for user in (1, 2, 1, 3, 4)] == [True, True, False, True, True]
    assert len(refusals) == 3  # 2 is the one heard from least lately: forgotten
    assert refusals.refuse(1) is False
    assert refusals.refuse(2) is True  # forgotten, so answered again
    await refusals.close()


async def test_beyond_the_queue_strangers_get_silence_and_refusals_are_spaced() -> None:
    sent: list[tuple[int, float]] = []

    async def send(chat_id: int) -> None:
        sent.append((chat_id, time.monotonic()))

    refusals = Refusals(interval=0.05, waiting=2)
    refusals.attach(send)
    queued = [refusals.refuse(user) for user in range(10, 15)]
    assert queued == [True, True, False, False, False]
    assert refusals.dropped == 3
    while len(sent) < 2:
        await asyncio.sleep(0.01)
    await refusals.close()
    assert [chat for chat, _ in sent] == [10, 11]
    assert sent[1][1] - sent[0][1] >= 0.05  # one every `interval`, never a burst


async def test_closing_drops_what_waits() -> None:
    sent: list[int] = []

    async def send(chat_id: int) -> None:
        sent.append(chat_id)

    refusals = Refusals(interval=10)
    refusals.attach(send)
    refusals.refuse(1)
    refusals.refuse(2)
    await asyncio.sleep(0.01)
    await refusals.close()
    assert sent == [1]
