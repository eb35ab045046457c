"""Benchmark: the Telegram bot draining its outbox to a fake Bot API server over real HTTP.

The bot runs as `pmdesk serve` runs it (bots.telegram.bot.TelegramService: the
python-telegram-bot Application and the outbox sender), against the test
suite's fake Bot API server on 127.0.0.1 (tests/fakes/telegram.py),
which enforces Telegram's limits (30 messages a second overall, one a second
per chat, 20 a minute per group) and counts every 429 it has to answer.
Both measurements use a fresh SQLite database and real time.

1. Latency: client messages arrive at `--rate` a second (20) for `--seconds`
   (30), each committed by the Ingestor in its own transaction on a thread
   assigned to one of `--people` (40) staff members, so no chat gets more
   than Telegram's one message a second. Measured: from the commit's return
   to the notification's sendMessage arriving at the server (same process,
   same monotonic clock). Targets: p50 under 100 ms, p99 under 500 ms.
2. Drain: `--queued` (1,000) notifications are written for `--chats` (50)
   staff members before the bot starts; measured: from the bot's start to
   the last sendMessage accepted, against the least time Telegram's limits
   allow. Target: at most 1.1 times that, with zero 429s provoked.
3. Flood: `--strangers` (1,000) Telegram users no staff member is bound to
   write to the bot at once, then a client writes (an alert for person 0)
   and person 1 asks /queue; measured over `--rounds` (5) floods: from the
   commit (and the /queue update's arrival in the server's queue) to the
   sendMessage arriving at the server. Target: neither delayed more than 1 s.

    .venv/bin/python bench/bot.py [--rate 20] [--seconds 30] [--queued 1000]
    .venv/bin/python bench/bot.py --only flood [--strangers 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from figures import machine, percentile  # noqa: E402

from bots.telegram.bot import TelegramService  # noqa: E402
from bots.telegram.pacing import Limits  # noqa: E402
from core.base.instants import utc_now  # noqa: E402
from core.config.settings import Settings  # noqa: E402
from core.conversations.ingest import Ingestor  # noqa: E402
from core.conversations.people import add_staff, invite, redeem  # noqa: E402
from core.notify.drain import pending_count  # noqa: E402
from core.sla.policies import PolicyBook  # noqa: E402
from core.store.db import open_database  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

TOKEN = "123:BENCH"
FIRST_CHAT = 10_000  # staff member i talks to the bot in private chat FIRST_CHAT + i
TARGET_P50_MS, TARGET_P99_MS, TARGET_DRAIN_RATIO = 100.0, 500.0, 1.1
FIRST_STRANGER = 900_000_000
TARGET_FLOOD_DELAY = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="client messages a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--strangers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["latency", "drain", "flood"])
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        for name, measure in (("latency", latency), ("drain", drain), ("flood", flood)):
            if args.only in (None, name):
                measure(args, Path(folder) / f"{name}.db")


# -- the agency ---------------------------------------------------------------------


def settings_for(server: FakeTelegram, database: Path) -> Settings:
    return Settings(
        db=str(database),
        agency="Bench Agency",
        telegram_token=TOKEN,
        telegram_api_url=server.base_url,
        policies={"default": {"calendar": "24/7"}},
    )


def team(settings: Settings, people: int) -> tuple[Any, Ingestor]:
    """`people` specialists bound to Telegram, each assigned one task of client Acme."""
    engine = open_database(settings.db)
    now = utc_now()
    for index in range(people):
        email = f"person{index}@agency.example"
        staff_id = add_staff(engine, f"Person {index}", "specialist", [email], now)
        redeem(engine, invite(engine, staff_id, now), FIRST_CHAT + index, now)
    ingestor = Ingestor(engine, PolicyBook(settings))
    ingestor.ingest(
        [
            {
                **message(f"assign-{index}", index, ""),
                "kind": "assignee",
                "author": staff(index),
                "assignee": staff(index),
            }
            for index in range(people)
        ]
    )
    return engine, ingestor


def staff(index: int) -> dict[str, str]:
    return {"name": f"Person {index}", "email": f"person{index}@agency.example", "role": "staff"}


def message(id: str, task: int, text: str) -> dict[str, Any]:
    return {
        "id": id,
        "source": "webhook",
        "kind": "message",
        "occurred_at": utc_now().isoformat(),
        "client": "Acme",
        "task": {"id": f"T{task}", "title": f"Task {task}"},
        "author": {"name": "Claire Client", "email": "claire@acme.example", "role": "client"},
        "text": text,
    }


# -- 1. latency -----------------------------------------------------------------------


def latency(args: argparse.Namespace, database: Path) -> None:
    count = int(args.rate * args.seconds)
    with FakeTelegram(token=TOKEN, enforce_limits=True) as server:
        settings = settings_for(server, database)
        engine, ingestor = team(settings, args.people)
        committed: dict[str, float] = {}

        def feed() -> None:
            # At a steady pace from a thread of its own, as another process would.
            start = time.monotonic()
            for n in range(count):
                time.sleep(max(0.0, start + n / args.rate - time.monotonic()))
                marker = f"msg-{n:06d}"
                ingestor.ingest_one(message(marker, n % args.people, marker))
                committed[marker] = time.monotonic()

        async def run() -> None:
            stop = asyncio.Event()
            bot = TelegramService(settings, engine)
            task = asyncio.create_task(bot.run(stop))
            await asyncio.sleep(1.0)  # polling started, nothing queued yet
            writer = threading.Thread(target=feed)
            writer.start()
            while writer.is_alive() or len(arrivals(server)) < count:
                await asyncio.sleep(0.1)
                if time.monotonic() - last_commit(committed) > 10:
                    break  # nothing more is coming
            stop.set()
            await task

        asyncio.run(run())
        found = arrivals(server)
    delays = sorted(
        (found[marker] - at) * 1000 for marker, at in committed.items() if marker in found
    )
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    print(
        f"\n[latency] {count} client messages at {args.rate:g}/s to {args.people} people "
        f"({len(delays)} notified, {count - len(delays)} missing, "
        f"{server.rate_limited} 429s provoked)"
    )
    print(
        f"commit to sendMessage at the server: p50 {p50:.1f} ms, p90 {percentile(delays, 90):.1f}"
        f" ms, p99 {p99:.1f} ms, max {delays[-1]:.1f} ms"
    )
    met = p50 < TARGET_P50_MS and p99 < TARGET_P99_MS and len(delays) == count
    print(
        f"target p50 < {TARGET_P50_MS:g} ms, p99 < {TARGET_P99_MS:g} ms: "
        f"{'met' if met else 'NOT MET'}"
    )


def arrivals(server: FakeTelegram) -> dict[str, float]:
    """Each message marker's arrival time at the server (its first accepted sendMessage)."""
    found: dict[str, float] = {}
    for call in server.calls("sendMessage"):
        if call.ok:
            text = str(call.params.get("text", ""))
            start = text.find("msg-")
            if start >= 0:
                found.setdefault(text[start : start + 10], call.at)
    return found


