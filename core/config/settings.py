"""Configuration: a TOML file (`PMDESK_CONFIG`) overridden by `PMDESK_*` variables.

Validated strictly, as Harlequin does: an unknown key is an error rather than
a silently ignored typo, and every error names the key it is about.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.base.business_time import AlwaysOpen, BusinessCalendar, ShiftCalendar, parse_shift
from core.base.paths import ConfigError, config_file, default_database_path, read_config_file
from core.config.backup import BackupConfig
from core.config.banks import BanksConfig
from core.config.billing import BillingConfig, EmailConfig
from core.config.quick import (
    ENV_PREFIX,
    environment_values,
    merged,
    variable_keys,
)

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

    def target_minutes(self, kind: str) -> float:
        """The response target of a clock of `kind`: first, else next."""
        return self.first_response_minutes if kind == "first" else self.next_response_minutes

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


DunningAction = Literal["draft", "alert_staff", "flag_suspension"]


class DunningLevelConfig(BaseModel):
    """One step of the reminder ladder, reached `days` after the due date."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    days: int = Field(ge=0)
    # A template of data/reminders/<language>/ (without the .txt.j2 ending).
    template: str = "friendly"
    action: DunningAction = "draft"
    # Claims the recovery fee (receivables.recovery_fee), once per invoice.
    fee: bool = False
    # Shows late interest (ECB rate + points, per day on the balance).
    interest: bool = False


class CsvProfileConfig(BaseModel):
    """Which column of an accounting tool's export holds what."""

    model_config = ConfigDict(extra="forbid")

    number: str = "number"
    client: str = "client"
    issued_on: str = "issued_on"
    due_on: str = "due_on"
    # None: the tool exports no currency column, every invoice is in `default_currency`.
    currency: str | None = "currency"
    total: str = "total"
    default_currency: str = "EUR"
    # strftime formats tried in order; ISO dates are always understood.
    date_formats: list[str] = Field(default_factory=lambda: ["%d/%m/%Y", "%d.%m.%Y"])


def _default_levels() -> list[DunningLevelConfig]:
    return [
        DunningLevelConfig(name="friendly reminder", days=1, template="friendly"),
        DunningLevelConfig(name="firm reminder", days=15, template="firm"),
        DunningLevelConfig(
            name="formal notice", days=30, template="formal_notice", fee=True, interest=True
        ),
        DunningLevelConfig(
            name="suspension flag", days=45, template="formal_notice", action="flag_suspension"
        ),
    ]


class ReceivablesConfig(BaseModel):
    """Invoices and reminders: the dunning ladder, its daily run, CSV profiles."""

    model_config = ConfigDict(extra="forbid")

    levels: list[DunningLevelConfig] = Field(default_factory=_default_levels)
    # When the scheduler runs the reminders, local time of `calendar`, on its business days.
    run_at: time = time(9, 0)
    # None: the calendar of the default response policy.
    calendar: str | None = None
    # Late interest = ECB refinancing rate + points (French B2B: + 10 points).
    ecb_rate: Decimal = Field(default=Decimal("2.15"), ge=0)
    interest_points: Decimal = Field(default=Decimal(10), ge=0)
    # The fixed recovery fee of French B2B law, in EUR; claimed on EUR invoices only.
    recovery_fee: Decimal = Field(default=Decimal(40), ge=0)
    # Days without reminders after a payment is seen on an invoice still not settled.
    payment_pause_days: int = Field(default=7, ge=0)
    # An invoice naming an unknown client: "create" the client, or "refuse" the line.
    unknown_clients: Literal["create", "refuse"] = "create"
    profiles: dict[str, CsvProfileConfig] = Field(
        default_factory=lambda: {"default": CsvProfileConfig()}
    )

    @model_validator(mode="after")
    def _levels_in_order(self) -> ReceivablesConfig:
        days = [level.days for level in self.levels]
        if days != sorted(set(days)):
            raise ValueError("levels: day offsets must increase from one level to the next")
        if "default" not in self.profiles:
            raise ValueError("profiles: a profile named 'default' is required")
        return self


