"""`POST /v1/worksection` served by uvicorn on 127.0.0.1, as Worksection calls it."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, select

from bots.worksection.poller import WorksectionConnector, WorksectionState
from bots.worksection.store import inbox_counts, poll_lag
from bots.worksection.webhook import worksection_router
from core.config.settings import Settings
from core.store.models.system import table
from core.store.models.worksection import WorksectionInbox
from tests.bots.worksection.accounts import TASK, clocks, events, fast_client, ws_settings
from tests.fakes.worksection import FakeWorksection
from tests.support import MovableClock

INBOX = table(WorksectionInbox)
GOOD = ("worksection", "s3cret")


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """`app` on uvicorn at an ephemeral port of 127.0.0.1; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def account(clock: MovableClock) -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=clock)
    with fake.running():
        fake.add_task(TASK, "Homepage redesign")
        yield fake


@pytest.fixture
def settings(account: FakeWorksection) -> Settings:
    return ws_settings(account)


@pytest.fixture
async def hook(
    settings: Settings, engine: Engine, clock: MovableClock
) -> AsyncIterator[tuple[str, Wakes]]:
    wakes = Wakes()
    app = FastAPI()
    app.include_router(worksection_router(settings, engine, clock=clock, wake=wakes))
    async with served(app) as url:
        yield f"{url}/v1/worksection", wakes


async def post(url: str, body: bytes | Any, auth: tuple[str, str] | None = GOOD) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient() as http:
        return await http.post(
            url, content=content, auth=auth, headers={"Content-Type": "application/json"}
        )


def inbox(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(INBOX).order_by(INBOX.c.id)))


async def test_items_are_stored_and_answered_ok_at_once(
    hook: tuple[str, Wakes], account: FakeWorksection, engine: Engine
) -> None:
    url, wakes = hook
    items = [account.client_comment(TASK, "One"), account.client_comment(TASK, "Two")]
    answer = await post(url, items)

    assert (answer.status_code, answer.json()) == (200, {"status": "OK"})
    rows = inbox(engine)
    assert [json.loads(row.body) for row in rows] == items
    assert {row.status for row in rows} == {"pending"}
    assert wakes.count == 1
    assert events(engine) == []  # processing comes after the answer

    single = await post(url, account.client_comment(TASK, "Three"))
    assert single.status_code == 200
    assert len(inbox(engine)) == 3


@pytest.mark.parametrize(
    "auth",
    [None, ("worksection", "wrong"), ("intruder", "s3cret"), ("worksection", "")],
    ids=["missing", "wrong-password", "wrong-user", "empty-password"],
)
async def test_wrong_basic_auth_is_401_and_stores_nothing(
    hook: tuple[str, Wakes], account: FakeWorksection, engine: Engine, auth: Any
) -> None:
    url, wakes = hook
    answer = await post(url, [account.client_comment(TASK, "Hi")], auth=auth)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert inbox(engine) == []
    assert wakes.count == 0


async def test_another_auth_scheme_is_refused(hook: tuple[str, Wakes], engine: Engine) -> None:
    url, _ = hook
    token = base64.b64encode(b"worksection:s3cret").decode()
    async with httpx.AsyncClient() as http:
        answer = await http.post(url, content=b"[]", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert inbox(engine) == []


async def test_without_configured_credentials_every_call_is_refused(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    settings = ws_settings(account).model_copy(deep=True)
    assert settings.worksection is not None
    settings.worksection.webhook_password = None
    app = FastAPI()
    app.include_router(worksection_router(settings, engine, clock=clock))
    async with served(app) as url:
        answer = await post(f"{url}/v1/worksection", [], auth=GOOD)
    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'[{"action": "post", ', "malformed JSON"),
        (b"\xff\xfe not text", "not UTF-8 text"),
        (b'"just a string"', "neither a JSON object nor an array"),
    ],
    ids=["truncated", "binary", "scalar"],
)
async def test_a_body_that_is_not_items_is_kept_as_a_failed_row_and_answered_ok(
    hook: tuple[str, Wakes], engine: Engine, body: bytes, reason: str
) -> None:
    # 200 rather than 400: Worksection disables a webhook after 10 errors,
    # and the body is kept whole for a person to look at.
    url, wakes = hook
    answer = await post(url, body)
    assert (answer.status_code, answer.json()) == (200, {"status": "OK"})
    [row] = inbox(engine)
    assert row.status == "failed"
    assert row.error.startswith(reason)
    assert row.body == body.decode("utf-8", errors="backslashreplace")  # every byte readable
    assert wakes.count == 0


async def test_webhook_and_poll_of_the_same_comment_give_one_event_and_one_clock(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    settings = ws_settings(account, poll_interval=3600, tags_interval=3600)
    client = fast_client(account)
    wakeup = asyncio.Event()
    connector = WorksectionConnector(settings, engine, clock=clock, client=client, wakeup=wakeup)
    states: list[WorksectionState] = []
    app = FastAPI()
    app.include_router(worksection_router(settings, engine, clock=clock, wake=wakeup.set))
    stop = asyncio.Event()
    async with served(app) as url:
        loop = asyncio.create_task(connector.run(stop, states.append))
        while not states:  # the first turn polls (nothing yet) and records its success
            await asyncio.sleep(0.01)
        item = account.client_comment(TASK, "Is it live?")
        assert (await post(f"{url}/v1/worksection", [item])).status_code == 200
        for _ in range(300):
            if inbox_counts(engine).get("done"):
                break
            await asyncio.sleep(0.01)
        stop.set()
        await loop
    assert inbox_counts(engine) == {"done": 1}
    assert states[0].lag_seconds == 0.0
    clock.advance(minutes=2)
    assert poll_lag(engine, clock()) == 120.0

    await connector.poll_events()  # the same comment, now from the event log
    assert len(events(engine, kind="message")) == 1
    [running] = clocks(engine)
    assert running.outcome == "running"
    await client.aclose()
