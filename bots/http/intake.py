"""The HTTP intake: `POST /v1/events` and `GET /healthz`, as one FastAPI app.

Those two routes are plain ASGI handlers answered ahead of FastAPI (see
_IntakeApp); the app's other routes (the webhooks) go through it.

`POST /v1/events` takes one event (a JSON object), a JSON array of events, or
NDJSON (`application/x-ndjson`, one event per line), in the schema of
core.conversations.events, signed with the shared secret (bots.http.signing). It answers 2xx
only once the events are committed, with a result per event (created,
duplicate, or rejected with the reason) and the counts; the valid events of
a batch are kept when others are rejected.

The checks run cheapest first, and nothing is read past what they allow:
no secret configured, missing or stale timestamp (401), a declared length
over MAX_BODY (413), a content type that is neither (415); then the body is
read, counting as it comes (413 past MAX_BODY, whatever the header said;
408 when it takes longer than bots.http.bodies.BODY_SECONDS), its signature
checked (401), its JSON parsed within core.base.jsontext's limits (400 with the
reason, and the line and column when known), and its events ingested (422
when none is valid); a body of one JSON object is parsed once, by the
ingestion, and read by the strict parser only if rejected there. In NDJSON
each line stands alone: a line that is not JSON, or breaks a limit, is
rejected with its reason, and the other lines are stored.

SQLite has one writer at a time. Rather than every request taking its own
write transaction (and queueing on the database's lock), the requests hand
their events to one `Writer` task, which takes whatever has queued up while
the previous transaction ran and writes it all in the next one, in a
worker thread so that the event loop keeps answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine
from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bots.http.bodies import MAX_BODY, BodyRefused, receive_body
from bots.http.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    check_signature,
    check_timestamp,
)
from core.base import jsontext
from core.base.instants import Now, utc_now
from core.config.settings import Settings
from core.conversations.ingest import Ingestor, Item, Result
from core.sla.alerts import WrittenClocks
from core.store.health import outbox_backlog, services_lease, write_problem

log = logging.getLogger("pmdesk.intake")

EVENTS_PATH = "/v1/events"
HEALTH_PATH = "/healthz"
JSON_TYPE = "application/json"
NDJSON_TYPES = frozenset(["application/x-ndjson", "application/jsonl", "application/jsonlines"])
# Events per transaction at most when requests are batched together: large
# enough to amortise the commit, small enough that one transaction stays short.
MAX_BATCH = 5000
# How long /healthz waits for the database before calling it unreachable,
# and, within that, for the write lock before calling writes blocked.
DATABASE_PROBE_SECONDS = 3.0
WRITE_PROBE_MS = 1000
# The services /healthz reports on (the intake answering is the proof of its own health).
REPORTED = ("scheduler", "bot")

Lag = float | timedelta | None


@dataclass
class Health:
    """What /healthz reports besides the database.

    `states`: each service's state, read live (the services' own dict);
    `expected`: the services configured to run, read live too: one of them
    not "running" makes the answer 503. `poller_lag`: how far behind the
    Worksection poller is, in seconds, or a callable giving it; None when
    there is no poller. A lag over `max_poller_lag` is unwell.
    """

    states: Mapping[str, str] = field(default_factory=dict)
    expected: Collection[str] = ()
    poller_lag: Callable[[], Lag] | Lag = None
    max_poller_lag: float = 300.0

    def lag(self) -> float | None:
        value = self.poller_lag() if callable(self.poller_lag) else self.poller_lag
        if isinstance(value, timedelta):
            return value.total_seconds()
        return None if value is None else float(value)


@dataclass
class LastWrite:
    """The outcome of the intake's last transaction: when, and the error if it failed."""

    ok: bool
    at: datetime
    error: str | None = None


class IntakeError(Exception):
    """A refusal: HTTP status, a short code, a sentence, and details for the sender."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra
        self.headers = headers

    def content(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


class _IntakeApp(FastAPI):
    """FastAPI, with `POST /v1/events` and `GET /healthz` answered ahead of it.

    Those two are plain ASGI handlers (`direct`, by method and path): they
    read the headers from the scope and send their JSON answers themselves,
    so no Request, Response, routing, middleware or per-request hook is made
    for them. The framework added nothing to them, yet cost as much CPU as
    the handlers, on the interpreter the ingestion thread needs too. Other
    methods and paths, and the lifespan, go through FastAPI.
    """

    direct: dict[tuple[str, str], ASGIApp]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            handler = self.direct.get((scope["method"], scope["path"]))
            if handler is not None:
                await handler(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def header_values(scope: Scope) -> dict[str, str]:
    """A request's headers by lower-case name; the first of a name given twice."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in reversed(scope["headers"])
    }


