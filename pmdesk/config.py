"""`pmdesk config check`: the configuration, checked and shown."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from core.base.paths import (
    ConfigError,
    shown_database,
)
from pmdesk.app import config_app
from pmdesk.console import out
from pmdesk.context import command, context

if TYPE_CHECKING:  # `import pmdesk.cli` loads neither (tests/pmdesk/test_startup.py)
    from sqlalchemy import Engine

    from core.config.settings import Settings


@config_app.command("check")
@command
def config_check() -> None:
    """Validate the configuration and the database, and say what is in force."""
    from core.sla.policies import PolicyBook

    ctx = context()
    settings = ctx.settings
    try:
        book = PolicyBook(settings)
    except ValueError as error:
        raise ConfigError(f"calendars: {error}") from None
    source = os.environ.get("PMDESK_CONFIG") or "(none: defaults and PMDESK_* variables)"
    out.print(f"config file   {source}", markup=False)
    out.print(f"database      {shown_database(settings.db)}", markup=False)
    from core.store.health import check_writable

    check_writable(ctx.engine)  # opening it checked and upgraded it; this tries a write
    out.print("              opened, schema up to date, writable", markup=False)
    out.print(f"agency        {settings.agency}", markup=False)
    out.print(f"time zone     {settings.timezone}", markup=False)
    for name in book.names():
        conf = settings.policies[name]
        out.print(
            f"policy        {name}: first {conf.first_response_minutes:g} min, "
            f"next {conf.next_response_minutes:g} min, warn {conf.warn_before_minutes:g} min "
            f"before, escalate {conf.escalate_after_minutes:g} min after start, "
            f"calendar {conf.calendar}",
            markup=False,
        )
    telegram = "configured" if settings.telegram_token else "not configured (no token)"
    out.print(f"telegram      {telegram}", markup=False)
    out.print(f"worksection   {_worksection(settings, ctx.engine)}", markup=False)
    out.print("configuration is valid")


def _worksection(settings: Settings, engine: Engine) -> str:
    """How the connector signs in; with OAuth2, until when the kept token serves."""
    config = settings.worksection
    if config is None:
        return "not configured (no [worksection] table)"
    if not config.uses_oauth:
        return f"{config.url}, admin API key"
    from bots.worksection.oauth import digest
    from bots.worksection.store import load_tokens

    kept = load_tokens(engine)
    state = (
        f"token renewed, valid until {kept.expires_at:%Y-%m-%d %H:%M} UTC"
        if kept is not None and kept.configured == digest(config.oauth_refresh_token or "")
        else "not renewed yet"
    )
    return f"{config.url}, OAuth2 renewed with the refresh token ({state})"
