"""The settings the dashboard's first screenful needs, read without pydantic.

`pmdesk` alone opens the dashboard; importing pydantic and building the
settings' models took about a sixth of its start-up. The dashboard starts on
these few values (database, agency, time zone, locale, look, keys, response
targets), read from the same file and `PMDESK_*` variables by the same rules,
and validates the whole configuration with `core.config.settings` in a
worker once the first screenful is shown (see docs/dashboard.md).

Only values plainly right are taken: a key that is no setting, a value of
the wrong kind, a time zone unknown, a variable with broken JSON, and the
quick read gives up (None), so that the full validation runs first and says
what is wrong before anything opens. What only the full validation can see
(a policy naming an unknown calendar, say) closes the dashboard with the
same message, the moment it is found.

`core.config.settings` reads its variables with the functions of this
module, so the two cannot drift; tests/core/config/test_quick.py checks they
agree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from core.base.paths import ConfigError, default_database_path, read_config_file

ENV_PREFIX = "PMDESK_"

# The top-level keys of the settings (core.config.settings.Settings' fields).
SETTING_NAMES = frozenset(
    {
        "db",
        "agency",
        "timezone",
        "locale",
        "default_language",
        "operator",
        "calendars",
        "policies",
        "clients",
        "dashboard",
        "banks",
        "receivables",
        "telegram_token",
        "telegram_api_url",
        "webhook_secret",
        "http",
        "lease_seconds",
        "telegram_webhook_url",
        "telegram_webhook_secret",
        "worksection",
        "templates",
        "time",
        "reports",
        "billing",
        "email",
        "backup",
    }
)

# The defaults of the values read here, as Settings has them.
DEFAULT_AGENCY = "Our agency"
DEFAULT_TIMEZONE = "Europe/Paris"
DEFAULT_LOCALE = "fr_FR"
DEFAULT_THEME = "textual-dark"
DEFAULT_MINUTES = 15.0
# What pydantic reads as a boolean from a variable's text.
TRUE_WORDS = frozenset({"1", "on", "t", "true", "y", "yes"})
FALSE_WORDS = frozenset({"0", "off", "f", "false", "n", "no"})


# -- what the dashboard reads: Settings and QuickSettings both are this -----------


class LookSettings(Protocol):
    """How the dashboard looks and sounds, and which keys do what."""

    @property
    def theme(self) -> str: ...

    @property
    def bell(self) -> bool: ...

    @property
    def keys(self) -> Mapping[str, str]: ...


class TargetSettings(Protocol):
    """A response policy's targets, as the dashboard shows them."""

    @property
    def first_response_minutes(self) -> float: ...

    @property
    def next_response_minutes(self) -> float: ...

    def target_minutes(self, kind: str) -> float: ...


class FirstSettings(Protocol):
    """The settings the dashboard needs before its first screenful."""

    @property
    def db(self) -> str: ...

    @property
    def agency(self) -> str: ...

    @property
    def timezone(self) -> str: ...

    @property
    def locale(self) -> str: ...

    @property
    def operator(self) -> str | None: ...

    @property
    def dashboard(self) -> LookSettings: ...

    @property
    def policies(self) -> Mapping[str, TargetSettings]: ...


class QuickLook(NamedTuple):
    theme: str
    bell: bool
    keys: Mapping[str, str]


class QuickTargets(NamedTuple):
    first_response_minutes: float
    next_response_minutes: float

    def target_minutes(self, kind: str) -> float:
        """The response target of a clock of `kind`: first, else next (as PolicyConfig)."""
        return self.first_response_minutes if kind == "first" else self.next_response_minutes


class QuickSettings(NamedTuple):
    db: str
    agency: str
    timezone: str
    locale: str
    operator: str | None
    dashboard: QuickLook
    policies: Mapping[str, QuickTargets]


# -- reading ----------------------------------------------------------------------


class NotPlain(ValueError):
    """A value the quick read does not take: the full validation has the last word."""