class HttpConfig(BaseModel):
    """Where `pmdesk serve` (and the dashboard's services) listen for HTTP."""

    model_config = ConfigDict(extra="forbid")

    # Loopback by default: put a TLS-terminating proxy in front to reach it from outside.
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    # A request's headers, and then its body, must each arrive within this
    # time: a sender trickling bytes would otherwise hold a connection for ever.
    read_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Open connections at most; past it, the one waiting longest for its
    # headers is closed. Well under the usual limit of 1,024 descriptors.
    max_connections: int = Field(default=200, ge=1, le=10_000)


class WorksectionConfig(BaseModel):
    """The Worksection connector: which account, how to sign in, who is who.

    `account` is the name in https://<account>.worksection.com; `base_url`
    replaces that whole address (a self-hosted proxy, a test server).
    """

    model_config = ConfigDict(extra="forbid")

    account: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]+$")
    base_url: str | None = None
    # The admin API key (requests signed with an MD5 hash), or OAuth2: an
    # access token lasts 24 hours, so the application's client id and secret
    # and a refresh token are needed to renew it (the renewed tokens are kept
    # in the database); `oauth_token`, the current access token, is optional.
    api_key: str | None = None
    oauth_token: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_refresh_token: str | None = None
    # Where tokens are renewed (Worksection's; another for a proxy or a test).
    oauth_token_url: str = "https://worksection.com/oauth2/refresh"
    # Worksection's times carry no zone: they are in the account's.
    timezone: str = "Europe/Paris"
    # Users whose email is at one of these domains are staff, as are the
    # addresses registered with `pmdesk staff`; everyone else is the client.
    staff_domains: list[str] = Field(default_factory=list)
    # Project id or name -> client name; a project not listed is its own client.
    projects: dict[str, str] = Field(default_factory=dict)
    # The HTTP Basic credentials the webhook is set up with in Worksection.
    webhook_user: str | None = None
    webhook_password: str | None = None
    # Seconds between polls of the event log, and of the tasks' tags.
    poll_interval: float = Field(default=60, gt=0)
    tags_interval: float = Field(default=300, gt=0)
    # Each poll reaches this far before the last successful one: nothing
    # slips through a window's edge; what comes twice is stored once.
    overlap_minutes: int = Field(default=5, ge=1)
    # How far back the very first poll looks.
    first_poll_minutes: int = Field(default=60, ge=1, le=30 * 24 * 60)
    # Worksection allows about one request a second.
    min_request_interval: float = Field(default=1.0, ge=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return CalendarConfig._known_zone(value)

    @field_validator("staff_domains")
    @classmethod
    def _plain_domains(cls, value: list[str]) -> list[str]:
        return [domain.strip().lower().lstrip("@") for domain in value if domain.strip()]

    @model_validator(mode="after")
    def _reachable(self) -> WorksectionConfig:
        if not self.account and not self.base_url:
            raise ValueError("worksection: set account (or base_url)")
        renewal = (self.oauth_client_id, self.oauth_client_secret, self.oauth_refresh_token)
        if not self.api_key and not self.oauth_token and not any(renewal):
            raise ValueError("worksection: set api_key (or the oauth_* settings)")
        if not self.api_key and not all(renewal):
            missing = [
                f"oauth_{name}"
                for name, value in zip(
                    ("client_id", "client_secret", "refresh_token"), renewal, strict=True
                )
                if not value
            ]
            raise ValueError(
                "worksection: an OAuth2 access token lasts 24 hours and cannot be renewed "
                f"without {', '.join(missing)}; set them, or use the admin api_key instead "
                "(Account settings > API), which does not expire"
            )
        return self

    @property
    def uses_oauth(self) -> bool:
        """Whether the connector signs in with OAuth2 (the admin key wins when both are set)."""
        return not self.api_key

    @property
    def url(self) -> str:
        """The account's address, without a trailing slash."""
        if self.base_url:
            return self.base_url.rstrip("/")
        return f"https://{self.account}.worksection.com"


def _default_tag_sets() -> dict[str, list[str]]:
    # The tag sets the shipped templates use, as an agency sets them up in Worksection.
    return {
        "Phase": [
            "Brief",
            "Design",
            "Development",
            "Content",
            "Launch",
            "Audit",
            "Optimisation",
            "Reporting",
            "Setup",
            "Campaign",
        ],
        "Client": ["Waiting for client", "Client approval"],
    }


class AutostartRule(BaseModel):
    """A new project this rule names gets `template` applied by itself (docs/templates.md).

    `tag`: one of the project's tags (any case); `pattern`: a shell-style
    pattern its name matches (`SEO *`, any case). One of the two.
    `start`: day 0 is the project's creation day (`created`) or the next
    business day after it (`next_business_day`). `team`: role -> staff
    member, under the project's own team (templates.teams, pmdesk projects team).
    """

    model_config = ConfigDict(extra="forbid")

    template: str
    tag: str | None = None
    pattern: str | None = None
    start: Literal["created", "next_business_day"] = "created"
    team: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_key(self) -> AutostartRule:
        if (self.tag is None) == (self.pattern is None):
            raise ValueError(f"templates.autostart ({self.template}): give a tag or a pattern")
        return self


class TemplatesConfig(BaseModel):
    """Task templates (docs/templates.md): the agency's own, its roles, tag sets and teams."""

    model_config = ConfigDict(extra="forbid")

    # The agency's own templates (*.toml); one with a shipped template's name replaces it.
    folder: Path | None = None
    # The roles a template may give a task to; each project's team names who holds them.
    roles: list[str] = Field(
        default_factory=lambda: [
            "assistant",
            "pm",
            "designer",
            "developer",
            "copywriter",
            "seo",
            "ads",
            "analyst",
        ]
    )
    # Tag set -> its tags, as in Worksection: a template names the sets its tags come from.
    tag_sets: dict[str, list[str]] = Field(default_factory=_default_tag_sets)
    # Project (Worksection id or name) -> role -> staff member (name, email or id).
    teams: dict[str, dict[str, str]] = Field(default_factory=dict)
    # The calendar whose business days the dates count; None: the default policy's.
    calendar: str | None = None
    # New projects started by themselves: the first rule that names a project wins.
    autostart: list[AutostartRule] = Field(default_factory=list)
    # A project in the list of projects counts as new this long after its creation (hours).
    autostart_within_hours: float = Field(default=48.0, gt=0)

    @field_validator("folder")
    @classmethod
    def _home(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @field_validator("roles")
    @classmethod
    def _plain_roles(cls, value: list[str]) -> list[str]:
        roles = [role.strip() for role in value]
        for role in roles:
            if not role or "=" in role or " " in role:
                raise ValueError(f"{role!r} is not a role name (one word, no '=')")
        return roles

    @model_validator(mode="after")
    def _teams_name_roles(self) -> TemplatesConfig:
        for project, team in self.teams.items():
            for role in team:
                if role not in self.roles:
                    raise ValueError(
                        f"templates.teams.{project}.{role}: unknown role "
                        f"(templates.roles: {', '.join(self.roles)})"
                    )
        for rule in self.autostart:
            for role in rule.team:
                if role not in self.roles:
                    raise ValueError(
                        f"templates.autostart ({rule.template}).team.{role}: unknown role "
                        f"(templates.roles: {', '.join(self.roles)})"
                    )
        return self


class TimeConfig(BaseModel):
    """Time logged in Worksection and what counts as account management (docs/time.md)."""

    model_config = ConfigDict(extra="forbid")

    # Tasks carrying one of these tags (any case) are account management.
    am_tags: list[str] = Field(default_factory=lambda: ["AM", "Communication"])
    # ...and tasks whose name contains one of these words (any case).
    am_task_words: list[str] = Field(default_factory=list)
    # ...and all the time logged by staff holding one of these roles.
    am_roles: list[str] = Field(default_factory=list)
    # A project whose account-management share is above this is flagged.
    target_share: float = Field(default=0.10, gt=0, le=1)
    # The services re-read this many days of logged time...
    window_days: int = Field(default=35, ge=1, le=366)
    # ...every this many seconds.
    sync_interval: float = Field(default=3600, ge=60)
    # pmdesk's own measure (core.time.own): the time counted for a reply taken from
    # Telegram, and for any other action taken there (a button, a task command).
    telegram_reply_minutes: float = Field(default=3.0, ge=0, le=60)
    telegram_action_minutes: float = Field(default=1.0, ge=0, le=60)
    # Log each ended day of it back to the thread's Worksection task (add_costs).
    log_own_time: bool = False

    @field_validator("am_tags", "am_task_words", "am_roles")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        words = [word.strip() for word in value]
        for word in words:
            if not word or "|" in word:
                raise ValueError(f"{word!r}: an empty word or one with '|' matches nothing")
        return words

    @field_validator("am_roles")
    @classmethod
    def _staff_roles(cls, value: list[str]) -> list[str]:
        from core.base.kinds import StaffRole

        known = [role.value for role in StaffRole]
        for role in value:
            if role not in known:
                raise ValueError(f"{role!r} is not a staff role ({', '.join(known)})")
        return value


ReportChannel = Literal["worksection", "telegram", "email"]
_WEEKLY = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun) ([01]\d|2[0-3]):([0-5]\d)$")


class ClientReportConfig(BaseModel):
    """One client's progress reports: opted in to the weekly run, and how they go out."""

    model_config = ConfigDict(extra="forbid")

    # Unset: the [reports] default channel.
    channel: ReportChannel | None = None
    # The Worksection task whose comments carry the report (its id).
    task: str | None = None
    # The address an email draft is written to.
    email: str | None = None
    # Unset: the [reports] default.
    auto_send: bool | None = None
    # False: left out of the weekly run (the command still sends on demand).
    weekly: bool = True


class ReportsConfig(BaseModel):
    """Clients' progress reports: delivery and the weekly run (docs/reports.md)."""

    model_config = ConfigDict(extra="forbid")

    channel: ReportChannel = "email"
    # Where email drafts (.eml) are written; relative to the working folder.
    folder: str = "reports"
    # The sender of the email drafts.
    sender: str = ""
    # "mon 09:00": the day and local hour of the weekly run; unset, no weekly run.
    weekly: str | None = None
    # The weekly run sends at once instead of waiting for the assistant's approval.
    auto_send: bool = False
    # The calendar whose business days the weekly run keeps; unset, the default policy's.
    calendar: str | None = None
    # The clients opted in to the weekly run, by name, with their overrides.
    clients: dict[str, ClientReportConfig] = Field(default_factory=dict)

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: str | None) -> str | None:
        if value is not None and not _WEEKLY.match(value.strip().lower()):
            raise ValueError(f'{value!r}: give a weekday and a time, as "mon 09:00"')
        return None if value is None else value.strip().lower()

    def weekly_at(self) -> tuple[int, time] | None:
        """The weekly run's weekday (0 is Monday) and local time; None without a weekly run."""
        if self.weekly is None:
            return None
        day, hour = self.weekly.split()
        return WEEKDAYS.index(day), time.fromisoformat(hour)

    def of(self, client: str) -> ClientReportConfig:
        """The client's settings (by name, in any case), else the defaults."""
        key = client.casefold()
        found = next((conf for name, conf in self.clients.items() if name.casefold() == key), None)
        return found if found is not None else ClientReportConfig()

    def channel_of(self, client: str) -> str:
        return self.of(client).channel or self.channel

    def auto_send_of(self, client: str) -> bool:
        conf = self.of(client)
        return self.auto_send if conf.auto_send is None else conf.auto_send


