"""The HTTP intake: `POST /v1/events` and `GET /healthz`, as one FastAPI app.

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
when none is valid). In NDJSON each line stands alone: a line that is not
JSON, or breaks a limit, is rejected with its reason, and the other lines
are stored.

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
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from bots.http.bodies import MAX_BODY, BodyRefused, read_body
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
from core.store.health import outbox_backlog, services_lease, write_problem

log = logging.getLogger("pmdesk.intake")

EVENTS_PATH = "/v1/events"
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

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.code, "detail": self.detail, **self.extra},
            status_code=self.status,
            headers=self.headers,
        )


class _IntakeApp(FastAPI):
    """FastAPI, with `POST /v1/events` answered ahead of its routing and middleware.

    That route is the intake's hot path. Its handler takes a bare Request and
    builds its own responses, so the framework adds nothing to it, yet its
    routing, middleware and per-request hooks cost as much CPU as the handler
    itself, on the interpreter the ingestion thread needs too.
    """

    fast_events: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.fast_events is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == EVENTS_PATH
            and not scope.get("root_path")
        ):
            await self.fast_events(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


@dataclass
class _Job:
    items: list[Item]
    done: asyncio.Future[list[Result]]


class Writer:
    """The one writer of the intake: each transaction takes every request queued so far."""

    def __init__(self, ingestor: Ingestor, max_events: int = MAX_BATCH) -> None:
        self.ingestor = ingestor
        self.max_events = max_events
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # For /healthz: the outcome of the last transaction (a failure makes it 503).
        self.last: LastWrite | None = None
        # While a transaction of ours holds the write lock, /healthz answers
        # with its last report of the database (`report`) rather than probe it.
        self.writing = False
        self.report: dict[str, Any] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pmdesk-intake-writer")

    async def submit(self, items: list[Item]) -> list[Result]:
        """Ingest `items`; return their results (positions within `items`) once committed."""
        self.start()
        job = _Job(items, asyncio.get_running_loop().create_future())
        await self._queue.put(job)
        # Shielded: a client that hangs up does not take its events out of a
        # transaction already under way.
        return await asyncio.shield(job.done)

    async def close(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            if job is None:
                return
            jobs, size, last = [job], len(job.items), False
            while size < self.max_events and not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    last = True
                    break
                jobs.append(more)
                size += len(more.items)
            await self._write(jobs)
            if last:
                return

    async def _write(self, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job.items]
        self.writing = True
        try:
            results = await asyncio.to_thread(self.ingestor.ingest_batch, items)
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
            part = results[offset : offset + len(job.items)]
            job.done.set_result(
                [result._replace(position=result.position - offset) for result in part]
            )
            offset += len(job.items)


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    clock: Now = utc_now,
    health: Health,
    routers: Iterable[APIRouter] = (),
) -> FastAPI:
    """The intake's app: events, health, and the routes of `routers` (other webhooks)."""
    writer = Writer(Ingestor.for_settings(engine, settings, clock=clock))

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
    secret = settings.webhook_secret
    read_seconds = settings.http.read_timeout_seconds

    async def events(request: Request) -> JSONResponse:
        try:
            return await _receive(request, secret, clock, writer, read_seconds)
        except IntakeError as error:
            return error.response()

    async def events_asgi(scope: Scope, receive: Receive, send: Send) -> None:
        response = await events(Request(scope, receive))
        await response(scope, receive, send)

    # The route stays declared (a GET gets FastAPI's 405, as before); the
    # POSTs themselves take the short way in, see _IntakeApp.
    app.add_route(EVENTS_PATH, events, methods=["POST"], include_in_schema=False)
    app.fast_events = events_asgi

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return await _health(engine, health, writer, clock)

    for router in routers:
        app.include_router(router)
    return app


async def _receive(
    request: Request, secret: str | None, clock: Now, writer: Writer, read_seconds: float
) -> JSONResponse:
    if not secret:
        raise IntakeError(
            401,
            "no_secret",
            "the intake refuses every event until a shared secret is configured: "
            "set PMDESK_WEBHOOK_SECRET (or webhook_secret in the config file)",
        )
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    try:
        check_timestamp(timestamp, clock().timestamp())
    except SignatureError as error:
        raise IntakeError(401, "bad_timestamp", str(error)) from None
    assert timestamp is not None
    declared_length(request)
    ndjson = _content_kind(request)
    try:
        body = await read_body(request, seconds=read_seconds)
    except BodyRefused as error:
        raise _refused_body(error) from None
    try:
        check_signature(secret, timestamp, body, request.headers.get(SIGNATURE_HEADER))
    except SignatureError as error:
        raise IntakeError(401, "bad_signature", str(error)) from None
    items, lines = _ndjson_items(body) if ndjson else (_json_items(body), None)
    if not items:
        raise IntakeError(422, "no_events", "the body holds no event")
    try:
        results = await writer.submit(items)
    except Exception:
        raise IntakeError(
            503, "not_stored", "the events could not be stored; nothing was kept, send them again"
        ) from None
    return _answer(items, results, lines)


def declared_length(request: Request) -> None:
    value = request.headers.get("content-length")
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


def _content_kind(request: Request) -> bool:
    """True for NDJSON, False for JSON; 415 for anything else."""
    given = request.headers.get("content-type", "")
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


def _json_items(body: bytes) -> list[Item]:
    try:
        value = jsontext.loads(body)
    except jsontext.JsonRefused as error:
        where: dict[str, Any] = {"line": error.line, "column": error.column} if error.line else {}
        raise IntakeError(400, "malformed_json", error.reason, **where) from None
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        # Anything but an object is left to core.conversations.events to reject, with its reason.
        return [item if isinstance(item, dict) else json.dumps(item) for item in value]
    raise IntakeError(
        400, "malformed_json", "the body must be an event (a JSON object) or an array of events"
    )


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
) -> JSONResponse:
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
        return JSONResponse(body, status_code=422)
    return JSONResponse(body, status_code=200)


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


async def _health(engine: Engine, health: Health, writer: Writer, clock: Now) -> JSONResponse:
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
    return JSONResponse(body, status_code=503 if problems else 200)


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
