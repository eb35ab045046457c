"""Worksection's API: signed requests, the status envelope, pacing and retries.

Two ways in:

- the admin API, `<account>/api/admin/v2/?action=...&<params>&hash=<md5>`,
  where the hash is the MD5 of the parameters as sent (`action=...&<params>`,
  without the hash) followed by the API key;
- OAuth2, `<account>/api/oauth2?action=...`, with `Authorization: Bearer`;
  the access token lasts 24 hours and is renewed by a `TokenKeeper`
  (bots.worksection.oauth), ahead of time or when Worksection refuses it
  (the call is then made again, once).

Reads (`get_*`) carry their few parameters in the query string. Writes
(`post_comment`...) are POSTs whose parameters travel in a form body:
Worksection refuses a request line over 8 KB (HTTP 414), and a reply of a
few thousand French characters is past it once percent-encoded (an
accented letter takes six bytes, `%C3%A9`). The
URL then holds `action` and `hash` only, and the hash covers `action=...`
followed by `&` and the body, the parameters of the request in the order
sent. Repeated parameters (`todo[]`, one per checklist item) are lists.

Every answer is HTTP 200 with `{"status": "ok", "data": ...}` or
`{"status": "error", "status_code": N, "message": ...}`; the second is an
error whatever the HTTP status says.

Worksection allows about one request a second, so calls are paced
(`min_interval` between the starts of two calls) and serialised. Network
errors, time-outs, 5xx and errors that say to slow down are retried with
exponential backoff; an error envelope that names a problem with the
request itself (unknown task, bad parameter) is not, since it would fail
the same way again.

Assumptions (Worksection does not document these): which error envelopes
are transient (a `status_code` of 429 or >= 500, or a message speaking of a
limit or of too many requests); that `post_comment` answers with the new
comment's `id` in `data`, and `post_task` with the new task's `id` and
`page`; that `get_projects` and `get_tasks` take
`filter=active` as `get_all_tasks` does; that `add_costs` answers with the new
row's `id` beside `status` (or in `data`); that a POST's form body is signed as its
parameters would be in a query string (after `action=...&`); and that a
comment is kept up to 65,536 characters, as a task's description is (the
documented limit: longer ones are cut silently, so longer replies are
refused here, with the reason, rather than sent).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import Engine

from bots.worksection.oauth import TokenKeeper, TokenRefused
from core.base.instants import Now, utc_now
from core.config.settings import WorksectionConfig
from core.time.rows import hours_text

log = logging.getLogger("pmdesk.worksection")

Sleep = Callable[[float], Awaitable[None]]
Params = dict[str, str | int | list[str]]

# The longest request line Worksection takes (414 Request-URL Too Large beyond).
MAX_REQUEST_LINE = 8 * 1024
# What Worksection keeps of a text: its documentation says a description is
# cut silently past this; comments are assumed to be kept the same way.
MAX_TEXT_CHARS = 65_536
# Added to the configured interval between two requests (from_config). The
# client paces the starts of its requests; Worksection counts from their
# arrivals, so a request that leaves a few milliseconds late makes the next
# one "too soon": refused, and tried again after a second's backoff. On
# loopback, 15 of 56 requests of a 40-task template run were refused without
# a margin, none with 10 ms (docs/benchmarks.md, task templates).
PACING_MARGIN = 0.02

# `email_user_to` for a task given to nobody, or to anyone who takes it.
NOONE, ANY = "NOONE", "ANY"

_TRANSIENT_WORDS = ("limit", "too many requests", "try again", "temporar")


class WorksectionError(Exception):
    """Worksection refused or could not answer; `transient` if trying later may work."""

    def __init__(self, message: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.code = code


@dataclass(frozen=True)
class CreatedTask:
    """A task `post_task` created: its id and its page (`/project/P/T/`)."""

    id: str
    page: str | None


def ws_date(day: date) -> str:
    """A date as Worksection's parameters take it: `DD.MM.YYYY`."""
    return day.strftime("%d.%m.%Y")


def sign(query: str, api_key: str) -> str:
    """The admin API's hash of a query string: MD5 of the query followed by the key."""
    return hashlib.md5((query + api_key).encode("utf-8")).hexdigest()