# What Telegram accepts as a webhook's secret_token.
TELEGRAM_SECRET_PATTERN = r"^[A-Za-z0-9_-]{1,256}$"
# The shortest shared secret accepted for a webhook (the intake's, Telegram's).
MIN_SECRET_LENGTH = 16


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
    # Bank statement import and payment matching (core.receivables.statements,
    # core.receivables.matching).
    banks: BanksConfig = Field(default_factory=BanksConfig)
    receivables: ReceivablesConfig = Field(default_factory=ReceivablesConfig)
    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    webhook_secret: str | None = None
    http: HttpConfig = Field(default_factory=HttpConfig)
    # How long the services lease lasts without renewal (core.store.lease): how long a
    # paused or unreachable holder keeps the services from another process.
    lease_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    # Telegram's webhook mode: Telegram posts updates to this public HTTPS URL,
    # which must reach `POST /telegram/webhook` of the HTTP intake. Unset: polling.
    telegram_webhook_url: str | None = None
    # The secret Telegram sends back with every update; unset, a new random one
    # is made each time the bot starts (it registers the webhook anew anyway).
    telegram_webhook_secret: str | None = Field(default=None, pattern=TELEGRAM_SECRET_PATTERN)
    # The Worksection connector; unset, it does not run.
    worksection: WorksectionConfig | None = None
    # Task templates: the agency's own folder, roles, tag sets, project teams.
    templates: TemplatesConfig = Field(default_factory=TemplatesConfig)
    time: TimeConfig = Field(default_factory=TimeConfig)
    # Clients' progress reports: delivery and the weekly run.
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    # Invoices issued from the contracts: the seller, numbering, direct debit.
    billing: BillingConfig = Field(default_factory=BillingConfig)
    # The agency's SMTP server, for invoices and reminders sent by email.
    email: EmailConfig = Field(default_factory=EmailConfig)
    # The services' daily copy of the SQLite database.
    backup: BackupConfig = Field(default_factory=BackupConfig)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return CalendarConfig._known_zone(value)

    @field_validator("webhook_secret", "telegram_webhook_secret")
    @classmethod
    def _long_secret(cls, value: str | None) -> str | None:
        # A short shared secret can be guessed by whoever can reach the intake.
        if value is not None and len(value) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"too short ({len(value)} characters): a secret needs at least "
                f"{MIN_SECRET_LENGTH} characters"
            )
        return value

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
        calendar = self.receivables.calendar
        if calendar is not None and calendar != ALWAYS_OPEN and calendar not in self.calendars:
            raise ValueError(f"receivables.calendar: unknown calendar {calendar!r}")
        calendar = self.templates.calendar
        if calendar is not None and calendar != ALWAYS_OPEN and calendar not in self.calendars:
            raise ValueError(f"templates.calendar: unknown calendar {calendar!r}")
        calendar = self.reports.calendar
        if calendar is not None and calendar != ALWAYS_OPEN and calendar not in self.calendars:
            raise ValueError(f"reports.calendar: unknown calendar {calendar!r}")
        for client, conf in self.clients.items():
            if conf.policy is not None and conf.policy not in self.policies:
                raise ValueError(f"clients.{client}.policy: unknown policy {conf.policy!r}")
        return self

    @property
    def dunning_calendar_name(self) -> str:
        """The name of the calendar the reminders run on: their own, else the default policy's."""
        return self.receivables.calendar or self.policies["default"].calendar

    @property
    def dunning_timezone(self) -> str:
        """The time zone of the reminders' calendar (the agency's for a round-the-clock one)."""
        calendar = self.calendars.get(self.dunning_calendar_name)
        return calendar.timezone if calendar is not None else self.timezone

    def dunning_calendar(self) -> BusinessCalendar:
        """The calendar whose business days the reminders run on."""
        return self.calendar(self.dunning_calendar_name)

    @property
    def templates_calendar_name(self) -> str:
        """The calendar whose business days a template's dates count: its own, else the policy's."""
        return self.templates.calendar or self.policies["default"].calendar

    @property
    def templates_timezone(self) -> str:
        """The time zone of the templates' calendar (the agency's for a round-the-clock one)."""
        calendar = self.calendars.get(self.templates_calendar_name)
        return calendar.timezone if calendar is not None else self.timezone

    @property
    def reports_calendar_name(self) -> str:
        """The calendar whose business days the weekly run keeps: its own, else the policy's."""
        return self.reports.calendar or self.policies["default"].calendar

    @property
    def reports_timezone(self) -> str:
        """The time zone of the weekly run's day and hour."""
        calendar = self.calendars.get(self.reports_calendar_name)
        return calendar.timezone if calendar is not None else self.timezone

    def calendar(self, name: str) -> BusinessCalendar:
        if name == ALWAYS_OPEN:
            return AlwaysOpen()
        return self.calendars[name].build()


