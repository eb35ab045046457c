"""The dashboard in a browser (`pmdesk web`): textual-serve behind personal links.

textual-serve starts one dashboard process per browser tab (a websocket)
and relays the terminal to xterm.js in the page. In front of it, every
request needs a session, and a session is opened only by a personal link
(core.conversations.web_links):

- `GET /link/CODE` checks the link without using it and answers a page that
  sends it back at once (`POST /link/CODE`): the link preview of a chat
  application, which fetches what it is shown, does not use it up;
- `POST /link/CODE` uses the link up and opens a session as its staff
  member: a random token kept in memory, given to the browser as a cookie
  (HttpOnly, SameSite=Strict, Secure behind https), then `/`;
- everything else (`/`, `/ws`, `/static/...`, `/download/...`) is served
  only with a session's cookie, else refused with a 403 page. The websocket
  also needs its Origin to be this server's.

Each dashboard process acts as the session's staff member: its `operator`
setting is given as PMDESK_OPERATOR, so whatever is done there is recorded
in their name. Sessions end after SESSION_HOURS, when the person leaves the
team, or when the server stops; a new link opens a new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import re
import secrets
import shlex
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy import Engine
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from core.base.instants import Now, utc_now
from core.conversations.people import StaffView, UnknownStaff, find_staff
from core.conversations.web_links import LinkRefused, check_link, open_link

log = logging.getLogger("pmdesk.web")

COOKIE = "pmdesk_session"
SESSION_HOURS = 12.0
DEFAULT_PORT = 8766
# The command each browser tab runs: the dashboard, as the session's person.
SESSION_COMMAND = shlex.join([sys.executable, "-m", "pmdesk.web_session"])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Session:
    staff_id: int
    name: str
    # What PMDESK_OPERATOR says: their first email, else their name.
    operator: str
    opened_at: datetime


_SESSION = web.RequestKey("session", Session)


class SessionService(AppService):
    """One dashboard process, with the session's identity in its environment."""

    def __init__(self, command: str, *, environment: dict[str, str], **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.extra_environment = environment

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width=width, height=height)
        environment.update(self.extra_environment)
        return environment


