"""The HTTP intake as a sender meets it: a real uvicorn server on 127.0.0.1, a real SQLite file.

Each kind of bad input gets its status and a JSON body saying what is wrong,
and stores nothing; a batch's valid events are kept when others are
rejected. The clock of the requests is the test's (`MovableClock`), so that
replayed timestamps are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, func, select

from bots.http.intake import MAX_BODY, Health, create_app
from bots.http.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signed_headers
from bots.services.runner import run_services
from core.base.instants import utc_now
from core.config.settings import HttpConfig, Settings
from core.sla.alerts import WrittenClocks
from core.store.models.system import Lease, table
from core.store.models.threads import Clock, Event
from tests.bots.support import until
from tests.conftest import round_the_clock_settings
from tests.support import START, MovableClock, free_port, make_event

SECRET = "a shared secret for the tests"
NDJSON = "application/x-ndjson"
E, C = table(Event), table(Clock)


class QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers, which belong to pytest here."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` on an ephemeral port of 127.0.0.1 for the block; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False)
    server = QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started or task.done(), what="the server started")
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()


def body_of(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def signed(
    body: bytes,
    at: float,
    content_type: str = "application/json",
    secret: str = SECRET,
) -> dict[str, str]:
    return {"Content-Type": content_type, **signed_headers(secret, body, int(at))}


def stored(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(E.c.external_id).order_by(E.c.id)).scalars())


@pytest.fixture
def settings() -> Settings:
    """Round-the-clock policies and no Telegram bot (the webhook mode has its own tests)."""
    return round_the_clock_settings()


@pytest.fixture
def intake_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_secret": SECRET})


@pytest.fixture
async def url(intake_settings: Settings, engine: Engine, clock: MovableClock) -> AsyncIterator[str]:
    app = create_app(intake_settings, engine, clock=clock, health=Health())
    async with serving(app) as base:
        yield base


@pytest.fixture
async def client(url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield http


class Sender:
    """Signs and posts bodies as a well-behaved source does, on the test's clock."""

    def __init__(self, client: httpx.AsyncClient, clock: MovableClock) -> None:
        self.client, self.clock = client, clock

    async def post(self, value: Any, content_type: str = "application/json") -> httpx.Response:
        body = body_of(value)
        headers = signed(body, self.clock().timestamp(), content_type)
        return await self.client.post("/v1/events", content=body, headers=headers)


@pytest.fixture
def sender(client: httpx.AsyncClient, clock: MovableClock) -> Sender:
    return Sender(client, clock)


# -- bodies ------------------------------------------------------------------------------------


async def test_a_single_event_is_stored_and_reported(sender: Sender, engine: Engine) -> None:
    response = await sender.post(make_event("m1", 0))

    assert response.status_code == 200
    body = response.json()
    assert body["created"] == 1 and body["duplicate"] == 0 and body["rejected"] == 0
    [result] = body["results"]
    assert result["index"] == 0 and result["id"] == "m1" and result["status"] == "created"
    assert isinstance(result["event_id"], int)
    assert stored(engine) == ["m1"]


async def test_an_array_keeps_its_valid_events_and_says_why_the_others_were_refused(
    sender: Sender, engine: Engine
) -> None:
    events = [
        make_event("m1", 0),
        make_event("m2", 1, kind="gossip"),
        "not an object",
        make_event("m3", 2, colour="blue"),
        make_event("r1", 3, role="staff"),
    ]

    response = await sender.post(events)

    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["duplicate"], body["rejected"]) == (2, 0, 3)
    by_index = {result["index"]: result for result in body["results"]}
    assert [by_index[i]["status"] for i in range(5)] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "created",
    ]
    assert "unknown kind 'gossip'" in by_index[1]["reason"]
    assert by_index[1]["id"] == "m2"
    assert by_index[2]["reason"] == "not a JSON object" and by_index[2]["id"] is None
    assert by_index[3]["reason"] == "colour: unknown field"
    assert stored(engine) == ["m1", "r1"]


async def test_ndjson_results_name_the_lines(sender: Sender, engine: Engine) -> None:
    lines = [json.dumps(make_event("m1", 0)), "", json.dumps(make_event("m2", 1, kind="x"))]
    body = ("\n".join(lines) + "\n").encode()

    response = await sender.post(body, NDJSON)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["index"], r["line"], r["status"]) for r in results] == [
        (0, 1, "created"),
        (1, 3, "rejected"),
    ]
    assert results[1]["id"] == "m2"
    assert stored(engine) == ["m1"]