def load_settings(**overrides: Any) -> Settings:
    """Read the config file named by PMDESK_CONFIG (if any), then the variables.

    `overrides` (simple values from command-line options) win over both. A
    problem is blamed on where its value came from: the file, or the
    variable that set it.
    """
    data: dict[str, Any] = {}
    config_path = config_file()
    if config_path:
        data = read_config_file(config_path)
    variables = variable_keys(os.environ)
    try:
        settings = settings_from(data)
    except ValidationError as error:
        raise ConfigError(describe_sources(error, variables, config_path)) from None
    return settings.model_copy(update=overrides) if overrides else settings


def settings_from(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from a file's contents, with `PMDESK_*` variables winning over them."""
    found = environment_values(os.environ if environ is None else environ)
    return Settings(**merged(dict(data), found))


# Variables of pmdesk that are not settings.
OTHER_VARIABLES = ("PMDESK_CONFIG",)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each `PMDESK_*` variable that sets nothing (a typo is silently ignored)."""
    known = [*OTHER_VARIABLES, *(ENV_PREFIX + name.upper() for name in Settings.model_fields)]
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        if upper.split("__")[0] in known:
            continue  # a key inside a table: validation names it if it is wrong
        # Compared without the prefix, which every name shares.
        close = _did_you_mean(upper[len(ENV_PREFIX) :], [k[len(ENV_PREFIX) :] for k in known])
        hint = close.replace("mean ", f"mean {ENV_PREFIX}")
        warnings.append(f"{name} is not a pmdesk setting, ignored{hint}")
    return warnings


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


def describe_errors(error: ValidationError) -> str:
    """One line per problem, naming the key as it is written in the file."""
    return "\n".join(f"  {location}: {message}" for location, message in _problems(error))


def describe_sources(
    error: ValidationError, variables: Mapping[str, tuple[str, ...]], path: Path | None
) -> str:
    """Each problem under what gave its value: the config file, or the variable that set it."""
    from_file: list[str] = []
    from_variables: list[str] = []
    for location, message in _problems(error):
        keys = tuple(location.lower().split("."))
        variable = next((name for name, key in variables.items() if keys[: len(key)] == key), None)
        if variable is None:
            from_file.append(f"  {location}: {message}")
        else:
            from_variables.append(f"  {variable} ({location}): {message}")
    parts = []
    if from_file:
        where = f"config file {path}" if path else "configuration"
        parts.append(f"{where}:\n" + "\n".join(from_file))
    if from_variables:
        parts.append("PMDESK_* variables:\n" + "\n".join(from_variables))
    return "\n".join(parts)


# A model validator's message starts with the key it is about ("policies.x.calendar: ...").
_KEY_IN_MESSAGE = re.compile(r"([a-z_]+(?:\.[^:\n]+)?): (.*)", re.DOTALL)


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    """(key, message) for each problem: the key dotted as in the file."""
    problems = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            names = _keys_at(problem["loc"][:-1])
            message = "unknown key" + _did_you_mean(str(problem["loc"][-1]), names)
        if not location:
            found = _KEY_IN_MESSAGE.fullmatch(message)
            if found:
                location, message = found.group(1), found.group(2)
        problems.append((location or "(top level)", message))
    return problems


def _keys_at(loc: Sequence[int | str]) -> list[str]:
    """The keys the table at `loc` may hold, for "did you mean"; none when any name goes."""
    annotation: Any = Settings
    named_entries = False
    for part in loc:
        if named_entries:  # the name of an entry of a table of tables (a policy, a client)
            named_entries = False
            continue
        model = _model_of(annotation)
        field = model.model_fields.get(str(part)) if model else None
        if field is None:
            return []
        annotation, named_entries = _held(field.annotation)
    model = _model_of(annotation)
    return [] if named_entries or model is None else list(model.model_fields)


def _held(annotation: Any) -> tuple[Any, bool]:
    """What a field holds, None aside; True when it is a table of named entries of it."""
    if get_origin(annotation) is dict:
        return get_args(annotation)[1], True
    kept = [arg for arg in get_args(annotation) if arg is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(kept) == 1:
        return _held(kept[0])
    return annotation, False


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None
