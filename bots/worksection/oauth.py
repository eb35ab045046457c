"""OAuth2 sign-in to Worksection: access tokens last 24 hours and are renewed.

Worksection's documentation: an OAuth2 access token lasts 24 hours and is
renewed with the refresh token, itself valid one month. A connector given
an access token alone would stop within a day, so the configuration
(`core.config.settings.WorksectionConfig`) asks for the application's
client id and secret and a refresh token, and `TokenKeeper` renews:

- ahead of time, `RENEW_BEFORE` before the access token's end, on the
  clock it is given (tests move it);
- at once when Worksection refuses the token anyway (HTTP 401 or an error
  envelope with `status_code` 401): the call is then made again, once.

Each renewal gives a new refresh token too, and the old one stops working:
the new pair is written to the database (`bots.worksection.store.save_tokens`)
before it is used, so a restart goes on with it. A refresh token changed in
the configuration (the account authorised again) wins over the kept pair.

Assumptions (the documentation does not spell these out): the renewal is
a POST of `client_id`, `client_secret`, `grant_type=refresh_token` and
`refresh_token` as a form to `oauth_token_url`, answered with JSON holding
`access_token`, `refresh_token` and `expires_in` (seconds; 24 hours when
absent); a refused renewal answers 4xx, or JSON with an `error`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from bots.worksection.store import Tokens, load_tokens, save_tokens
from core.base.instants import Now
from core.config.settings import WorksectionConfig

log = logging.getLogger("pmdesk.worksection")

ACCESS_LIFETIME = timedelta(hours=24)
RENEW_BEFORE = timedelta(minutes=10)


class TokenRefused(Exception):
    """Worksection would not renew the tokens; `transient` if trying later may work."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


def digest(refresh_token: str) -> str:
    """What is kept of the configured refresh token: enough to see it changed."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()


class TokenKeeper:
    """The OAuth2 tokens in use; see the module's docstring. Not shared between processes."""

    def __init__(self, config: WorksectionConfig, engine: Engine, clock: Now) -> None:
        if not (config.oauth_client_id and config.oauth_client_secret):
            raise ValueError("OAuth2 renewal needs oauth_client_id and oauth_client_secret")
        if not config.oauth_refresh_token:
            raise ValueError("OAuth2 renewal needs oauth_refresh_token")
        self.config = config
        self.engine = engine
        self.clock = clock
        self._configured = digest(config.oauth_refresh_token)
        self._tokens: Tokens | None = None
        self._access: str | None = None
        self._expires_at: datetime | None = None
        self._refresh_token = config.oauth_refresh_token

    async def token(self, http: httpx.AsyncClient) -> str:
        """The access token to send, renewed first when it ends soon (or is unknown)."""
        if self._tokens is None and self._access is None:
            await self._load()
        if self._access is None or (
            self._expires_at is not None and self.clock() >= self._expires_at - RENEW_BEFORE
        ):
            await self.renew(http)
        assert self._access is not None
        return self._access

    async def _load(self) -> None:
        kept = await asyncio.to_thread(load_tokens, self.engine)
        if kept is not None and kept.configured == self._configured:
            self._tokens = kept
            self._access, self._expires_at = kept.access_token, kept.expires_at
            self._refresh_token = kept.refresh_token
            return
        # First start, or authorised again: the configured tokens. How long the
        # configured access token has left is unknown: used until refused.
        self._access, self._expires_at = self.config.oauth_token, None

    async def renew(self, http: httpx.AsyncClient) -> str:
        """Ask for new tokens with the refresh token; keep them; the new access token."""
        form = {
            "client_id": self.config.oauth_client_id or "",
            "client_secret": self.config.oauth_client_secret or "",
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
        }
        try:
            response = await http.post(self.config.oauth_token_url, data=form)
        except httpx.HTTPError as error:
            raise TokenRefused(f"renewing the OAuth2 token: {error!r}", transient=True) from None
        body = _json(response)
        if response.status_code >= 500 or response.status_code == 429:
            raise TokenRefused(
                f"renewing the OAuth2 token: HTTP {response.status_code}", transient=True
            )
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if response.status_code >= 400 or body.get("error") or not access:
            reason = body.get("error_description") or body.get("error") or body.get("message")
            raise TokenRefused(
                f"Worksection refused to renew the OAuth2 token (HTTP {response.status_code}"
                f"{f': {reason}' if reason else ''}): the refresh token expired (it lasts "
                "one month) or was revoked; authorise pmdesk again and set "
                "oauth_refresh_token, or use the admin api_key",
                transient=False,
            )
        now = self.clock()
        seconds = _seconds(body.get("expires_in")) or ACCESS_LIFETIME.total_seconds()
        tokens = Tokens(
            str(access),
            str(refresh or self._refresh_token),
            now + timedelta(seconds=seconds),
            self._configured,
        )
        # Kept before use: the old refresh token is spent now.
        await asyncio.shield(asyncio.to_thread(save_tokens, self.engine, tokens, now))
        self._tokens = tokens
        self._access, self._expires_at = tokens.access_token, tokens.expires_at
        self._refresh_token = tokens.refresh_token
        log.info("Worksection OAuth2 token renewed until %s", tokens.expires_at.isoformat())
        return tokens.access_token


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None