def last_commit(committed: dict[str, float]) -> float:
    return max(committed.values(), default=time.monotonic())


# -- 2. drain -------------------------------------------------------------------------


def drain(args: argparse.Namespace, database: Path) -> None:
    limits = Limits()
    with FakeTelegram(token=TOKEN, enforce_limits=True) as server:
        settings = settings_for(server, database)
        engine, ingestor = team(settings, args.chats)
        per_chat = math.ceil(args.queued / args.chats)
        ingestor.ingest(
            [
                message(f"queued-{n}-{chat}", chat, f"queued {n}")
                for n in range(per_chat)
                for chat in range(args.chats)
            ][: args.queued]
        )
        queued = pending_count(engine)

        async def run() -> float:
            stop = asyncio.Event()
            bot = TelegramService(settings, engine)
            started = time.monotonic()
            task = asyncio.create_task(bot.run(stop))
            while pending_count(engine) and time.monotonic() - started < 600:
                await asyncio.sleep(0.05)
            stop.set()
            await task
            return started

        started = asyncio.run(run())
        sent = [call.at for call in server.calls("sendMessage") if call.ok]
    took = max(sent) - started
    # Telegram's limits alone: batches of 30 a second overall, and each chat's
    # messages a second apart; the first message goes at once.
    least = max(
        (math.ceil(queued / limits.global_limit) - 1) * limits.global_window,
        (per_chat - 1) * limits.per_chat_interval,
    )
    ratio = took / least
    print(
        f"\n[drain] {queued} notifications queued for {args.chats} people: last accepted "
        f"{took:.2f} s after the bot started ({len(sent)} sent, {server.rate_limited} 429s)"
    )
    print(
        f"least time Telegram's limits allow: {least:.2f} s; ratio {ratio:.3f} "
        f"(target <= {TARGET_DRAIN_RATIO:g} with no 429: "
        f"{'met' if ratio <= TARGET_DRAIN_RATIO and not server.rate_limited else 'NOT MET'})"
    )
    print(f"overall rate: {len(sent) / took:.1f} messages/s")


