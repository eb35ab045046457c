"""Hostile bodies on every route of the intake: each refused on its own, with a reason.

A real uvicorn server on 127.0.0.1 and a real SQLite file. `/v1/events` and
`/telegram/webhook` answer 400 with their usual error body; `/v1/worksection`
answers 200 and keeps the body as a failed inbox row, since a 4xx only counts
towards Worksection disabling the webhook. None answers 500.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from sqlalchemy import Engine, select

from bots.http.intake import MAX_BODY, Health, create_app
from bots.http.signing import signed_headers
from bots.telegram.bot import SECRET_HEADER, WEBHOOK_PATH, TelegramWebhook
from bots.worksection.webhook import worksection_router
from core.base.jsontext import JsonRefused, loads
from core.config.settings import Settings, WorksectionConfig
from core.store.db import open_database
from core.store.models.system import table
from core.store.models.threads import Event
from core.store.models.worksection import WorksectionInbox
from tests.bots.http.test_intake import SECRET, QuietServer, serving, stored
from tests.bots.support import TOKEN, SpeedClock, running, service
from tests.fakes.telegram import FakeTelegram
from tests.hostile import mixed_batches
from tests.support import MovableClock, make_event

E, INBOX = table(Event), table(WorksectionInbox)
WS_AUTH = ("worksection", "s3cret")


def _deep_extra(depth: int) -> bytes:
    text = json.dumps(make_event("deep", 0))
    return text.replace(
        '"text":', '"extra": {"a": ' + "[" * depth + "]" * depth + '}, "text":', 1
    ).encode()


def _with_id(literal: str) -> bytes:
    return json.dumps(make_event("x", 0)).replace('"id": "x"', f'"id": {literal}', 1).encode()


# Bodies that the parser itself must refuse: (name, body, what the answer says).
PARSER_EDGES = [
    ("100,000 nested arrays", b"[" * 100_000 + b"]" * 100_000, "nested more than 64"),
    ("an extra 5,000 deep", _deep_extra(5000), "nested more than 64"),
    ("an extra 65 deep", _deep_extra(65), "nested more than 64"),
    ("a 5,000-digit integer", _with_id("9" * 5000), "more than 100 digits"),
    ("id 1e400", _with_id("1e400"), "out of range"),
    ("id NaN", _with_id("NaN"), "NaN is not a JSON number"),
    ("id Infinity", _with_id("Infinity"), "Infinity is not a JSON number"),
]


@pytest.fixture
def intake_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhook_secret": SECRET,
            "worksection": WorksectionConfig(
                account="agency",
                api_key="key",
                webhook_user=WS_AUTH[0],
                webhook_password=WS_AUTH[1],
            ),
        }
    )


@pytest.fixture
def fake(speed: SpeedClock) -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, clock=speed.monotonic) as server:
        yield server


@pytest.fixture
async def routes(
    intake_settings: Settings, engine: Engine, clock: MovableClock
) -> AsyncIterator[tuple[str, TelegramWebhook]]:
    webhook = TelegramWebhook("https://bot.agency.example/telegram/webhook")
    routers = [webhook.router(), worksection_router(intake_settings, engine, clock=clock)]
    app = create_app(intake_settings, engine, clock=clock, health=Health(), routers=routers)
    async with serving(app) as url:
        yield url, webhook


def events_headers(
    body: bytes, clock: MovableClock, kind: str = "application/json"
) -> dict[str, str]:
    return {"Content-Type": kind, **signed_headers(SECRET, body, int(clock().timestamp()))}


def inbox_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(INBOX).order_by(INBOX.c.id)))


@pytest.mark.parametrize(("name", "body", "why"), PARSER_EDGES, ids=[e[0] for e in PARSER_EDGES])
async def test_parser_edges_on_events_are_400_with_the_reason(
    routes: tuple[str, TelegramWebhook],
    engine: Engine,
    clock: MovableClock,
    name: str,
    body: bytes,
    why: str,
) -> None:
    url, _ = routes
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await http.post("/v1/events", content=body, headers=events_headers(body, clock))

    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "malformed_json"
    assert why in answer["detail"]
    assert stored(engine) == []


@pytest.mark.parametrize(("name", "body", "why"), PARSER_EDGES, ids=[e[0] for e in PARSER_EDGES])
async def test_parser_edges_on_worksection_are_kept_as_failed_rows(
    routes: tuple[str, TelegramWebhook], engine: Engine, name: str, body: bytes, why: str
) -> None:
    url, _ = routes
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await http.post("/v1/worksection", content=body, auth=WS_AUTH)

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "OK"}
    [row] = inbox_rows(engine)
    assert row.status == "failed"
    assert why in row.error
    assert row.body == body.decode()


@pytest.mark.parametrize(("name", "body", "why"), PARSER_EDGES, ids=[e[0] for e in PARSER_EDGES])
async def test_parser_edges_on_the_telegram_webhook_are_400(
    routes: tuple[str, TelegramWebhook],
    settings: Settings,
    engine: Engine,
    speed: SpeedClock,
    fake: FakeTelegram,
    name: str,
    body: bytes,
    why: str,
) -> None:
    url, webhook = routes
    webhook.url = url + WEBHOOK_PATH
    async with (
        running(service(settings, engine, speed, webhook=webhook)),
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        response = await http.post(
            WEBHOOK_PATH, content=body, headers={SECRET_HEADER: webhook.secret}
        )

    assert response.status_code == 400, response.text
    assert response.json()["ok"] is False
    assert why in response.json()["detail"]


async def test_bodies_over_one_mib_are_refused_on_the_webhooks_too(
    routes: tuple[str, TelegramWebhook],
    settings: Settings,
    engine: Engine,
    speed: SpeedClock,
    fake: FakeTelegram,
) -> None:
    url, webhook = routes
    webhook.url = url + WEBHOOK_PATH
    body = json.dumps([{"id": n, "pad": "x" * 1000} for n in range(2000)]).encode()
    assert len(body) > MAX_BODY

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    async with (
        running(service(settings, engine, speed, webhook=webhook)),
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        worksection = await http.post("/v1/worksection", content=body, auth=WS_AUTH)
        chunked = await http.post("/v1/worksection", content=chunks(), auth=WS_AUTH)
        telegram = await http.post(
            WEBHOOK_PATH, content=chunks(), headers={SECRET_HEADER: webhook.secret}
        )

    assert (worksection.status_code, chunked.status_code, telegram.status_code) == (413, 413, 413)
    assert inbox_rows(engine) == []


async def test_ndjson_lines_are_rejected_one_by_one_and_named(
    routes: tuple[str, TelegramWebhook], engine: Engine, clock: MovableClock
) -> None:
    url, _ = routes
    lines = [
        json.dumps(make_event("m1", 0)).encode(),
        b"{oops",
        _deep_extra(100),
        json.dumps(make_event("m2", 1)).encode(),
        b'{"id": "caf\xe9"}',
        _with_id("1e400"),
    ]
    body = b"\n".join(lines)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await http.post(
            "/v1/events", content=body, headers=events_headers(body, clock, "application/x-ndjson")
        )

    assert response.status_code == 200
    answer = response.json()
    assert (answer["created"], answer["rejected"]) == (2, 4)
    rejected = {
        item["line"]: item["reason"] for item in answer["results"] if item["status"] == "rejected"
    }
    assert sorted(rejected) == [2, 3, 5, 6]
    assert "malformed JSON" in rejected[2]
    assert "nested more than 64" in rejected[3]
    assert "not UTF-8" in rejected[5]
    assert "out of range" in rejected[6]
    assert stored(engine) == ["m1", "m2"]


# -- the property, over HTTP -------------------------------------------------------------------


class _Background:
    """The intake served from a thread of its own, for a test that is not a coroutine."""

    def __init__(self, settings: Settings, engine: Engine, clock: MovableClock) -> None:
        app = create_app(settings, engine, clock=clock, health=Health())
        self.server = QuietServer(
            uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_config=None)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.02)
        [server] = self.server.servers
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def background(
    intake_settings: Settings, tmp_path: Any, clock: MovableClock
) -> Iterator[tuple[str, Engine]]:
    engine = open_database(str(tmp_path / "property.db"))
    with _Background(intake_settings, engine, clock) as url:
        yield url, engine
    engine.dispose()


def _as_bytes(line: str | bytes) -> bytes:
    return line if isinstance(line, bytes) else line.encode()


@hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=mixed_batches())
def test_posted_rejected_events_never_stop_their_valid_neighbours(
    background: tuple[str, Engine], clock: MovableClock, batch: list[tuple[str, str | bytes]]
) -> None:
    url, engine = background
    # Unique ids across examples: the database is shared by the whole property.
    tag = f"{uuid.uuid4().hex}-"
    lines = [
        _as_bytes(line).replace(b'"id": "valid-', f'"id": "{tag}valid-'.encode(), 1)
        for _, line in batch
    ]
    valid = {f"{tag}valid-{n}" for n, (kind, _) in enumerate(batch) if kind == "valid"}
    with httpx.Client(base_url=url, timeout=30) as http:
        body = b"\n".join(lines)
        ndjson = http.post(
            "/v1/events", content=body, headers=events_headers(body, clock, "application/x-ndjson")
        )
        # The same events as a JSON array, where each still is JSON within limits.
        array: list[Any] = []
        for line in lines:
            try:
                array += loads(b"[" + line + b"]")  # as a member of an array: one level deeper
            except JsonRefused:
                continue
        array_body = json.dumps(array).encode()
        as_array = http.post(
            "/v1/events", content=array_body, headers=events_headers(array_body, clock)
        )

    answer = ndjson.json()
    assert ndjson.status_code == (200 if valid else 422), answer
    statuses = [item["status"] for item in answer["results"]]
    assert statuses == ["created" if kind == "valid" else "rejected" for kind, _ in batch]
    # Sent again as an array, the valid events are duplicates and the others rejected.
    if array:
        assert as_array.status_code in (200, 422), as_array.text
        again = {item["status"] for item in as_array.json()["results"]}
        assert again <= {"duplicate", "rejected"}
    else:
        assert as_array.status_code == 422
    with engine.connect() as connection:
        mine = set(
            connection.execute(
                select(E.c.external_id).where(E.c.external_id.like(f"{tag}%"))
            ).scalars()
        )
    assert mine == valid