async def test_an_event_sent_twice_is_reported_duplicate_and_stored_once(
    sender: Sender, engine: Engine
) -> None:
    first = await sender.post([make_event("m1", 0), make_event("m2", 1)])
    again = await sender.post([make_event("m2", 1), make_event("m3", 2)])

    assert first.status_code == again.status_code == 200
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "created"]
    assert again.json()["duplicate"] == 1
    assert stored(engine) == ["m1", "m2", "m3"]


async def test_concurrent_requests_are_all_committed(sender: Sender, engine: Engine) -> None:
    batches = [[make_event(f"b{n}-{i}", n + i / 10) for i in range(5)] for n in range(20)]

    responses = await asyncio.gather(*(sender.post(batch) for batch in batches))

    assert [r.status_code for r in responses] == [200] * 20
    for batch, response in zip(batches, responses, strict=True):
        assert [r["id"] for r in response.json()["results"]] == [e["id"] for e in batch]
        assert {r["status"] for r in response.json()["results"]} == {"created"}
    assert sorted(stored(engine)) == sorted(e["id"] for b in batches for e in b)


async def test_the_clocks_the_intake_writes_are_told_to_the_scheduler_s_notes(
    intake_settings: Settings, engine: Engine, clock: MovableClock
) -> None:
    written = WrittenClocks()
    app = create_app(intake_settings, engine, clock=clock, health=Health(), written=written)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        sender = Sender(http, clock)
        assert (await sender.post(make_event("m1", 0, task="A"))).status_code == 200
        assert (await sender.post(make_event("m2", 1, task="B"))).status_code == 200
        assert (await sender.post(make_event("r1", 2, role="staff", task="A"))).status_code == 200

    with engine.connect() as connection:
        clocks = set(connection.execute(select(C.c.id)).scalars())
    noted = written.take()
    assert len(clocks) == 2
    assert noted.clocks == clocks
    assert noted.commits == 3


async def test_refused_requests_written_together_never_harm_their_neighbours(
    intake_settings: Settings, engine: Engine, engine_url: str, clock: MovableClock
) -> None:
    app = create_app(intake_settings, engine, clock=clock, health=Health())
    writer = app.state.writer
    batches: list[int] = []
    ingest_batch = writer.ingestor.ingest_batch

    def recorded(items: list[Any], *args: Any, **kwargs: Any) -> Any:
        batches.append(len(items))
        return ingest_batch(items, *args, **kwargs)

    writer.ingestor.ingest_batch = recorded
    lock = WriteLock(engine_url)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=20) as http:
        sender = Sender(http, clock)
        # Another connection holds the write lock: the first request's
        # transaction waits for it, and the next requests queue up meanwhile.
        lock.take()
        first = asyncio.create_task(sender.post(make_event("first", 0)))
        await until(lambda: writer.writing, what="the first transaction began")
        bodies: list[tuple[Any, str]] = [
            (b'{"id": "broken",\n "source": webhook}', "application/json"),
            (make_event("good", 1), "application/json"),
            (make_event("bad", 2, colour="blue"), "application/json"),
            (
                json.dumps(make_event("huge", 3, extra={"n": 1}))
                .replace('"n": 1', '"n": 1e400')
                .encode(),
                "application/json",
            ),
            (
                f"{json.dumps(make_event('line1', 4))}\n{{oops\n".encode(),
                NDJSON,
            ),
        ]
        posts = [asyncio.create_task(sender.post(body, kind)) for body, kind in bodies]
        # Within the 10 s a transaction waits for the lock.
        await until(lambda: writer.queued() == len(bodies), timeout=8, what="the requests queued")
        lock.release()
        answers = [await first, *[await post for post in posts]]

    # The five requests waiting (six events) were written in one transaction.
    assert batches == [1, 6]
    first_answer, broken, good, bad, huge, ndjson = answers
    assert first_answer.status_code == 200
    assert broken.status_code == 400 and broken.json()["error"] == "malformed_json"
    assert (broken.json()["line"], broken.json()["column"]) == (2, 12)
    assert good.status_code == 200 and good.json()["results"][0]["status"] == "created"
    assert bad.status_code == 422
    assert bad.json()["results"][0]["reason"] == "colour: unknown field"
    assert huge.status_code == 400 and "1e400" in huge.json()["detail"]
    assert ndjson.status_code == 200
    assert [r["status"] for r in ndjson.json()["results"]] == ["created", "rejected"]
    assert sorted(stored(engine)) == ["first", "good", "line1"]