def form(params: Params) -> str:
    """The parameters in the order given, URL-encoded; a list repeats its key."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if isinstance(value, list):
            pairs.extend((key, str(item)) for item in value)
        else:
            pairs.append((key, str(value)))
    return urlencode(pairs)


def query_string(action: str, params: Params) -> str:
    """`action` first, then the parameters in the order given, URL-encoded."""
    rest = form(params)
    return f"{urlencode([('action', action)])}&{rest}" if rest else urlencode([("action", action)])


# get_events' periods: whole numbers of one unit, each in its documented range.
PERIOD_UNITS = (("m", 1, 360), ("h", 60, 72), ("d", 24 * 60, 30))
MAX_PERIOD_MINUTES = 30 * 24 * 60


def event_period(minutes: int) -> str:
    """The `period` of get_events covering the last `minutes`: `360m`, `7h`, `4d`...

    The smallest unit whose range covers the window, rounded up; a window
    past 30 days is capped at `30d` (what came before is out of reach: the
    poller says so).
    """
    minutes = max(1, min(minutes, MAX_PERIOD_MINUTES))
    for unit, size, most in PERIOD_UNITS:
        count = -(-minutes // size)
        if count <= most:
            return f"{count}{unit}"
    raise AssertionError("unreachable")  # pragma: no cover


class WorksectionClient:
    """Calls Worksection's API; see the module's docstring. Close it with `aclose`."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        oauth_token: str | None = None,
        tokens: TokenKeeper | None = None,
        min_interval: float = 1.0,
        attempts: int = 5,
        backoff: float = 1.0,
        backoff_cap: float = 30.0,
        timeout: float = 20.0,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key and not oauth_token and tokens is None:
            raise ValueError("an API key or an OAuth token is needed")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._token = oauth_token
        self._tokens = None if api_key else tokens
        self._min_interval = min_interval
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._last_start = float("-inf")
        self._http = httpx.AsyncClient(timeout=timeout)

    @classmethod
    def from_config(
        cls, config: WorksectionConfig, engine: Engine, clock: Now = utc_now, **options: Any
    ) -> WorksectionClient:
        """The client the configuration describes; with OAuth2, renewing into `engine`.

        Its requests start the configured interval plus PACING_MARGIN apart.
        """
        interval = config.min_request_interval
        options.setdefault("min_interval", interval + PACING_MARGIN if interval else 0.0)
        if config.uses_oauth:
            options.setdefault("tokens", TokenKeeper(config, engine, clock))
            return cls(config.url, **options)
        return cls(config.url, api_key=config.api_key, **options)

    async def aclose(self) -> None:
        await self._http.aclose()

    def url(self, action: str, params: Params, body: Params | None = None) -> str:
        """The address of one call, signed when it goes through the admin API.

        `params` go in the query string; `body`, a POST's form, is covered
        by the hash without being in the address.
        """
        query = query_string(action, params)
        if self._api_key:
            signed = f"{query}&{form(body)}" if body else query
            return f"{self.base_url}/api/admin/v2/?{query}&hash={sign(signed, self._api_key)}"
        return f"{self.base_url}/api/oauth2?{query}"

    async def call(self, action: str, params: Params | None = None, *, post: bool = False) -> Any:
        """One API call, retried while the failure is transient; its `data`.

        Raises WorksectionError once retries are exhausted or at once for
        a permanent error.
        """
        params = params or {}
        for attempt in range(self._attempts):
            try:
                return await self._once(action, params, post)
            except WorksectionError as error:
                if not error.transient or attempt + 1 == self._attempts:
                    raise
                delay = min(self._backoff * 2**attempt, self._backoff_cap)
                log.warning("Worksection %s failed (%s); retrying in %.1f s", action, error, delay)
                await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, action: str, params: Params, post: bool, whole: bool = False) -> Any:
        """One try; its `data`, or with `whole` the answer's whole body."""
        async with self._lock:
            response = await self._send(action, params, post)
            if self._tokens is not None and _token_refused(response):
                log.info("Worksection refused the OAuth2 token: renewing it")
                await self._renewed(self._tokens.renew)
                response = await self._send(action, params, post)
        return _data(response, whole)

    async def _renewed(self, get: Callable[[httpx.AsyncClient], Awaitable[str]]) -> str:
        try:
            self._token = await get(self._http)
        except TokenRefused as error:
            raise WorksectionError(error.message, transient=error.transient) from None
        return self._token

    async def _send(self, action: str, params: Params, post: bool) -> httpx.Response:
        """One request, paced; the caller holds the lock."""
        content: str | None = None
        headers: dict[str, str] = {}
        if post:
            url = self.url(action, {}, params)
            content = form(params)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            url = self.url(action, params)
            if len(url) > MAX_REQUEST_LINE - len("GET  HTTP/1.1"):
                raise WorksectionError(
                    f"{action}: the request is over Worksection's 8 KB", transient=False
                )
        if self._tokens is not None:
            await self._renewed(self._tokens.token)
        if not self._api_key:
            headers["Authorization"] = f"Bearer {self._token}"
        wait = self._last_start + self._min_interval - self._monotonic()
        if wait > 0:
            await self._sleep(wait)
        self._last_start = self._monotonic()
        try:
            return await self._http.request(
                "POST" if post else "GET", url, headers=headers, content=content
            )
        except httpx.HTTPError as error:
            raise WorksectionError(f"network error: {error!r}", transient=True) from None

    # -- the calls the connector makes -------------------------------------------

    async def get_events(self, minutes: int, project_id: str | None = None) -> list[dict[str, Any]]:
        """What happened in the account (or a project) in the last `minutes` (30 days at most)."""
        params: Params = {"period": event_period(minutes)}
        if project_id is not None:
            params["id_project"] = project_id
        data = await self.call("get_events", params)
        return _items(data)

    async def get_task(self, task_id: str) -> dict[str, Any]:
        data = await self.call("get_task", {"id_task": task_id})
        if not isinstance(data, dict):
            raise WorksectionError(f"get_task {task_id}: unexpected answer", transient=False)
        return data

    async def get_projects(self) -> list[dict[str, Any]]:
        """The account's active projects (archived ones are left out)."""
        return _items(await self.call("get_projects", {"filter": "active"}))

    async def get_tasks(self, project_id: str) -> list[dict[str, Any]]:
        """One project's tasks with their tags; its open ones only past 10,000 tasks.

        An answer holds 10,000 records at most (`get_all_tasks` fails on a
        larger account, hence one project at a time). A project larger than
        that is asked again with `filter=active`; if its open tasks are
        still too many, the error stands.
        """
        params: Params = {"id_project": project_id, "extra": "tags"}
        try:
            return _items(await self.call("get_tasks", params))
        except WorksectionError as error:
            if not too_many_records(error):
                raise
        log.warning("project %s has over 10,000 tasks: reading its open ones", project_id)
        return _items(await self.call("get_tasks", {**params, "filter": "active"}))

    async def get_costs(
        self,
        datestart: date,
        dateend: date,
        *,
        project_id: str | None = None,
        task_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """The time logged from `datestart` to `dateend` (both included), of a project or task.

        An answer holds 10,000 rows at most: past that Worksection refuses it
        (see `too_many_records`) and the caller asks for a narrower window.
        """
        params: Params = {"datestart": ws_date(datestart), "dateend": ws_date(dateend)}
        if project_id is not None:
            params["id_project"] = project_id
        if task_id is not None:
            params["id_task"] = task_id
        return _items(await self.call("get_costs", params))

    async def post_comment(
        self, task_id: str, text: str, email: str | None, todo: list[str] | None = None
    ) -> str | None:
        """Post a comment on a task as `email`; the new comment's id, when Worksection says it.

        `todo`: checklist items, one checkbox each. A text longer than
        Worksection keeps is refused (a permanent error) rather than cut.
        """
        _check_lengths([text, *(todo or [])])
        params: Params = {"id_task": task_id}
        if text:
            params["text"] = text
        if todo:
            params["todo[]"] = list(todo)
        if email:
            params["email_user_from"] = email
        data = await self.call("post_comment", params, post=True)
        found = data.get("id") if isinstance(data, dict) else None
        return None if found is None else str(found)

    async def add_costs(
        self,
        task_id: str,
        minutes: int,
        email: str | None,
        *,
        comment: str = "",
        day: date | None = None,
    ) -> str | None:
        """Log `minutes` of time on a task as `email`, on `day`; the new row's id, if given.

        One try, never retried here: a write whose answer was lost (a
        time-out, a dropped connection) may have been made, and making it
        again would log the time twice. Whoever tries again first looks for
        the row with `get_costs` (bots.worksection.owncosts).
        """
        if minutes <= 0:
            raise ValueError(f"{minutes} minutes: only time spent can be logged")
        params: Params = {"id_task": task_id, "time": hours_text(minutes)}
        if email:
            params["email_user_from"] = email
        if comment:
            params["comment"] = comment
        if day is not None:
            params["date"] = ws_date(day)
        body = await self._once("add_costs", params, True, whole=True)
        data = body.get("data") if isinstance(body, dict) else None
        found = body.get("id") if isinstance(body, dict) else None
        if found is None and isinstance(data, dict):
            found = data.get("id")
        return None if found is None else str(found)

    # -- writing tasks ---------------------------------------------------------------

    async def post_task(
        self,
        project_id: str,
        title: str,
        *,
        parent_id: str | None = None,
        email_user_from: str | None = None,
        email_user_to: str | None = None,
        text: str | None = None,
        todo: Iterable[str] = (),
        datestart: date | None = None,
        dateend: date | None = None,
        tags: Iterable[str] = (),
        priority: int | None = None,
        subscribe: Iterable[str] = (),
        max_time: float | None = None,
        max_money: float | None = None,
    ) -> CreatedTask:
        """Create a task (a subtask of `parent_id`); the new task's id and page.

        `email_user_to`: an address, `NOONE` or `ANY`; `todo`: checklist
        items, one checkbox each in the description; `tags`: names of tags
        whose sets are added to the project.
        """
        items = list(todo)
        _check_lengths([title, text or "", *items])
        params: Params = {"id_project": project_id, "title": title}
        if parent_id is not None:
            params["id_parent"] = parent_id
        if email_user_from:
            params["email_user_from"] = email_user_from
        if email_user_to:
            params["email_user_to"] = email_user_to
        if priority is not None:
            if not 0 <= priority <= 10:
                raise ValueError("a priority is 0..10")
            params["priority"] = priority
        if text:
            params["text"] = text
        if items:
            params["todo[]"] = items
        if datestart is not None:
            params["datestart"] = ws_date(datestart)
        if dateend is not None:
            params["dateend"] = ws_date(dateend)
        if subscribers := ",".join(subscribe):
            params["subscribe"] = subscribers
        if max_time is not None:
            params["max_time"] = f"{max_time:g}"
        if max_money is not None:
            params["max_money"] = f"{max_money:g}"
        if names := ",".join(tags):
            params["tags"] = names
        data = await self.call("post_task", params, post=True)
        found = data.get("id") if isinstance(data, dict) else None
        if found is None:
            raise WorksectionError("post_task: the answer has no task id", transient=False)
        page = data.get("page") if isinstance(data, dict) else None
        return CreatedTask(str(found), str(page) if page else None)

    async def update_task(
        self,
        task_id: str,
        *,
        email_user_to: str | None = None,
        title: str | None = None,
        priority: int | None = None,
        datestart: date | None = None,
        dateend: date | None = None,
        tags: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Change a task's owner (`NOONE`: nobody), title, priority, dates or tags (all of them).

        Worksection cannot change a task's author, text, checklist or
        subscribers this way. Returns the task as it now is.
        """
        params: Params = {"id_task": task_id}
        if email_user_to:
            params["email_user_to"] = email_user_to
        if title is not None:
            _check_lengths([title])
            params["title"] = title
        if priority is not None:
            params["priority"] = priority
        if datestart is not None:
            params["datestart"] = ws_date(datestart)
        if dateend is not None:
            params["dateend"] = ws_date(dateend)
        if tags is not None:
            params["tags"] = ",".join(tags)
        if len(params) == 1:
            raise ValueError("update_task: nothing to change")
        data = await self.call("update_task", params, post=True)
        return data if isinstance(data, dict) else {}

    async def update_task_tags(
        self, task_id: str, plus: Iterable[str] = (), minus: Iterable[str] = ()
    ) -> None:
        """Add (`plus`) and remove (`minus`) tags of a task, the others kept."""
        params: Params = {"id_task": task_id}
        if added := ",".join(plus):
            params["plus"] = added
        if removed := ",".join(minus):
            params["minus"] = removed
        if len(params) == 1:
            raise ValueError("update_task_tags: no tag to add or remove")
        await self.call("update_task_tags", params, post=True)

    async def complete_task(self, task_id: str) -> None:
        await self.call("complete_task", {"id_task": task_id}, post=True)

    async def reopen_task(self, task_id: str) -> None:
        await self.call("reopen_task", {"id_task": task_id}, post=True)

    async def search_tasks(
        self,
        *,
        project_id: str | None = None,
        task_id: str | None = None,
        email_user_from: str | None = None,
        email_user_to: str | None = None,
        filter: str | None = None,
        status: str | None = None,
        extra: str | None = None,
    ) -> list[dict[str, Any]]:
        """Tasks found by project, task, author, owner or a `filter` (`parent=ID`: subtasks).

        `status`: active or done; `extra`: text, html, files.
        """
        params: Params = {}
        for key, value in (
            ("id_project", project_id),
            ("id_task", task_id),
            ("email_user_from", email_user_from),
            ("email_user_to", email_user_to),
            ("filter", filter),
        ):
            if value:
                params[key] = value
        if not params:
            raise ValueError(
                "search_tasks needs a project, a task, an author, an owner or a filter"
            )
        if status:
            params["status"] = status
        if extra:
            params["extra"] = extra
        return _items(await self.call("search_tasks", params))


def _check_lengths(parts: Iterable[str]) -> None:
    """Refuse (a permanent error) a text longer than Worksection keeps rather than see it cut."""
    for part in parts:
        if len(part) > MAX_TEXT_CHARS:
            raise WorksectionError(
                f"the text is {len(part):,} characters long and Worksection keeps "
                f"{MAX_TEXT_CHARS:,} at most: shorten it or send it in parts",
                transient=False,
            )


def too_many_records(error: WorksectionError) -> bool:
    """Whether Worksection refused an answer past its 10,000 records ("Too many tasks ...")."""
    return not error.transient and "too many" in error.message.lower()


def _token_refused(response: httpx.Response) -> bool:
    """Whether Worksection refused the OAuth2 token (HTTP 401, or an envelope saying 401)."""
    if response.status_code == 401:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and body.get("status") == "error"
        and str(body.get("status_code")) == "401"
    )


def _data(response: httpx.Response, whole: bool = False) -> Any:
    if response.status_code >= 500 or response.status_code == 429:
        raise WorksectionError(
            f"HTTP {response.status_code}", transient=True, code=response.status_code
        )
    if response.status_code in (413, 414):
        # The same request would be refused again: too long for Worksection.
        raise WorksectionError(
            f"HTTP {response.status_code}: the request is too long for Worksection",
            transient=False,
            code=response.status_code,
        )
    try:
        body = response.json()
    except ValueError:
        # A proxy's error page, a truncated answer: worth another try.
        raise WorksectionError(f"HTTP {response.status_code}: not JSON", transient=True) from None
    if not isinstance(body, dict) or "status" not in body:
        raise WorksectionError("answer without a status", transient=True)
    if body["status"] == "ok":
        return body if whole else body.get("data")
    message = str(body.get("message") or "error")
    code = body.get("status_code")
    code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
    transient = (code is not None and (code == 429 or code >= 500)) or any(
        word in message.lower() for word in _TRANSIENT_WORDS
    )
    raise WorksectionError(f"Worksection: {message}", transient=transient, code=code)


def _items(data: Any) -> list[dict[str, Any]]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise WorksectionError("expected a list of items", transient=False)
    return [item for item in data if isinstance(item, dict)]
