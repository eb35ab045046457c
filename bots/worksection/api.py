"""Worksection's API: signed requests, the status envelope, pacing and retries.

Two ways in:

- the admin API, `<account>/api/admin/v2/?action=...&<params>&hash=<md5>`,
  where the hash is the MD5 of the query string as sent (without the hash)
  followed by the API key;
- OAuth2, `<account>/api/oauth2?action=...`, with `Authorization: Bearer`.

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
comment's `id` in `data`; and that parameters are taken from the query
string of a GET or a POST alike.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import httpx

from core.config.settings import WorksectionConfig

log = logging.getLogger("pmdesk.worksection")

Sleep = Callable[[float], Awaitable[None]]
Params = dict[str, str | int]

_TRANSIENT_WORDS = ("limit", "too many", "try again", "temporar")


class WorksectionError(Exception):
    """Worksection refused or could not answer; `transient` if trying later may work."""

    def __init__(self, message: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.code = code


def sign(query: str, api_key: str) -> str:
    """The admin API's hash of a query string: MD5 of the query followed by the key."""
    return hashlib.md5((query + api_key).encode("utf-8")).hexdigest()


def query_string(action: str, params: Params) -> str:
    """`action` first, then the parameters in the order given, URL-encoded."""
    return urlencode([("action", action), *((key, str(value)) for key, value in params.items())])


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
        min_interval: float = 1.0,
        attempts: int = 5,
        backoff: float = 1.0,
        backoff_cap: float = 30.0,
        timeout: float = 20.0,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key and not oauth_token:
            raise ValueError("an API key or an OAuth token is needed")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._token = oauth_token
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
    def from_config(cls, config: WorksectionConfig, **options: Any) -> WorksectionClient:
        options.setdefault("min_interval", config.min_request_interval)
        return cls(config.url, api_key=config.api_key, oauth_token=config.oauth_token, **options)

    async def aclose(self) -> None:
        await self._http.aclose()

    def url(self, action: str, params: Params) -> str:
        """The address of one call, signed when it goes through the admin API."""
        query = query_string(action, params)
        if self._api_key:
            return f"{self.base_url}/api/admin/v2/?{query}&hash={sign(query, self._api_key)}"
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

    async def _once(self, action: str, params: Params, post: bool) -> Any:
        async with self._lock:
            wait = self._last_start + self._min_interval - self._monotonic()
            if wait > 0:
                await self._sleep(wait)
            self._last_start = self._monotonic()
            headers = {"Authorization": f"Bearer {self._token}"} if not self._api_key else {}
            try:
                response = await self._http.request(
                    "POST" if post else "GET", self.url(action, params), headers=headers
                )
            except httpx.HTTPError as error:
                raise WorksectionError(f"network error: {error!r}", transient=True) from None
        return _data(response)

    # -- the calls the connector makes -------------------------------------------

    async def get_events(self, minutes: int) -> list[dict[str, Any]]:
        """What happened in the account during the last `minutes` (at most 30 days)."""
        data = await self.call("get_events", {"period": event_period(minutes)})
        return _items(data)

    async def get_task(self, task_id: str) -> dict[str, Any]:
        data = await self.call("get_task", {"id_task": task_id})
        if not isinstance(data, dict):
            raise WorksectionError(f"get_task {task_id}: unexpected answer", transient=False)
        return data

    async def get_all_tasks(self) -> list[dict[str, Any]]:
        return _items(await self.call("get_all_tasks", {"extra": "tags"}))

    async def post_comment(self, task_id: str, text: str, email: str | None) -> str | None:
        """Post a comment on a task as `email`; the new comment's id, when Worksection says it."""
        params: Params = {"id_task": task_id, "text": text}
        if email:
            params["email_user_from"] = email
        data = await self.call("post_comment", params, post=True)
        found = data.get("id") if isinstance(data, dict) else None
        return None if found is None else str(found)


def _data(response: httpx.Response) -> Any:
    if response.status_code >= 500 or response.status_code == 429:
        raise WorksectionError(
            f"HTTP {response.status_code}", transient=True, code=response.status_code
        )
    try:
        body = response.json()
    except ValueError:
        # A proxy's error page, a truncated answer: worth another try.
        raise WorksectionError(f"HTTP {response.status_code}: not JSON", transient=True) from None
    if not isinstance(body, dict) or "status" not in body:
        raise WorksectionError("answer without a status", transient=True)
    if body["status"] == "ok":
        return body.get("data")
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