async def test_a_single_object_that_is_not_json_is_refused_whole(
    sender: Sender, engine: Engine
) -> None:
    for body, where in [
        (b'{"id": "m1",\n   "source": webhook}', (2, 14)),
        (b'  {"id": "m1"} trailing', (1, 16)),
    ]:
        response = await sender.post(body)

        assert response.status_code == 400, response.text
        answer = response.json()
        assert answer["error"] == "malformed_json"
        assert (answer["line"], answer["column"]) == where
    not_utf8 = json.dumps(make_event("m2", 0, text="caf\u00e9")).encode()
    not_utf8 = not_utf8.replace(b"caf\\u00e9", "café".encode("latin-1"))
    response = await sender.post(not_utf8)
    assert response.status_code == 400 and "not UTF-8" in response.json()["detail"]
    assert stored(engine) == []


async def test_a_client_message_over_http_opens_a_clock(sender: Sender, engine: Engine) -> None:
    response = await sender.post(make_event("m1", 0))
    assert response.status_code == 200
    event_id = response.json()["results"][0]["event_id"]

    with engine.connect() as connection:
        clocks = connection.execute(select(C)).all()

    [clock] = clocks
    assert clock.opened_by == event_id and clock.outcome == "running"
    assert clock.started_at.replace(tzinfo=START.tzinfo) == START
    assert clock.due_at - clock.started_at == timedelta(minutes=15)  # the 24/7 default policy


# -- refusals ----------------------------------------------------------------------------------


async def test_a_missing_or_wrong_signature_is_refused(
    client: httpx.AsyncClient, clock: MovableClock, engine: Engine
) -> None:
    body = body_of(make_event("m1", 0))
    at = int(clock().timestamp())
    headers = signed(body, at)
    unsigned = {k: v for k, v in headers.items() if k != SIGNATURE_HEADER}
    tampered = body.replace(b"text of m1", b"text of m2")
    other_key = {**headers, SIGNATURE_HEADER: sign("another secret", at, body)}

    answers = [
        await client.post("/v1/events", content=body, headers=unsigned),
        await client.post("/v1/events", content=tampered, headers=headers),
        await client.post("/v1/events", content=body, headers=other_key),
    ]

    assert [r.status_code for r in answers] == [401, 401, 401]
    assert answers[0].json()["error"] == "bad_signature"
    assert "missing X-Pmdesk-Signature" in answers[0].json()["detail"]
    assert "does not match" in answers[1].json()["detail"]
    assert stored(engine) == []


