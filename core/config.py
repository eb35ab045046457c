"""Configuration: a TOML file (`PMDESK_CONFIG`) overridden by `PMDESK_*` variables.

Validated strictly, as Harlequin does: an unknown key is an error rather than
a silently ignored typo, and every error names the key it is about.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .calendar import AlwaysOpen, BusinessCalendar, ShiftCalendar, parse_shift
from .paths import ConfigError, config_file, default_database_path, read_config_file

ALWAYS_OPEN = "24/7"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class CalendarConfig(BaseModel):
    """Business hours: shifts per weekday in a time zone, minus closed days."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "Europe/Paris"
    country: str | None = "FR"
    subdivision: str | None = None
    shifts: dict[Weekday, list[str]] = Field(
        default_factory=lambda: {
            day: ["09:00-13:00", "14:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")
        }
    )
    closed: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @field_validator("shifts")
    @classmethod
    def _valid_shifts(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for shifts in value.values():
            for shift in shifts:
                parse_shift(shift)
        return value

    def build(self) -> BusinessCalendar:
        shifts = {
            WEEKDAYS.index(day): [parse_shift(text) for text in texts]
            for day, texts in self.shifts.items()
        }
        return ShiftCalendar(
            self.timezone,
            shifts,
            country=self.country,
            subdivision=self.subdivision,
            closed_dates=self.closed,
        )


class PolicyConfig(BaseModel):
    """Response targets, counted in business time of `calendar`."""

    model_config = ConfigDict(extra="forbid")

    first_response_minutes: float = Field(default=15, gt=0)
    next_response_minutes: float = Field(default=15, gt=0)
    warn_before_minutes: float = Field(default=5, ge=0)
    escalate_after_minutes: float = Field(default=30, gt=0)
    calendar: str = "office"

    @model_validator(mode="after")
    def _warning_inside_target(self) -> PolicyConfig:
        shortest = min(self.first_response_minutes, self.next_response_minutes)
        if self.warn_before_minutes >= shortest:
            raise ValueError(
                f"warn_before_minutes ({self.warn_before_minutes:g}) must be shorter than "
                f"the response target ({shortest:g})"
            )
        return self


class ClientConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str | None = None
    language: str | None = None


class DashboardConfig(BaseModel):
    """How the dashboard looks and sounds, and which keys do what."""

    model_config = ConfigDict(extra="forbid")

    theme: str = "textual-dark"
    # Ring the terminal bell when a clock enters its warning window or breaches.
    bell: bool = True
    # Binding id -> keys, comma-separated: {"main.reply" = "ctrl+r"}. The ids
    # are listed in the help screen (?) and the README.
    keys: dict[str, str] = Field(default_factory=dict)


class Settings(BaseModel):
    """Everything pmdesk can be told. File keys and `PMDESK_<KEY>` variables match.

    Built from sources by `settings_from` (`load_settings` reads the file
    first); built directly, it holds exactly what it is given.
    """

    model_config = ConfigDict(extra="forbid")

    db: str = Field(default_factory=lambda: str(default_database_path()))
    agency: str = "Our agency"
    # Where dates and times are shown; the database stays in UTC.
    timezone: str = "Europe/Paris"
    locale: str = "fr_FR"
    default_language: str = "fr"
    # The staff member (name or email) the dashboard acts as; by default the
    # first assistant registered.
    operator: str | None = None
    calendars: dict[str, CalendarConfig] = Field(
        default_factory=lambda: {"office": CalendarConfig()}
    )
    policies: dict[str, PolicyConfig] = Field(default_factory=lambda: {"default": PolicyConfig()})
    clients: dict[str, ClientConfig] = Field(default_factory=dict)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    webhook_secret: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return CalendarConfig._known_zone(value)

    @model_validator(mode="after")
    def _references_resolve(self) -> Settings:
        if "default" not in self.policies:
            raise ValueError("policies: a policy named 'default' is required")
        for name, policy in self.policies.items():
            if policy.calendar != ALWAYS_OPEN and policy.calendar not in self.calendars:
                known = ", ".join(sorted([*self.calendars, ALWAYS_OPEN]))
                raise ValueError(
                    f"policies.{name}.calendar: unknown calendar {policy.calendar!r} "
                    f"(known: {known})"
                )
        for client, conf in self.clients.items():
            if conf.policy is not None and conf.policy not in self.policies:
                raise ValueError(f"clients.{client}.policy: unknown policy {conf.policy!r}")
        return self

    def calendar(self, name: str) -> BusinessCalendar:
        if name == ALWAYS_OPEN:
            return AlwaysOpen()
        return self.calendars[name].build()


def load_settings(**overrides: Any) -> Settings:
    """Read the config file named by PMDESK_CONFIG (if any), then the variables.

    `overrides` (simple values from command-line options) win over both.
    """
    data: dict[str, Any] = {}
    config_path = config_file()
    if config_path:
        data = read_config_file(config_path)
    try:
        settings = settings_from(data)
    except ValidationError as error:
        where = f"config file {config_path}" if config_path else "configuration"
        raise ConfigError(f"{where}:\n{describe_errors(error)}") from None
    return settings.model_copy(update=overrides) if overrides else settings


def settings_from(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from a file's contents, with `PMDESK_*` variables winning over them."""
    found = environment_values(os.environ if environ is None else environ)
    return Settings(**_merged(dict(data), found))


def environment_values(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings that `PMDESK_<KEY>` variables give.

    `PMDESK_DASHBOARD__THEME` sets `dashboard.theme` (a double underscore
    goes one table down); a variable for a whole table
    (`PMDESK_POLICIES='{"default": {...}}'`) holds JSON. Names are not case
    sensitive, and variables that name no setting (PMDESK_CONFIG) are not
    settings. This stands in for pydantic-settings, whose import alone took
    a tenth of the dashboard's start-up.
    """
    found: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if path[0] not in Settings.model_fields:
            continue
        target = found
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = _variable_value(name, value)
    return found


ENV_PREFIX = "PMDESK_"


def _variable_value(name: str, value: str) -> Any:
    if not value.lstrip().startswith(("{", "[")):
        return value  # pydantic turns "true" or "20" into what the setting holds
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{name}: not valid JSON ({error.msg} at column {error.colno})") from None


def _merged(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `over` on top, table by table."""
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            base[key] = _merged(dict(base[key]), value)
        else:
            base[key] = value
    return base


def describe_errors(error: ValidationError) -> str:
    """One line per problem, naming the key as it is written in the file."""
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {location or '(top level)'}: {message}")
    return "\n".join(lines)