def json_bytes(content: Any) -> bytes:
    """A JSON answer's body, as FastAPI's JSONResponse renders it."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


async def send_json(
    send: Send, status: int, content: Any, headers: Mapping[str, str] | None = None
) -> None:
    """Answer with `content` as JSON (bytes: already encoded), and `headers` besides its
    length and type."""
    body = content if isinstance(content, bytes) else json_bytes(content)
    raw = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in (headers or {}).items()
    ]
    raw += [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


@dataclass
class _Job:
    items: list[Item]
    done: asyncio.Future[list[Result]]


class Writer:
    """The one writer of the intake: each transaction takes every request queued so far."""

    def __init__(self, ingestor: Ingestor, max_events: int = MAX_BATCH) -> None:
        self.ingestor = ingestor
        self.max_events = max_events
        # The requests waiting for the next transaction, and the future the
        # writer's task waits on while there are none: a deque and a future
        # cost the event loop a fraction of an asyncio.Queue's put and get.
        self._jobs: deque[_Job] = deque()
        self._idle: asyncio.Future[None] | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        # For /healthz: the outcome of the last transaction (a failure makes it 503).
        self.last: LastWrite | None = None
        # While a transaction of ours holds the write lock, /healthz answers
        # with its last report of the database (`report`) rather than probe it.
        self.writing = False
        self.report: dict[str, Any] | None = None
        # The thread the transactions run in, one of its own (see _in_thread).
        self._thread: threading.Thread | None = None
        self._batches: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pmdesk-intake-writer")

    async def submit(self, items: list[Item]) -> list[Result]:
        """Ingest `items`; return their results (positions within `items`) once committed."""
        self.start()
        job = _Job(items, asyncio.get_running_loop().create_future())
        self._jobs.append(job)
        self._wake()
        # A request cancelled while it waits does not take its events out of
        # the queue or of a transaction under way: the writer writes every job
        # it takes, and answers those still waiting (no shield to pay for).
        return await job.done

    def queued(self) -> int:
        """How many requests wait for the next transaction."""
        return len(self._jobs)

    def _wake(self) -> None:
        idle = self._idle
        if idle is not None and not idle.done():
            idle.set_result(None)

    async def close(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            self._closing = True
            self._wake()
            await self._task
            self._task = None
        if self._thread is not None:
            self._batches.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self.ingestor.close()

    async def _run(self) -> None:
        waiting = self._jobs
        while True:
            if not waiting:
                if self._closing:
                    return
                self._idle = asyncio.get_running_loop().create_future()
                await self._idle
                self._idle = None
                continue
            # One turn of the event loop first: requests already read off their
            # sockets reach the queue in it, and join this transaction rather
            # than wait for the next (each transaction has a cost of its own).
            await asyncio.sleep(0)
            job = waiting.popleft()
            jobs, size = [job], len(job.items)
            while size < self.max_events and waiting:
                more = waiting.popleft()
                jobs.append(more)
                size += len(more.items)
            await self._write(jobs)

    async def _write(self, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job.items]
        self.writing = True
        try:
            results = await self._in_thread(items)
            self.last = LastWrite(True, self.ingestor.clock())
        except BaseException as error:
            first_line = str(getattr(error, "orig", None) or error) or type(error).__name__
            self.last = LastWrite(False, self.ingestor.clock(), first_line.splitlines()[0])
            for job in jobs:
                if not job.done.done():
                    job.done.set_exception(
                        error if isinstance(error, Exception) else RuntimeError("stopped")
                    )
            if not isinstance(error, Exception):
                raise
            log.exception("a batch of %d events could not be stored", len(items))
            return
        finally:
            self.writing = False
        offset = 0
        for job in jobs:
            if not job.done.done():
                part = results[offset : offset + len(job.items)]
                job.done.set_result(
                    # (Result's constructor: a third of the CPU of _replace.)
                    [Result(result.position - offset, *result[1:]) for result in part]
                    if offset
                    else part
                )
            offset += len(job.items)

    def _in_thread(self, items: list[Item]) -> asyncio.Future[list[Result]]:
        """`items` ingested in the writer's thread; the future has their results.

        A thread of its own, fed by a queue, rather than asyncio.to_thread:
        the executor's hand-over (a context copy, a work item, two futures
        chained, locks) cost the event loop about 110 us of CPU a
        transaction, the queue about 40.
        """
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._serve, name="pmdesk-intake-writer", daemon=True
            )
            self._thread.start()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Result]] = loop.create_future()
        self._batches.put(_Batch(items, done, loop))
        return done

    def _serve(self) -> None:
        """The writer's thread: each batch ingested in turn, until close() says stop."""
        while (batch := self._batches.get()) is not None:
            try:
                outcome: list[Result] | BaseException = self.ingestor.ingest_batch(batch.items)
            except BaseException as error:
                outcome = error
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits
                batch.loop.call_soon_threadsafe(_settle, batch.done, outcome)