@pytest.mark.parametrize(
    ("shift", "words"),
    [(-301, "s old"), (301, "in the future"), (None, "missing X-Pmdesk-Timestamp")],
)
async def test_a_stale_future_or_missing_timestamp_is_refused_even_when_signed(
    client: httpx.AsyncClient, clock: MovableClock, engine: Engine, shift: int | None, words: str
) -> None:
    body = body_of(make_event("m1", 0))
    at = int(clock().timestamp()) + (shift or 0)
    headers = signed(body, at)
    if shift is None:
        del headers[TIMESTAMP_HEADER]

    response = await client.post("/v1/events", content=body, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "bad_timestamp"
    assert words in response.json()["detail"]
    assert stored(engine) == []


async def test_a_timestamp_within_five_minutes_either_way_is_accepted(
    client: httpx.AsyncClient, clock: MovableClock, engine: Engine
) -> None:
    for number, shift in enumerate((-299, 299)):
        body = body_of(make_event(f"m{number}", 0))
        headers = signed(body, clock().timestamp() + shift)
        response = await client.post("/v1/events", content=body, headers=headers)
        assert response.status_code == 200
    assert stored(engine) == ["m0", "m1"]


async def test_without_a_configured_secret_everything_is_refused(
    settings: Settings, engine: Engine, clock: MovableClock
) -> None:
    app = create_app(settings, engine, clock=clock, health=Health())
    body = body_of(make_event("m1", 0))
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        response = await http.post(
            "/v1/events", content=body, headers=signed(body, clock().timestamp())
        )

    assert response.status_code == 401
    assert response.json()["error"] == "no_secret"
    assert "PMDESK_WEBHOOK_SECRET" in response.json()["detail"]
    assert stored(engine) == []


async def test_a_body_over_one_mib_is_refused_by_its_length(
    client: httpx.AsyncClient, clock: MovableClock, engine: Engine
) -> None:
    events = [make_event(f"m{i}", 0, text="x" * 50_000) for i in range(25)]
    body = body_of(events)
    assert len(body) > MAX_BODY

    response = await client.post(
        "/v1/events", content=body, headers=signed(body, clock().timestamp())
    )

    assert response.status_code == 413
    assert response.json()["error"] == "too_large" and response.json()["limit"] == MAX_BODY
    assert stored(engine) == []


async def test_a_chunked_body_is_cut_off_once_it_passes_one_mib(
    client: httpx.AsyncClient, clock: MovableClock, engine: Engine
) -> None:
    body = body_of([make_event(f"m{i}", 0, text="x" * 50_000) for i in range(25)])
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for start in range(0, len(body), 64 * 1024):
            sent += 1
            yield body[start : start + 64 * 1024]

    headers = signed(body, clock().timestamp())  # no Content-Length: the body is streamed
    response = await client.post("/v1/events", content=chunks(), headers=headers)

    assert response.status_code == 413
    assert stored(engine) == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
async def test_a_wrong_content_type_is_refused(
    client: httpx.AsyncClient, clock: MovableClock, engine: Engine, content_type: str | None
) -> None:
    body = body_of(make_event("m1", 0))
    headers = signed(body, clock().timestamp())
    if content_type is None:
        del headers["Content-Type"]
    else:
        headers["Content-Type"] = content_type

    response = await client.post("/v1/events", content=body, headers=headers)

    assert response.status_code == 415
    assert "application/x-ndjson" in response.json()["detail"]
    assert stored(engine) == []


async def test_malformed_json_is_refused_with_its_line_and_column(
    sender: Sender, engine: Engine
) -> None:
    body = b'[\n  {"id": "m1",\n   "source": webhook}\n]'

    response = await sender.post(body)

    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == "malformed_json"
    assert (answer["line"], answer["column"]) == (3, 14)
    assert "line 3, column 14" in answer["detail"]
    assert stored(engine) == []


async def test_a_malformed_ndjson_line_is_rejected_alone_and_named(
    sender: Sender, engine: Engine
) -> None:
    lines = [json.dumps(make_event("m1", 0)), json.dumps(make_event("m2", 1)), "{oops"]

    response = await sender.post("\n".join(lines).encode(), NDJSON)

    assert response.status_code == 200
    [refused] = [item for item in response.json()["results"] if item["status"] == "rejected"]
    assert refused["line"] == 3 and "malformed JSON" in refused["reason"]
    assert stored(engine) == ["m1", "m2"]  # sending the body again finds them duplicates


async def test_an_ndjson_line_that_is_not_utf8_is_rejected_alone_and_named(
    sender: Sender, engine: Engine
) -> None:
    good = json.dumps(make_event("m1", 0)).encode()
    body = good + b"\n" + json.dumps(make_event("m2", 1, text="caf\u00e9")).encode("latin-1")
    body = body.replace(b"caf\\u00e9", "café".encode("latin-1"))

    response = await sender.post(body, NDJSON)

    assert response.status_code == 200
    [refused] = [item for item in response.json()["results"] if item["status"] == "rejected"]
    assert refused["line"] == 2 and "not UTF-8" in refused["reason"]
    assert stored(engine) == ["m1"]


@pytest.mark.sqlite_only  # SQLite's single writer's lock
async def test_the_server_answers_while_a_large_batch_is_written(
    sender: Sender, client: httpx.AsyncClient, engine: Engine
) -> None:
    events = [make_event(f"m{i}", i / 100, task=f"T{i % 100}") for i in range(3000)]
    path = str(engine.url.database)
    answered_while_writing: list[int] = []

    async def post() -> httpx.Response:
        return await sender.post(events)

    async def health(posting: asyncio.Task[httpx.Response]) -> None:
        while not posting.done():
            if writing(path):
                response = await client.get("/healthz")
                if writing(path):  # the same transaction, still under way
                    answered_while_writing.append(response.status_code)
                    return
            await asyncio.sleep(0.002)

    posting = asyncio.create_task(post())
    await health(posting)
    response = await posting

    assert answered_while_writing == [200]
    assert response.status_code == 200 and response.json()["created"] == 3000


class WriteLock:
    """Another connection holding what a writer needs: SQLite's write lock, or on
    PostgreSQL the event table (locked against inserts, not against reads)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection: Any = None

    def take(self) -> None:
        if self.url.startswith("postgresql"):
            import psycopg

            from core.store.live import listen_url

            self.connection = psycopg.connect(listen_url(self.url))
            self.connection.execute("LOCK TABLE event IN EXCLUSIVE MODE")
        else:
            self.connection = sqlite3.connect(self.url, timeout=0)
            self.connection.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.connection.rollback()
        self.connection.close()


def writing(path: str) -> bool:
    """True while another connection holds the database's write lock."""
    db = sqlite3.connect(path, timeout=0)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.rollback()
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        db.close()


async def test_unknown_fields_are_refused_by_name(sender: Sender, engine: Engine) -> None:
    response = await sender.post(make_event("m1", 0, ocurred_at="2026-11-23T09:00:00Z"))

    assert response.status_code == 422
    [result] = response.json()["results"]
    assert result["status"] == "rejected" and result["reason"] == "ocurred_at: unknown field"
    assert stored(engine) == []


async def test_a_body_without_a_valid_event_is_unprocessable(
    sender: Sender, engine: Engine
) -> None:
    response = await sender.post([make_event("m1", 0, kind="gossip"), {"id": "m2"}])
    empty = await sender.post([])

    assert response.status_code == 422
    assert response.json()["error"] == "no_valid_event"
    assert response.json()["rejected"] == 2
    assert "source: required field missing" in response.json()["results"][1]["reason"]
    assert empty.status_code == 422 and empty.json()["error"] == "no_events"
    assert stored(engine) == []


# -- health ------------------------------------------------------------------------------------


async def test_healthz_is_ok_when_every_configured_part_is(
    intake_settings: Settings, engine: Engine, clock: MovableClock
) -> None:
    states = {"intake": "running", "scheduler": "stopped", "bot": "running"}
    health = Health(states, expected={"bot"}, poller_lag=lambda: 12.5)
    app = create_app(intake_settings, engine, clock=clock, health=health)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        response = await http.get("/healthz")
        states["bot"] = "starting"  # read live: the bot reconnecting
        degraded = await http.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "writes": {"problem": None, "last": None},
        "outbox": {"pending": 0, "oldest_pending_at": None, "oldest_pending_age_seconds": None},
        "lease": None,
        "services": {"scheduler": "stopped", "bot": "running"},
        "expected": ["bot"],
        "worksection_lag_seconds": 12.5,
        "problems": [],
    }
    assert degraded.status_code == 503
    assert degraded.json()["status"] == "degraded" and degraded.json()["problems"] == ["bot"]