def quick_settings(environ: Mapping[str, str] | None = None) -> QuickSettings | None:
    """The first screenful's settings from the config file and the variables; None if unsure.

    A config file that cannot be read, or a variable's broken JSON, raises
    ConfigError as `load_settings` does.
    """
    environ = os.environ if environ is None else environ
    value = environ.get("PMDESK_CONFIG")
    path = Path(value).expanduser() if value else None
    data = read_config_file(path) if path else {}
    try:
        return read_quick(merged(dict(data), environment_values(environ)))
    except NotPlain:
        return None


def read_quick(data: Mapping[str, Any]) -> QuickSettings:
    """The first screenful's values out of merged settings data; NotPlain if any is unsure."""
    unknown = set(data) - SETTING_NAMES
    if unknown:
        raise NotPlain(f"unknown keys {sorted(unknown)}")
    look = _table(data, "dashboard")
    if set(look) - {"theme", "bell", "keys"}:
        raise NotPlain("dashboard")
    keys = look.get("keys", {})
    if not isinstance(keys, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in keys.items()
    ):
        raise NotPlain("dashboard.keys")
    policies = _table(data, "policies") if "policies" in data else {"default": {}}
    if "default" not in policies:
        raise NotPlain("policies")
    db = data.get("db")
    return QuickSettings(
        db=_text(db) if db is not None else str(default_database_path()),
        agency=_text(data.get("agency", DEFAULT_AGENCY)),
        timezone=_zone(_text(data.get("timezone", DEFAULT_TIMEZONE))),
        locale=_text(data.get("locale", DEFAULT_LOCALE)),
        operator=_optional_text(data.get("operator")),
        dashboard=QuickLook(
            _text(look.get("theme", DEFAULT_THEME)), _flag(look.get("bell", True)), dict(keys)
        ),
        policies={str(name): _targets(policy) for name, policy in policies.items()},
    )


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise NotPlain(key)
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise NotPlain(repr(value))
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise NotPlain(repr(value))


def _minutes(value: object) -> float:
    if isinstance(value, bool):
        raise NotPlain(repr(value))
    try:
        minutes = float(value) if isinstance(value, int | float | str) else float("nan")
    except ValueError:
        raise NotPlain(repr(value)) from None
    if not minutes > 0 or minutes == float("inf"):
        raise NotPlain(repr(value))
    return minutes


def _targets(policy: object) -> QuickTargets:
    if not isinstance(policy, Mapping):
        raise NotPlain("policy")
    return QuickTargets(
        _minutes(policy.get("first_response_minutes", DEFAULT_MINUTES)),
        _minutes(policy.get("next_response_minutes", DEFAULT_MINUTES)),
    )


def _zone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise NotPlain(name) from None
    return name


# -- the variables, for both reads ----------------------------------------------------


def environment_values(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings that `PMDESK_<KEY>` variables give.

    `PMDESK_DASHBOARD__THEME` sets `dashboard.theme` (a double underscore
    goes one table down); a variable for a whole table
    (`PMDESK_POLICIES='{"default": {...}}'`) holds JSON. Names are not case
    sensitive, and variables that name no setting (PMDESK_CONFIG) are not
    settings (see `core.config.settings.unknown_variables`). This stands in
    for pydantic-settings, whose import alone took a tenth of the
    dashboard's start-up.
    """
    found: dict[str, Any] = {}
    for name, path in variable_keys(environ).items():
        target = found
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = variable_value(name, environ[name])
    return found


def variable_keys(environ: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Each `PMDESK_*` variable that names a setting, with the key path it sets."""
    keys = {}
    for name in environ:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
        if path[0] in SETTING_NAMES:
            keys[name] = path
    return keys


def variable_value(name: str, value: str) -> Any:
    if not value.lstrip().startswith(("{", "[")):
        return value  # pydantic turns "true" or "20" into what the setting holds
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{name}: not valid JSON ({error.msg} at column {error.colno})") from None


def merged(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `over` on top, table by table."""
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            base[key] = merged(dict(base[key]), value)
        else:
            base[key] = value
    return base