@dataclass
class _Batch:
    items: list[Item]
    done: asyncio.Future[list[Result]]
    loop: asyncio.AbstractEventLoop


def _settle(done: asyncio.Future[list[Result]], outcome: list[Result] | BaseException) -> None:
    if done.cancelled():
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    clock: Now = utc_now,
    health: Health,
    routers: Iterable[APIRouter] = (),
    written: WrittenClocks | None = None,
) -> FastAPI:
    """The intake's app: events, health, and the routes of `routers` (other webhooks).

    `written`: told the clocks each of the intake's commits wrote, for the
    scheduler (bots.services.scheduler).
    """
    ingestor = Ingestor.for_settings(engine, settings, clock=clock)
    if written is not None:
        ingestor.on_commit = written.note
    writer = Writer(ingestor)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        writer.start()
        try:
            yield
        finally:
            # The server has stopped taking requests: finish what was queued.
            await writer.close()

    app = _IntakeApp(
        title="pmdesk intake", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.writer = writer
    events = _Events(settings.webhook_secret, clock, writer, settings.http.read_timeout_seconds)
    healthz = _Healthz(engine, health, writer, clock)
    app.direct = {("POST", EVENTS_PATH): events, ("GET", HEALTH_PATH): healthz}
    # Declared as routes too (plain ASGI endpoints, which Starlette calls as they are):
    # another method gets FastAPI's 405, and an app mounted under a prefix still serves them.
    for path, endpoint, method in ((EVENTS_PATH, events, "POST"), (HEALTH_PATH, healthz, "GET")):
        route = Route(path, endpoint, methods=[method], include_in_schema=False)
        route.methods = {method}  # not the HEAD Starlette adds to a GET: 405, as ever
        app.router.routes.append(route)

    for router in routers:
        app.include_router(router)
    return app


class _Events:
    """`POST /v1/events`, as a plain ASGI app (see _IntakeApp)."""

    def __init__(self, secret: str | None, clock: Now, writer: Writer, read_seconds: float) -> None:
        self.secret, self.clock, self.writer = secret, clock, writer
        self.read_seconds = read_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_values(scope)
        refusal: Mapping[str, str] | None = None
        try:
            status, content = await self.take(headers, receive)
        except IntakeError as error:
            status, content, refusal = error.status, error.content(), error.headers
        except ClientDisconnect:
            return  # hung up before its body came: nothing was stored, nobody to answer
        await send_json(send, status, content, refusal)

    async def take(self, headers: Mapping[str, str], receive: Receive) -> tuple[int, Any]:
        """The request's answer, status and JSON content; IntakeError for a refusal."""
        if not self.secret:
            raise IntakeError(
                401,
                "no_secret",
                "the intake refuses every event until a shared secret is configured: "
                "set PMDESK_WEBHOOK_SECRET (or webhook_secret in the config file)",
            )
        timestamp = headers.get(TIMESTAMP_HEADER.lower())
        try:
            check_timestamp(timestamp, self.clock().timestamp())
        except SignatureError as error:
            raise IntakeError(401, "bad_timestamp", str(error)) from None
        assert timestamp is not None
        declared = headers.get("content-length")
        declared_length(declared)
        ndjson = _content_kind(headers.get("content-type", ""))
        try:
            body = await receive_body(receive, declared or "", seconds=self.read_seconds)
        except BodyRefused as error:
            raise _refused_body(error) from None
        try:
            check_signature(self.secret, timestamp, body, headers.get(SIGNATURE_HEADER.lower()))
        except SignatureError as error:
            raise IntakeError(401, "bad_signature", str(error)) from None
        lines: list[int] | None = None
        # One JSON object, handed on as sent: the ingestion parses it (see _json_items).
        whole = not ndjson and _one_object(body)
        if ndjson:
            items, lines = _ndjson_items(body)
        else:
            items = [body] if whole else _json_items(body)
        if not items:
            raise IntakeError(422, "no_events", "the body holds no event")
        try:
            results = await self.writer.submit(items)
        except Exception:
            if whole:
                _refuse_malformed(body)
            raise IntakeError(
                503,
                "not_stored",
                "the events could not be stored; nothing was kept, send them again",
            ) from None
        if whole and results[0].status == "rejected":
            # A body the ingestion rejected may be no JSON at all: that is a 400, as it was
            # before parsing was left to the ingestion.
            _refuse_malformed(body)
        return _answer(items, results, lines)


def declared_length(value: str | None) -> None:
    """400 for a Content-Length that is not a number, 413 for one over MAX_BODY."""
    if value is None:
        return
    try:
        length = int(value)
    except ValueError:
        raise IntakeError(
            400, "bad_length", f"Content-Length {value[:20]!r} is not a number"
        ) from None
    if length > MAX_BODY:
        raise _too_large()


def _too_large() -> IntakeError:
    return IntakeError(
        413,
        "too_large",
        f"the body is over {MAX_BODY} bytes (1 MiB): send the events in several requests",
        limit=MAX_BODY,
    )


def _refused_body(error: BodyRefused) -> IntakeError:
    if error.status == 413:
        return _too_large()
    return IntakeError(error.status, "too_slow", error.detail, headers=error.headers)


def _content_kind(given: str) -> bool:
    """True for NDJSON, False for JSON; 415 for anything else."""
    kind = given.split(";", 1)[0].strip().lower()
    if kind == JSON_TYPE:
        return False
    if kind in NDJSON_TYPES:
        return True
    raise IntakeError(
        415,
        "unsupported_type",
        f"Content-Type {given or '(none)'!r}: send application/json (an event or an array "
        "of events) or application/x-ndjson (one event per line)",
    )


def _one_object(body: bytes) -> bool:
    """Whether a JSON body starts as one object does.

    Such a body is handed on as it came, to be parsed and validated once, by
    the ingestion (core.conversations.events), rather than parsed here and
    again there; only if it is rejected there is it read again, by the
    strict parser, to tell a body that is no JSON (400) from an event that
    is not valid (422).
    """
    return body.lstrip(b" \t\r\n")[:1] == b"{"


def _json_items(body: bytes) -> list[Item]:
    """The events of a JSON body: one object, or an array of them."""
    value = _refuse_malformed(body)
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        # Anything but an object is left to core.conversations.events to reject, with its reason.
        return [item if isinstance(item, dict) else json.dumps(item) for item in value]
    raise IntakeError(
        400, "malformed_json", "the body must be an event (a JSON object) or an array of events"
    )


def _refuse_malformed(body: bytes) -> Any:
    """The value of a JSON body; 400 with the reason, line and column, if it is not JSON."""
    try:
        return jsontext.loads(body)
    except jsontext.JsonRefused as error:
        where: dict[str, Any] = {"line": error.line, "column": error.column} if error.line else {}
        raise IntakeError(400, "malformed_json", error.reason, **where) from None


def _ndjson_items(body: bytes) -> tuple[list[Item], list[int]]:
    """Each non-blank line, kept as sent (core.conversations.events judges it alone), and its line
    number."""
    items: list[Item] = []
    lines: list[int] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        items.append(line)
        lines.append(number)
    return items, lines


def _answer(
    items: Sequence[Item], results: Sequence[Result], lines: list[int] | None
) -> tuple[int, dict[str, Any] | bytes]:
    """The status and JSON answer of a request's results; the answer of one event stored
    (created or duplicate) as bytes, written directly: the same text json_bytes makes of
    its dict, at a fraction of the cost."""
    if len(results) == 1 and lines is None:
        one = results[0]
        if (
            one.status != "rejected"
            and one.external_id is not None
            and one.event_id is not None
            and one.reason is None
            and one.position == 0
        ):
            return 200, _ONE_STORED % (
                one.status == "created",
                one.status == "duplicate",
                _json_text(one.external_id).encode("utf-8"),
                b"created" if one.status == "created" else b"duplicate",
                one.event_id,
            )
    return _listed(items, results, lines)


def _listed(
    items: Sequence[Item], results: Sequence[Result], lines: list[int] | None
) -> tuple[int, dict[str, Any]]:
    """The answer as a dict: counts, and a result per event."""
    counts = {"created": 0, "duplicate": 0, "rejected": 0}
    listed = []
    for result in results:
        counts[result.status] += 1
        entry: dict[str, Any] = {"index": result.position}
        if lines is not None:
            entry["line"] = lines[result.position]
        entry["id"] = result.external_id or _claimed_id(items[result.position])
        entry["status"] = result.status
        if result.event_id is not None:
            entry["event_id"] = result.event_id
        if result.reason is not None:
            entry["reason"] = result.reason
        listed.append(entry)
    body: dict[str, Any] = {**counts, "results": listed}
    if counts["rejected"] == len(results):
        body = {"error": "no_valid_event", "detail": "no event in the body is valid", **body}
        return 422, body
    return 200, body


# json.dumps(value, ensure_ascii=False), without building an encoder at every call.
_json_text = json.JSONEncoder(ensure_ascii=False).encode

_ONE_STORED = (
    b'{"created":%d,"duplicate":%d,"rejected":0,"results":[{"index":0,"id":%s,"status":"%s",'
    b'"event_id":%d}]}'
)


def _claimed_id(item: Item) -> str | None:
    """The id a rejected input gave itself, if any, so that the sender can find it."""
    value: Any = item
    if isinstance(item, str | bytes):
        try:
            value = jsontext.loads(item)
        except jsontext.JsonRefused:
            return None
    found = value.get("id") if isinstance(value, dict) else None
    return None if found is None else str(found)


class _Healthz:
    """`GET /healthz`, as a plain ASGI app (see _IntakeApp)."""

    def __init__(self, engine: Engine, health: Health, writer: Writer, clock: Now) -> None:
        self.engine, self.health, self.writer, self.clock = engine, health, writer, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, content = await _health(self.engine, self.health, self.writer, self.clock)
        await send_json(send, status, content)


async def _health(
    engine: Engine, health: Health, writer: Writer, clock: Now
) -> tuple[int, dict[str, Any]]:
    if writer.writing and writer.ingestor.holding_lock:
        # Our own transaction holds the lock: the database works, and reading
        # it now would wait on the interpreter the ingestion thread keeps busy.
        # (A transaction still waiting for the lock is probed: someone else holds it.)
        database: dict[str, Any] | None = writer.report or _NOT_READ
    else:
        database = writer.report = await _database_report(engine, clock())
    services = {name: health.states.get(name, "stopped") for name in REPORTED}
    lag = health.lag()
    at = clock()
    last = writer.last
    writes: dict[str, Any] = {
        "problem": database.get("write_problem") if database else None,
        "last": None
        if last is None
        else {
            "outcome": "ok" if last.ok else "failed",
            "at": last.at.isoformat(),
            "age_seconds": round((at - last.at).total_seconds(), 3),
            "error": last.error,
        },
    }
    problems = [] if database is not None else ["database"]
    if writes["problem"] or (last is not None and not last.ok):
        problems.append("writes")
    problems += [
        name for name, state in services.items() if name in health.expected and state != "running"
    ]
    if lag is not None and lag > health.max_poller_lag:
        problems.append("worksection")
    body = {
        "status": "degraded" if problems else "ok",
        "database": "ok" if database is not None else "unreachable",
        "writes": writes,
        "outbox": database.get("outbox") if database else None,
        "lease": database.get("lease") if database else None,
        "services": services,
        "expected": sorted(name for name in health.expected if name in REPORTED),
        "worksection_lag_seconds": lag,
        "problems": problems,
    }
    return 503 if problems else 200, body


_NOT_READ: dict[str, Any] = {"write_problem": None, "outbox": None, "lease": None}


async def _database_report(engine: Engine, at: datetime) -> dict[str, Any] | None:
    """What the database says of writes, the outbox and the lease; None if it does not answer."""

    def probe() -> dict[str, Any]:
        with engine.connect() as connection:
            backlog = outbox_backlog(connection)
            lease = services_lease(connection)
        oldest = backlog.oldest_at
        return {
            "write_problem": write_problem(engine, WRITE_PROBE_MS),
            "outbox": {
                "pending": backlog.pending,
                "oldest_pending_at": oldest.isoformat() if oldest else None,
                "oldest_pending_age_seconds": (
                    round((at - oldest).total_seconds(), 3) if oldest else None
                ),
            },
            "lease": None
            if lease is None
            else {
                "holder": lease.holder,
                "renewed_at": lease.renewed_at.isoformat(),
                "expires_at": lease.expires_at.isoformat(),
                "expired": lease.expires_at <= at,
            },
        }

    try:
        return await asyncio.wait_for(asyncio.to_thread(probe), DATABASE_PROBE_SECONDS)
    except Exception:
        log.warning("the database does not answer", exc_info=True)
        return None