async def test_other_methods_on_the_intake_routes_are_not_allowed(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        for method, path, allowed in [
            ("GET", "/v1/events", "POST"),
            ("PUT", "/v1/events", "POST"),
            ("HEAD", "/healthz", "GET"),
            ("POST", "/healthz", "GET"),
        ]:
            response = await http.request(method, path)

            assert response.status_code == 405, (method, path)
            assert response.headers["allow"] == allowed
        assert (await http.get("/healthz")).status_code == 200


async def test_healthz_without_a_poller_says_null(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/healthz")

    assert response.status_code == 200
    assert response.json()["worksection_lag_seconds"] is None


async def test_healthz_is_degraded_when_the_database_or_the_poller_lags(
    intake_settings: Settings, engine: Engine, clock: MovableClock, tmp_path: Path
) -> None:
    gone = create_engine(f"sqlite:///{tmp_path / 'no such dir' / 'pmdesk.db'}")
    away = create_app(intake_settings, gone, clock=clock, health=Health())
    late = create_app(
        intake_settings, engine, clock=clock, health=Health(poller_lag=timedelta(hours=1))
    )
    async with serving(away) as base, httpx.AsyncClient(base_url=base) as http:
        no_database = await http.get("/healthz")
    async with serving(late) as base, httpx.AsyncClient(base_url=base) as http:
        lagging = await http.get("/healthz")

    assert no_database.status_code == 503
    assert no_database.json()["database"] == "unreachable"
    assert no_database.json()["problems"] == ["database"]
    assert lagging.status_code == 503
    assert lagging.json()["worksection_lag_seconds"] == 3600
    assert lagging.json()["problems"] == ["worksection"]


# -- under the services' lease -----------------------------------------------------------------


def answers(port: int) -> bool:
    """True when something accepts connections on the port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_only_the_lease_holder_listens_and_the_next_one_takes_over(
    intake_settings: Settings, engine: Engine
) -> None:
    first_port, second_port = free_port(), free_port()
    first_settings = intake_settings.model_copy(update={"http": HttpConfig(port=first_port)})
    second_settings = intake_settings.model_copy(update={"http": HttpConfig(port=second_port)})
    ttl = timedelta(seconds=0.6)
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(
        run_services(first_settings, first_stop, engine=engine, holder="first", ttl=ttl)
    )
    await until(lambda: answers(first_port), what="the first holder listening")
    second = asyncio.create_task(
        run_services(second_settings, second_stop, engine=engine, holder="second", ttl=ttl)
    )
    await asyncio.sleep(0.5)  # the second asks for the lease, and waits
    second_listened = answers(second_port)
    async with httpx.AsyncClient() as http:
        health = await http.get(f"http://127.0.0.1:{first_port}/healthz")

    first_stop.set()
    await asyncio.wait_for(first, timeout=10)
    first_released = not answers(first_port)
    await until(lambda: answers(second_port), what="the second holder listening")
    second_stop.set()
    await asyncio.wait_for(second, timeout=10)

    assert not second_listened
    assert health.status_code == 200
    assert first_released
    assert not answers(second_port)


async def test_a_taken_port_fails_the_intake_with_a_line_naming_it(
    intake_settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = intake_settings.model_copy(update={"http": HttpConfig(port=port)})
        stop = asyncio.Event()
        task = asyncio.create_task(run_services(settings, stop, engine=engine, holder="here"))
        await until(lambda: intake_state(engine) == "failed", what="the failure reported")
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in caplog.text


def intake_state(engine: Engine) -> str | None:
    """The intake's state as the lease row reports it to the dashboard."""
    with engine.connect() as connection:
        reported = connection.execute(select(table(Lease).c.services)).scalar()
    return json.loads(reported).get("intake") if reported else None


async def test_the_events_of_a_request_in_flight_are_committed_before_the_server_stops(
    intake_settings: Settings, engine: Engine
) -> None:
    port = free_port()
    settings = intake_settings.model_copy(update={"http": HttpConfig(port=port)})
    stop = asyncio.Event()
    task = asyncio.create_task(run_services(settings, stop, engine=engine, holder="here"))
    await until(lambda: answers(port), what="the intake listening")
    events = [make_event(f"m{i}", i / 100, task=f"T{i % 50}") for i in range(3000)]
    body = body_of(events)
    async with httpx.AsyncClient(timeout=10) as http:
        posting = asyncio.create_task(
            http.post(
                f"http://127.0.0.1:{port}/v1/events",
                content=body,
                headers=signed(body, utc_now().timestamp()),
            )
        )
        await asyncio.sleep(0.05)  # the request is in: now stop
        stop.set()
        response = await posting
    await asyncio.wait_for(task, timeout=10)

    assert response.status_code == 200
    assert response.json()["created"] == 3000
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(E)).scalar() == 3000


@pytest.mark.parametrize("status", ["created", "duplicate"])
@pytest.mark.parametrize("external_id", ["evt-1", 'a "quoted" id\\ with é and \u2028'])
def test_the_answer_of_one_stored_event_is_the_text_of_the_general_answer(
    status: str, external_id: str
) -> None:
    """One event stored is answered from a byte template: the same text as from its dict."""
    from bots.http.intake import _answer, _listed, json_bytes
    from core.conversations.ingest import Result

    result = Result(0, status, event_id=41, source="s", external_id=external_id)  # type: ignore[arg-type]
    code, fast = _answer([b"{}"], [result], None)
    assert code == 200 and isinstance(fast, bytes)
    code, general = _listed([b"{}"], [result], None)
    assert code == 200 and fast == json_bytes(general)
    assert json.loads(fast)["results"] == [
        {"index": 0, "id": external_id, "status": status, "event_id": 41}
    ]


@pytest.mark.parametrize(
    "secret",
    [
        "a shared secret for the tests",
        "s" * 64,  # a key of exactly one block of SHA-256
        "a secret longer than one block of SHA-256, hashed first as HMAC says" * 2,
        "un secret partagé, accentué: clé",  # not ASCII
    ],
)
@pytest.mark.parametrize("body", [b"", b'{"id": "m1"}', bytes(range(256)) * 9])
def test_the_signature_is_the_hmac_sha256_of_the_timestamp_and_the_body(
    secret: str, body: bytes
) -> None:
    """What a sender computes with any HMAC library, whatever the secret's length."""
    expected = hmac.new(secret.encode(), b"1764800000." + body, hashlib.sha256).hexdigest()

    assert sign(secret, 1764800000, body) == f"sha256={expected}"
    assert sign(secret, "1764800000", body) == f"sha256={expected}"
    assert sign(secret + "!", 1764800000, body) != f"sha256={expected}"