class WebServer(Server):
    """textual-serve's server, serving only people who came with a personal link."""

    def __init__(
        self,
        engine: Engine,
        database: str,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        public_url: str | None = None,
        clock: Now = utc_now,
        command: str = SESSION_COMMAND,
        session_hours: float = SESSION_HOURS,
    ) -> None:
        super().__init__(command, host=host, port=port, title="pmdesk", public_url=public_url)
        if public_url is None and ":" in host:  # an IPv6 address in a URL
            self.public_url = f"http://[{host}]:{port}"
        self.public_url = self.public_url.rstrip("/")
        self.engine = engine
        self.database = database
        self.clock = clock
        self.session_ttl = timedelta(hours=session_hours)
        # The hash of each session's token: a memory dump shows no cookie.
        self.sessions: dict[str, Session] = {}
        self.secure = self.public_url.startswith("https://")

    # -- the application ---------------------------------------------------------

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        app.router.add_get("/link/{code}", self.handle_link_page)
        app.router.add_post("/link/{code}", self.handle_link_open)
        # textual-serve's page, less the web font it fetches from elsewhere.
        page = (Path(self.templates_path) / "app_index.html").read_text(encoding="utf-8")
        page = re.sub(r"<link[^>]*fonts\.googleapis[^>]*>", "", page)
        aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"app_index.html": page}))
        return app

    async def make_app(self) -> web.Application:
        """The aiohttp application (to run under a runner of one's own, as the tests do)."""
        return await self._make_app()

    def initialize_logging(self) -> None:
        logging.basicConfig(
            level=logging.DEBUG if self.debug else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    async def on_startup(self, app: web.Application) -> None:
        print(f"pmdesk web: serving the dashboard on {self.public_url}", flush=True)
        print("open it with a personal link: pmdesk staff web-link NAME", flush=True)

    # -- sessions --------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/link/"):
            return await handler(request)
        session = self.session_of(request)
        if session is None:
            return refusal("This page opens only with a personal link.")
        request[_SESSION] = session
        return await handler(request)

    def session_of(self, request: web.Request) -> Session | None:
        """The live session the request's cookie names, if any."""
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        key = _token_hash(token)
        session = self.sessions.get(key)
        if session is None:
            return None
        if self.clock() >= session.opened_at + self.session_ttl:
            del self.sessions[key]
            return None
        return session

    def open_session(self, person: StaffView) -> str:
        """A new session as `person`; its token, for the cookie."""
        now = self.clock()
        for key, session in list(self.sessions.items()):
            if now >= session.opened_at + self.session_ttl:
                del self.sessions[key]
        token = secrets.token_urlsafe(32)
        operator = person.emails[0] if person.emails else person.name
        self.sessions[_token_hash(token)] = Session(
            staff_id=person.id, name=person.name, operator=operator, opened_at=now
        )
        return token

    async def handle_link_page(self, request: web.Request) -> web.StreamResponse:
        """A link checked, not used: a page that opens it at once (POST)."""
        code = request.match_info["code"]
        try:
            await asyncio.to_thread(check_link, self.engine, code, self.clock())
        except LinkRefused as refused:
            return refusal(f"This link opens nothing: {refused}.")
        action = html.escape(f"/link/{code}", quote=True)
        body = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>pmdesk</title>"
            "<meta name='referrer' content='no-referrer'></head><body>"
            f"<form id='open' method='post' action='{action}'>"
            "<p>Your personal link to the pmdesk dashboard.</p>"
            "<button type='submit'>Open the dashboard</button></form>"
            "<script>document.getElementById('open').submit()</script>"
            "</body></html>"
        )
        return web.Response(text=body, content_type="text/html", headers=_NO_CACHE)

    async def handle_link_open(self, request: web.Request) -> web.StreamResponse:
        """Use the link up, open a session as its person, go to the dashboard."""
        code = request.match_info["code"]
        try:
            person = await asyncio.to_thread(open_link, self.engine, code, self.clock())
        except LinkRefused as refused:
            return refusal(f"This link opens nothing: {refused}.")
        token = self.open_session(person)
        log.info("web session opened as %s (#%d)", person.name, person.id)
        response = web.HTTPSeeOther("/", headers=_NO_CACHE)
        response.set_cookie(
            COOKIE,
            token,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self.secure,
            max_age=int(self.session_ttl.total_seconds()),
        )
        raise response

    # -- the dashboard's processes ----------------------------------------------------

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """textual-serve's websocket, with a dashboard process as the session's person."""
        session = request[_SESSION]
        if not self._same_origin(request):
            raise web.HTTPForbidden(text="pmdesk: this websocket is for this server's page only")
        try:
            person = await asyncio.to_thread(find_staff, self.engine, session.staff_id)
        except UnknownStaff:
            person = None
        if person is None or not person.active:
            raise web.HTTPForbidden(text="pmdesk: no longer on the team")
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        service: SessionService | None = None
        try:
            await websocket.prepare(request)
            service = SessionService(
                self.command,
                environment={"PMDESK_OPERATOR": session.operator, "PMDESK_DB": self.database},
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
                debug=self.debug,
            )
            log.info("dashboard started for %s (#%d)", session.name, session.staff_id)
            await service.start(width, height)
            try:
                await self._process_messages(websocket, service)
            finally:
                await service.stop()
        except asyncio.CancelledError:
            await websocket.close()
        except Exception:
            log.exception("the dashboard of %s stopped on an error", session.name)
        finally:
            if service is not None:
                await service.stop()
        return websocket

    def _same_origin(self, request: web.Request) -> bool:
        """Whether the websocket comes from this server's own page (no other site's)."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser: the cookie alone speaks
        mine = {urlsplit(self.public_url).netloc, request.host}
        return urlsplit(origin).netloc in mine


_NO_CACHE = {"Cache-Control": "no-store"}


def refusal(reason: str) -> web.Response:
    """The 403 page: what was refused, and how to get in."""
    body = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>pmdesk</title></head><body>"
        f"<h1>403: not allowed</h1><p>{html.escape(reason)}</p>"
        "<p>Ask for a personal link: <code>pmdesk staff web-link NAME</code>.</p>"
        "</body></html>"
    )
    return web.Response(status=403, text=body, content_type="text/html", headers=_NO_CACHE)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