# -- 3. flood -------------------------------------------------------------------------


def flood(args: argparse.Namespace, database: Path) -> None:
    alert_delays: list[float] = []
    queue_delays: list[float] = []
    with FakeTelegram(token=TOKEN, enforce_limits=True) as server:
        settings = settings_for(server, database)
        engine, ingestor = team(settings, 2)
        alerted, asker = FIRST_CHAT, FIRST_CHAT + 1

        def more_than(chat: int, count: int) -> Any:
            return lambda: len(server.sent_messages(chat)) > count

        async def wait_for(condition: Any) -> float:
            while not condition():
                await asyncio.sleep(0.005)
            return time.monotonic()

        async def run() -> None:
            stop = asyncio.Event()
            bot = TelegramService(settings, engine)
            task = asyncio.create_task(bot.run(stop))
            await asyncio.sleep(1.0)  # polling started
            for round in range(args.rounds):
                first = FIRST_STRANGER + round * args.strangers
                for n in range(args.strangers):
                    server.push_message(first + n, first + n, "hello?")
                alerts = len(server.sent_messages(alerted))
                answers = len(server.sent_messages(asker))
                ingestor.ingest_one(message(f"flood-{round}", 0, f"during flood {round}"))
                committed = time.monotonic()
                server.push_message(asker, asker, "/queue")
                asked = time.monotonic()
                alert_at = await wait_for(more_than(alerted, alerts))
                answer_at = await wait_for(more_than(asker, answers))
                alert_delays.append(alert_at - committed)
                queue_delays.append(answer_at - asked)
                await wait_for(lambda: server.pending_updates == 0)
                # Telegram's one message a second per chat: the next round's alert and
                # answer must not wait for this round's.
                await asyncio.sleep(1.5)
            stop.set()
            await task

        asyncio.run(run())
        refused = sum(1 for m in server.sent_messages() if m["chat"]["id"] >= FIRST_STRANGER)
        rate_limited = server.rate_limited
    worst = max(alert_delays + queue_delays)
    print(
        f"\n[flood] {args.rounds} floods of {args.strangers} strangers writing at once "
        f"({refused} refusals sent meanwhile, {rate_limited} 429s provoked)"
    )
    print(
        f"client-message alert: p50 {percentile(sorted(alert_delays), 50) * 1000:.0f} ms, "
        f"max {max(alert_delays) * 1000:.0f} ms; /queue answer: p50 "
        f"{percentile(sorted(queue_delays), 50) * 1000:.0f} ms, "
        f"max {max(queue_delays) * 1000:.0f} ms"
    )
    print(
        f"target: neither delayed more than {TARGET_FLOOD_DELAY:g} s: "
        f"{'met' if worst <= TARGET_FLOOD_DELAY else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
