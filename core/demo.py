"""The demo agency: a week of history and a live, simulated feed.

`pmdesk demo` opens the dashboard on a fresh database seeded by `seed_demo`
and keeps feeding it from a `Simulator`, so that a newcomer sees clocks turn
amber and red within seconds. The agency itself (people, clients, projects,
tasks, how everyone writes) is data, `data/demo/agency.toml`, and its
policies are `data/demo/config.toml`; both are read as resources of the
`pmdesk.data` package, by name only: `core` imports nothing from `pmdesk`.

Every event made here is a plain dict in the public event schema and goes
through the `Ingestor` like a webhook's would, so the demo exercises the real
rules rather than writing rows behind their back.

Everything is drawn from `random.Random` seeded by `seed`, and the present is
always an argument, never read from the wall clock: the same seed and `now`
give the same events, and tests can travel in time.
"""

from __future__ import annotations

import heapq
import importlib.resources
import random
import threading
import tomllib
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine

from .clients import list_clients
from .config import Settings, describe_errors, settings_from
from .db import insert_many, write
from .dunning import SENT, local_today, mark_reminder, record_dispute, record_promise, run_dunning
from .ingest import Ingestor
from .kinds import StaffRole, ThreadKind
from .models import Invoice, table
from .outbox import DeliveryView, due_deliveries, mark_delivered
from .policies import DEFAULT
from .staff import add_staff

# The package that ships the `data/` folder; read by name so that `core`
# never imports the command line's package.
RESOURCES = "pmdesk.data"
WORKSECTION = "worksection"
TELEGRAM = "telegram"

PARIS = ZoneInfo("Europe/Paris")
OFFICE_OPENS, OFFICE_CLOSES = time(9), time(18)
# The history stops short of `now` so that the only clocks running at `now`
# are the few planned ones (see `_plan`), not leftovers of the afternoon.
QUIET_BEFORE_NOW = timedelta(minutes=20)
# Conversations, task changes and notes per office hour, drawn per day.
EPISODES_PER_HOUR = (1.8, 2.4)

# How often each kind of episode happens, in the history and live.
HISTORY_MIX: tuple[tuple[str, float], ...] = (
    ("conversation", 0.42),
    ("chat", 0.16),
    ("urgent", 0.08),
    ("admin", 0.24),
    ("note", 0.10),
)
LIVE_MIX: tuple[tuple[str, float], ...] = (
    ("conversation", 0.48),
    ("chat", 0.17),
    ("urgent", 0.08),
    ("admin", 0.17),
    ("note", 0.10),
)
# Late answers per block of replies: a block of 20 with 2 or 3 late ones keeps
# the share met near 88% for any seed, where independent draws would let a
# short week swing from 75% to 100%.
LATE_BLOCK = 20
LATE_PER_BLOCK = (2, 2, 3)
NEW_TASKS_THIS_WEEK = 12
TASKS_CLOSED_THIS_WEEK = 5

Step = tuple[datetime, dict[str, Any]]


class ScenarioError(ValueError):
    """The demo scenario file is not usable; the message says where and why."""


# --- The scenario -------------------------------------------------------------


@dataclass(frozen=True)
class TeamMember:
    handle: str
    name: str
    email: str
    role: str

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


@dataclass(frozen=True)
class Contact:
    name: str
    email: str

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


@dataclass(frozen=True)
class ClientAccount:
    name: str
    domain: str
    language: str
    contacts: tuple[Contact, ...]
    telegram_group: str | None = None


@dataclass(frozen=True)
class ProjectInfo:
    id: str
    name: str
    client: str
    kind: str
    pm: str
    team: tuple[str, ...]


@dataclass(frozen=True)
class ThreadInfo:
    """A Worksection task or a client's Telegram group, as events name it."""

    source: str
    id: str
    title: str
    url: str
    kind: str
    client: str
    project: str | None
    # Handles of the person the thread is assigned to and of its project manager.
    assignee: str
    pm: str

    @property
    def key(self) -> str:
        return f"{self.source}:{self.id}"

    @property
    def is_task(self) -> bool:
        return self.kind == ThreadKind.TASK.value


@dataclass(frozen=True)
class Phrases:
    """Message templates of one language; fields as listed in agency.toml."""

    language: str
    question: tuple[str, ...]
    urgent: tuple[str, ...]
    followup: tuple[str, ...]
    thanks: tuple[str, ...]
    reply: tuple[str, ...]
    reply_urgent: tuple[str, ...]
    closing: tuple[str, ...]
    note: tuple[str, ...]
    nudge: tuple[str, ...]
    no_reply: tuple[str, ...]
    brief: tuple[str, ...]
    months: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    agency: str
    domain: str
    tracker_url: str
    staff: tuple[TeamMember, ...]
    clients: tuple[ClientAccount, ...]
    projects: tuple[ProjectInfo, ...]
    # Every task, then every Telegram group.
    threads: tuple[ThreadInfo, ...]
    phrases: tuple[Phrases, ...]
    statuses: tuple[str, ...]
    new_status: str
    in_progress_status: str
    done_status: str

    @property
    def tasks(self) -> tuple[ThreadInfo, ...]:
        return tuple(thread for thread in self.threads if thread.is_task)

    @property
    def chats(self) -> tuple[ThreadInfo, ...]:
        return tuple(thread for thread in self.threads if not thread.is_task)

    def member(self, handle: str) -> TeamMember:
        return next(member for member in self.staff if member.handle == handle)

    def with_role(self, role: str) -> tuple[TeamMember, ...]:
        return tuple(member for member in self.staff if member.role == role)

    def client(self, name: str) -> ClientAccount:
        return next(client for client in self.clients if client.name == name)

    def project(self, client: str, name: str) -> ProjectInfo:
        return next(p for p in self.projects if p.client == client and p.name == name)

    def tasks_of(self, client: str) -> tuple[ThreadInfo, ...]:
        return tuple(thread for thread in self.tasks if thread.client == client)

    def phrases_for(self, language: str) -> Phrases:
        return next(phrases for phrases in self.phrases if phrases.language == language)


# The file's shape, validated strictly (a misspelt key is an error, as in the
# configuration), then turned into the frozen dataclasses above.


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _AgencyFile(_Strict):
    name: str
    domain: str
    tracker_url: str


class _TrackerFile(_Strict):
    statuses: list[str] = Field(min_length=1)
    new_status: str
    in_progress_status: str
    done_status: str


class _StaffFile(_Strict):
    handle: str
    name: str
    email: str
    role: StaffRole


class _ContactFile(_Strict):
    name: str
    email: str


class _ClientFile(_Strict):
    name: str
    domain: str
    language: str = "fr"
    telegram_group: str | None = None
    contacts: list[_ContactFile] = Field(min_length=1)


class _ProjectFile(_Strict):
    client: str
    name: str
    kind: str
    pm: str
    team: list[str] = Field(min_length=1)
    tasks: list[str] = Field(min_length=1)


Templates = list[str]


class _PhrasesFile(_Strict):
    question: Templates = Field(min_length=1)
    urgent: Templates = Field(min_length=1)
    followup: Templates = Field(min_length=1)
    thanks: Templates = Field(min_length=1)
    reply: Templates = Field(min_length=1)
    reply_urgent: Templates = Field(min_length=1)
    closing: Templates = Field(min_length=1)
    note: Templates = Field(min_length=1)
    nudge: Templates = Field(min_length=1)
    no_reply: Templates = Field(min_length=1)
    brief: Templates = Field(min_length=1)
    months: list[str] = Field(min_length=12, max_length=12)


class _ScenarioFile(_Strict):
    agency: _AgencyFile
    tracker: _TrackerFile
    staff: list[_StaffFile] = Field(min_length=1)
    clients: list[_ClientFile] = Field(min_length=1)
    projects: list[_ProjectFile] = Field(min_length=1)
    phrases: dict[str, _PhrasesFile] = Field(min_length=1)


def _read_toml(name: str) -> dict[str, Any]:
    resource = importlib.resources.files(RESOURCES) / "demo" / name
    try:
        return tomllib.loads(resource.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"demo/{name}: {error}") from None


def load_scenario() -> Scenario:
    """The demo agency of `data/demo/agency.toml`."""
    try:
        raw = _ScenarioFile.model_validate(_read_toml("agency.toml"))
    except ValidationError as error:
        raise ScenarioError(f"demo/agency.toml:\n{describe_errors(error)}") from None
    return _build_scenario(raw)


def demo_settings() -> Settings:
    """The configuration of the demo (`data/demo/config.toml`).

    Like any configuration, `PMDESK_*` variables override the file, so the
    command line can point the demo at its own database.
    """
    try:
        return settings_from(_read_toml("config.toml"))
    except ValidationError as error:
        raise ScenarioError(f"demo/config.toml:\n{describe_errors(error)}") from None


def _build_scenario(raw: _ScenarioFile) -> Scenario:
    staff = tuple(
        TeamMember(member.handle, member.name, member.email.lower(), member.role.value)
        for member in raw.staff
    )
    handles = {member.handle for member in staff}
    for role in (StaffRole.ASSISTANT, StaffRole.PM):
        if not any(member.role == role for member in staff):
            raise ScenarioError(f"demo/agency.toml: staff: nobody has the role {role.value!r}")
    clients = tuple(
        ClientAccount(
            name=client.name,
            domain=client.domain,
            language=client.language,
            contacts=tuple(Contact(c.name, c.email.lower()) for c in client.contacts),
            telegram_group=client.telegram_group,
        )
        for client in raw.clients
    )
    for client in clients:
        if client.language not in raw.phrases:
            raise ScenarioError(
                f"demo/agency.toml: clients.{client.name}: no phrases for language "
                f"{client.language!r}"
            )
    names = {client.name for client in clients}
    projects: list[ProjectInfo] = []
    tasks: list[ThreadInfo] = []
    for number, project in enumerate(raw.projects, start=1):
        where = f"demo/agency.toml: projects.{project.name}"
        if project.client not in names:
            raise ScenarioError(f"{where}: unknown client {project.client!r}")
        for handle in (project.pm, *project.team):
            if handle not in handles:
                raise ScenarioError(f"{where}: unknown staff handle {handle!r}")
        info = ProjectInfo(
            id=str(2400 + number),
            name=project.name,
            client=project.client,
            kind=project.kind,
            pm=project.pm,
            team=tuple(project.team),
        )
        projects.append(info)
        for index, title in enumerate(project.tasks):
            task_id = str(86100 + len(tasks) + 1)
            tasks.append(
                ThreadInfo(
                    source=WORKSECTION,
                    id=task_id,
                    title=title,
                    url=f"{raw.agency.tracker_url.rstrip('/')}/project/{info.id}/{task_id}/",
                    kind=ThreadKind.TASK.value,
                    client=info.client,
                    project=info.name,
                    # Tasks go round the project's team, as a PM would share them.
                    assignee=info.team[index % len(info.team)],
                    pm=info.pm,
                )
            )
    chats: list[ThreadInfo] = []
    for client in clients:
        if client.telegram_group is None:
            continue
        # A client group is about all of the client's projects: it belongs to
        # none, and the PM of the client's first project looks after it.
        lead = next((p.pm for p in projects if p.client == client.name), None)
        if lead is None:
            raise ScenarioError(f"demo/agency.toml: clients.{client.name}: no project")
        group = 1893400112 + 7919 * len(chats)
        chats.append(
            ThreadInfo(
                source=TELEGRAM,
                id=f"-100{group}",
                title=client.telegram_group,
                url=f"https://t.me/c/{group}",
                kind=ThreadKind.CHAT.value,
                client=client.name,
                project=None,
                assignee=lead,
                pm=lead,
            )
        )
    phrases = tuple(
        Phrases(
            language=language,
            **{
                name: tuple(value)
                for name, value in table.model_dump().items()
                if isinstance(value, list)
            },
        )
        for language, table in raw.phrases.items()
    )
    scenario = Scenario(
        agency=raw.agency.name,
        domain=raw.agency.domain,
        tracker_url=raw.agency.tracker_url,
        staff=staff,
        clients=clients,
        projects=tuple(projects),
        threads=(*tasks, *chats),
        phrases=phrases,
        statuses=tuple(raw.tracker.statuses),
        new_status=raw.tracker.new_status,
        in_progress_status=raw.tracker.in_progress_status,
        done_status=raw.tracker.done_status,
    )
    _check_templates(scenario)
    return scenario


_TEMPLATE_FIELDS = ("contact", "staff", "assignee", "task", "project", "client", "deadline")


def _check_templates(scenario: Scenario) -> None:
    # A typo in a placeholder would otherwise surface as a KeyError in the
    # middle of a live demo; find it when the file is read.
    sample = {name: name for name in _TEMPLATE_FIELDS}
    for phrases in scenario.phrases:
        for name in _PhrasesFile.model_fields:
            if name == "months":
                continue
            for template in getattr(phrases, name):
                try:
                    template.format(**sample)
                except (KeyError, IndexError, ValueError) as error:
                    raise ScenarioError(
                        f"demo/agency.toml: phrases.{phrases.language}.{name}: "
                        f"bad placeholder in {template!r} ({error})"
                    ) from None


# --- Shared helpers ------------------------------------------------------------


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the demo needs an aware datetime (with a UTC offset)")
    return now.astimezone(UTC)


def _seconds(value: float) -> timedelta:
    # Whole seconds: trackers rarely give more, and it keeps ids and stamps tidy.
    return timedelta(seconds=round(value))


def _stamp(source: str, at: datetime) -> str:
    # Worksection speaks Paris time with its offset, Telegram UTC (it sends
    # Unix times): both are valid, and ingestion must not care.
    return at.astimezone(PARIS if source == WORKSECTION else UTC).isoformat()


def _workday_after(at: datetime, days: int) -> date:
    day = at.astimezone(PARIS).date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _telegram_user_id(email: str) -> str:
    # Stable across runs and machines, unlike hash().
    return str(100_000_000 + zlib.crc32(email.encode()) % 900_000_000)


def _pick(
    rng: random.Random, scenario: Scenario, kind: str, free: Callable[[ThreadInfo], bool]
) -> ThreadInfo | None:
    """A free thread for an episode: a client group for a chat, else a task.

    When every group is busy the chat becomes a task comment: skipping it
    would quietly slow the feed below its pace.
    """
    if kind == "chat":
        chats = [thread for thread in scenario.chats if free(thread)]
        if chats:
            return rng.choice(chats)
    tasks = [thread for thread in scenario.tasks if free(thread)]
    return rng.choice(tasks) if tasks else None


def _weighted(rng: random.Random, mix: Sequence[tuple[str, float]]) -> str:
    names = [name for name, _ in mix]
    return rng.choices(names, weights=[weight for _, weight in mix])[0]


@dataclass(frozen=True)
class _Targets:
    """Response targets in seconds under the demo configuration.

    The simulated team answers against these, and the clocks left running at
    `now` are aged from them, so they come from the one place that defines
    them (config.toml) rather than from a copy here.
    """

    by_client: Mapping[str, float]
    default: float
    default_warning: float

    @classmethod
    def of(cls, scenario: Scenario) -> _Targets:
        settings = demo_settings()

        def target(policy: str) -> float:
            conf = settings.policies[policy]
            return 60 * min(conf.first_response_minutes, conf.next_response_minutes)

        by_client = {}
        for client in scenario.clients:
            conf = settings.clients.get(client.name)
            by_client[client.name] = target(conf.policy if conf and conf.policy else DEFAULT)
        default = settings.policies[DEFAULT]
        return cls(by_client, target(DEFAULT), 60 * default.warn_before_minutes)


class _LateFlags:
    """Which replies come late: a few per block of `LATE_BLOCK`, in random places."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._queue: list[bool] = []
        self._taken: list[bool] = []

    def next(self) -> bool:
        if not self._queue:
            late = self._rng.choice(LATE_PER_BLOCK)
            block = [True] * late + [False] * (LATE_BLOCK - late)
            self._rng.shuffle(block)
            self._queue = block
        flag = self._queue.pop()
        self._taken.append(flag)
        return flag

    def checkpoint(self) -> None:
        self._taken = []

    def rollback(self) -> None:
        """Put back the flags taken since the checkpoint (their episode was dropped)."""
        self._queue.extend(reversed(self._taken))
        self._taken = []


@dataclass(frozen=True)
class _Talk:
    """Who is talking about what: the context of one exchange's messages."""

    thread: ThreadInfo
    # The task being talked about: the thread itself, or in a client group
    # one of the client's tasks.
    topic: ThreadInfo
    contact: Contact
    phrases: Phrases


def _fields(
    scenario: Scenario, talk: _Talk, writer: TeamMember | None, deadline: date
) -> dict[str, str]:
    months = talk.phrases.months
    return {
        "contact": talk.contact.first_name,
        "staff": writer.first_name if writer else "",
        "assignee": scenario.member(talk.topic.assignee).first_name,
        "task": talk.topic.title,
        "project": talk.topic.project or "",
        "client": talk.thread.client,
        "deadline": f"{deadline.day} {months[deadline.month - 1]}",
    }


def _staff_author(member: TeamMember) -> dict[str, Any]:
    return {"name": member.name, "email": member.email, "role": "staff"}


def _client_author(thread: ThreadInfo, contact: Contact) -> dict[str, Any]:
    if thread.source == TELEGRAM:
        # Telegram gives a display name and a user id, never an email.
        return {"name": contact.name, "id": _telegram_user_id(contact.email), "role": "client"}
    return {"name": contact.name, "email": contact.email, "role": "client"}


# --- How the agency behaves ------------------------------------------------------


class _Team:
    """Scripts of what people do: who writes, what, and how long answers take.

    Each script is a list of (instant, event without id) starting at `start`;
    the history and the simulator place scripts in time and number events.
    """

    def __init__(self, scenario: Scenario, rng: random.Random, targets: _Targets) -> None:
        self.scenario = scenario
        self.rng = rng
        self.targets = targets
        self.late = _LateFlags(rng)
        self.assistant = scenario.with_role(StaffRole.ASSISTANT.value)[0]
        self.managers = scenario.with_role(StaffRole.MANAGER.value)

    # -- building blocks ----------------------------------------------------

    def event(
        self,
        thread: ThreadInfo,
        kind: str,
        at: datetime,
        author: dict[str, Any] | None = None,
        text: str = "",
        internal: bool = False,
        **values: Any,
    ) -> Step:
        event: dict[str, Any] = {
            "source": thread.source,
            "kind": kind,
            "occurred_at": _stamp(thread.source, at),
            "client": thread.client,
        }
        if thread.project is not None:
            event["project"] = thread.project
        event["task"] = {
            "id": thread.id,
            "title": thread.title,
            "url": thread.url,
            "kind": thread.kind,
        }
        if author is not None:
            event["author"] = author
        event["text"] = text
        event["internal"] = internal
        event.update(values)
        return at, event

    def talk(self, thread: ThreadInfo) -> _Talk:
        client = self.scenario.client(thread.client)
        topic = thread if thread.is_task else self.rng.choice(self.scenario.tasks_of(client.name))
        return _Talk(
            thread=thread,
            topic=topic,
            contact=self.rng.choice(client.contacts),
            phrases=self.scenario.phrases_for(client.language),
        )

    def say(
        self, talk: _Talk, templates: Sequence[str], writer: TeamMember | None, at: datetime
    ) -> str:
        deadline = _workday_after(at, self.rng.randint(2, 8))
        fields = _fields(self.scenario, talk, writer, deadline)
        return str(self.rng.choice(templates).format(**fields))

    def client_says(self, talk: _Talk, templates: Sequence[str], at: datetime) -> Step:
        text = self.say(talk, templates, None, at)
        return self.event(
            talk.thread, "message", at, _client_author(talk.thread, talk.contact), text
        )

    def staff_says(
        self,
        talk: _Talk,
        writer: TeamMember,
        templates: Sequence[str],
        at: datetime,
        internal: bool = False,
    ) -> Step:
        text = self.say(talk, templates, writer, at)
        return self.event(talk.thread, "message", at, _staff_author(writer), text, internal)

    def responder(self, thread: ThreadInfo) -> TeamMember:
        """Who answers: mostly the assistant, then the PM or the assignee; rarely a manager."""
        draw = self.rng.random()
        if self.managers and draw < 0.05:
            return self.rng.choice(self.managers)
        if draw < (0.55 if not thread.is_task else 0.45):
            return self.assistant
        if not thread.is_task or draw < 0.70:
            return self.scenario.member(thread.pm)
        return self.scenario.member(thread.assignee)

    def reply_delay(self, target: float) -> float:
        """Seconds until a reply: mostly 2 to 10 minutes, sometimes past the target."""
        rng = self.rng
        if self.late.next():
            # The tail: a meeting, a question nobody owned. Up to an hour.
            return target + 45 + min(rng.expovariate(1 / 600), max(3600 - target - 45, 60))
        if rng.random() < 0.8:
            return rng.triangular(90, min(600, target - 60), 200)
        return rng.uniform(min(600, target - 120), target - 40)

    # -- scripts --------------------------------------------------------------

    def conversation(self, thread: ThreadInfo, start: datetime, urgent: bool = False) -> list[Step]:
        """A client writes, staff answer; maybe a second round, maybe a "thanks"."""
        rng = self.rng
        talk = self.talk(thread)
        target = self.targets.by_client[thread.client]
        steps: list[Step] = []
        at = start
        rounds = 2 if rng.random() < 0.25 else 1
        responder = self.responder(thread)
        for round_ in range(rounds):
            first_urgent = urgent and round_ == 0
            opening = talk.phrases.urgent if first_urgent else talk.phrases.question
            steps.append(self.client_says(talk, opening, at))
            delay = self.reply_delay(target)
            if delay > 150 and rng.random() < 0.25:
                later = at + _seconds(rng.uniform(40, min(delay - 30, 300)))
                steps.append(self.client_says(talk, talk.phrases.followup, later))
            if thread.is_task and delay > 90 and (first_urgent or rng.random() < 0.3):
                # The assistant tags the assignee: an internal note, not an answer.
                later = at + _seconds(rng.uniform(20, min(delay - 30, 240)))
                steps.append(
                    self.staff_says(talk, self.assistant, talk.phrases.note, later, internal=True)
                )
            at += _seconds(delay)
            answers = talk.phrases.reply_urgent if first_urgent else talk.phrases.reply
            steps.append(self.staff_says(talk, responder, answers, at))
            if round_ + 1 < rounds:
                at += _seconds(rng.uniform(300, 2400))
                responder = self.responder(thread)
        if urgent and thread.is_task:
            at += _seconds(rng.uniform(60, 600))
            assignee = self.scenario.member(thread.assignee)
            steps.append(self.status(thread, at, assignee, self.scenario.in_progress_status))
        if rng.random() < 0.35:
            at += _seconds(rng.uniform(60, 600))
            steps.append(self.client_says(talk, talk.phrases.thanks, at))
            if rng.random() < 0.75:
                # "Thanks!" opens a clock like any client message; the
                # assistant closes it as needing no reply, which keeps it
                # out of the share met.
                at += _seconds(rng.uniform(60, 420))
                text = self.say(talk, talk.phrases.no_reply, self.assistant, at)
                steps.append(
                    self.event(
                        thread, "no_reply_needed", at, _staff_author(self.assistant), text, True
                    )
                )
            else:
                at += _seconds(rng.uniform(30, 300))
                steps.append(self.staff_says(talk, responder, talk.phrases.closing, at))
        return steps

    def status(self, thread: ThreadInfo, at: datetime, who: TeamMember, status: str) -> Step:
        return self.event(thread, "status", at, _staff_author(who), status=status)

    def admin(self, thread: ThreadInfo, start: datetime) -> list[Step]:
        """A status, deadline or assignee change: the feed's quieter traffic."""
        rng = self.rng
        pm = self.scenario.member(thread.pm)
        draw = rng.random()
        if draw < 0.5:
            who = self.scenario.member(thread.assignee)
            return [self.status(thread, start, who, rng.choice(self.scenario.statuses[1:]))]
        if draw < 0.88:
            deadline = _workday_after(start, rng.randint(3, 15)).isoformat()
            return [self.event(thread, "deadline", start, _staff_author(pm), deadline=deadline)]
        project = self.scenario.project(thread.client, thread.project or "")
        others = [h for h in (*project.team, project.pm) if h != thread.assignee]
        new = self.scenario.member(rng.choice(others))
        return [
            self.event(thread, "assignee", start, _staff_author(pm), assignee=_staff_author(new))
        ]

    def note(self, thread: ThreadInfo, start: datetime) -> list[Step]:
        talk = self.talk(thread)
        writer = self.assistant if self.rng.random() < 0.6 else self.scenario.member(thread.pm)
        return [self.staff_says(talk, writer, talk.phrases.note, start, internal=True)]

    def created(self, thread: ThreadInfo, start: datetime) -> list[Step]:
        """A new task: created by its PM, assigned, given a deadline and a status."""
        rng = self.rng
        pm = self.scenario.member(thread.pm)
        talk = self.talk(thread)
        brief = self.say(talk, talk.phrases.brief, pm, start)
        at = start + _seconds(rng.uniform(30, 120))
        assignee = _staff_author(self.scenario.member(thread.assignee))
        steps = [
            self.event(thread, "task_created", start, _staff_author(pm), brief),
            self.event(thread, "assignee", at, _staff_author(pm), assignee=assignee),
        ]
        at += _seconds(rng.uniform(20, 90))
        deadline = _workday_after(start, rng.randint(5, 20)).isoformat()
        steps.append(self.event(thread, "deadline", at, _staff_author(pm), deadline=deadline))
        at += _seconds(rng.uniform(10, 60))
        steps.append(self.status(thread, at, pm, self.scenario.new_status))
        return steps

    def closed(self, thread: ThreadInfo, start: datetime) -> list[Step]:
        """A finished task: its assignee marks it done, its PM closes it."""
        done = self.status(
            thread, start, self.scenario.member(thread.assignee), self.scenario.done_status
        )
        at = start + _seconds(self.rng.uniform(60, 600))
        pm = _staff_author(self.scenario.member(thread.pm))
        return [done, self.event(thread, "task_closed", at, pm)]

    def planning(self, tasks: Iterable[ThreadInfo], start: datetime) -> list[Step]:
        """The week's planning: each PM (re)assigns the open tasks of their projects.

        Tasks that existed before the week get their assignee here; without
        it the dashboard would show nobody in charge of them.
        """
        rng = self.rng
        steps: list[Step] = []
        at_by_pm: dict[str, datetime] = {}
        for task in tasks:
            at = at_by_pm.get(task.pm, start) + _seconds(rng.uniform(15, 45))
            pm = _staff_author(self.scenario.member(task.pm))
            assignee = _staff_author(self.scenario.member(task.assignee))
            steps.append(self.event(task, "assignee", at, pm, assignee=assignee))
            if rng.random() < 0.35:
                at += _seconds(rng.uniform(5, 20))
                deadline = _workday_after(at, rng.randint(2, 12)).isoformat()
                steps.append(self.event(task, "deadline", at, pm, deadline=deadline))
            at_by_pm[task.pm] = at
        return steps

    def episode(self, kind: str, thread: ThreadInfo, start: datetime) -> list[Step]:
        if kind == "urgent":
            return self.conversation(thread, start, urgent=True)
        if kind == "admin":
            return self.admin(thread, start)
        if kind == "note":
            return self.note(thread, start)
        return self.conversation(thread, start)


# --- The present: clocks running at `now` -----------------------------------------


@dataclass(frozen=True)
class _Opening:
    """A client message left unanswered at `now`, and how the team will answer it.

    The history writes the message; the simulator, started at that same
    `now`, writes the answer, so the running clocks of the seeded database
    are stopped live, some in time and one late.
    """

    talk: _Talk
    # Seconds from the client's message to `now`, and to the answer.
    age: int
    answer_after: int
    message: str
    responder: TeamMember
    answer: str
    # The assistant's internal "please answer" note, seconds after the message.
    nudge_after: int | None = None
    nudge: str = ""


@dataclass(frozen=True)
class _Plan:
    """What the history and the simulator must agree on, drawn from the seed alone."""

    openings: tuple[_Opening, ...]
    new_tasks: frozenset[str]
    closing: tuple[ThreadInfo, ...]


# How soon after `now` (the moment the demo is seeded) the planned clocks
# turn amber and breach: within the newcomer's first ten seconds, and after
# the dashboard is up, which takes two or three (bench/dashboard.py).
# With a 15-minute target and a 5-minute warning, the clocks are 9 min 55 s
# and 14 min 52 s old at `now`.
AMBER_IN = 5
BREACH_IN = 8


def _plan(scenario: Scenario, seed: int, targets: _Targets) -> _Plan:
    rng = random.Random(f"pmdesk-demo-plan-{seed}")
    team = _Team(scenario, rng, targets)
    default, by_client = targets.default, targets.by_client
    regular = [task for task in scenario.tasks if by_client[task.client] >= default]
    favoured = [task for task in scenario.tasks if by_client[task.client] < default]
    amber_age = round(default - targets.default_warning) - AMBER_IN
    breach_age = round(default) - BREACH_IN
    amber = rng.choice(regular)
    breach = rng.choice([task for task in regular if task.client != amber.client] or regular)
    used = {amber.key, breach.key}
    young = rng.choice([task for task in regular if task.key not in used])
    used.add(young.key)
    picks: list[tuple[ThreadInfo, int, int, bool]] = [
        # thread, age, seconds from message to answer, urgent
        # answered a minute or few later, still in time
        (amber, amber_age, amber_age + rng.randint(70, min(240, breach_age - amber_age)), False),
        # answered late, after the assistant's nudge
        (breach, breach_age, breach_age + rng.randint(90, 300), True),
    ]
    # Younger ones, all answered in time.
    age = rng.randint(amber_age // 2 + 40, amber_age - 150)
    picks.append((young, age, age + rng.randint(40, 300), False))
    vip = rng.choice([task for task in favoured if task.key not in used] or [young])
    if vip.key not in used:
        used.add(vip.key)
        age = rng.randint(100, 200)
        room = round(by_client[vip.client]) - age - 60
        picks.append((vip, age, age + rng.randint(min(40, room), max(room, 40)), False))
    clients_used = {amber.client, breach.client}
    chats = [
        c for c in scenario.chats if c.client not in clients_used and by_client[c.client] >= default
    ]
    if chats:
        chat = rng.choice(chats)
        age = rng.randint(20, 50)
        picks.append((chat, age, age + rng.randint(60, 300), False))

    openings = []
    for thread, age, answer_after, urgent in picks:
        talk = team.talk(thread)
        if urgent:
            responder = scenario.member(talk.topic.assignee)
            openings.append(
                _Opening(
                    talk=talk,
                    age=age,
                    answer_after=answer_after,
                    message=rng.choice(talk.phrases.urgent),
                    responder=responder,
                    answer=rng.choice(talk.phrases.reply_urgent),
                    nudge_after=age + rng.randint(5, 20),
                    nudge=rng.choice(talk.phrases.nudge),
                )
            )
        else:
            openings.append(
                _Opening(
                    talk=talk,
                    age=age,
                    answer_after=answer_after,
                    message=rng.choice(talk.phrases.question),
                    responder=team.responder(thread),
                    answer=rng.choice(talk.phrases.reply),
                )
            )
    spare = [task for task in scenario.tasks if task.key not in used]
    new = rng.sample(spare, min(NEW_TASKS_THIS_WEEK, len(spare) // 3))
    left = [task for task in spare if task not in new]
    closing = rng.sample(left, min(TASKS_CLOSED_THIS_WEEK, len(left) // 3))
    return _Plan(tuple(openings), frozenset(task.key for task in new), tuple(closing))


def _opening_steps(
    scenario: Scenario, team: _Team, opening: _Opening, base: datetime, answer: bool
) -> list[Step]:
    """The client's message of a planned opening, or (answer=True) what follows it."""
    talk = opening.talk
    written = base - timedelta(seconds=opening.age)
    # Planned answers quote a deadline four working days on.
    deadline = _workday_after(written, 4)
    if not answer:
        text = opening.message.format(**_fields(scenario, talk, None, deadline))
        author = _client_author(talk.thread, talk.contact)
        return [team.event(talk.thread, "message", written, author, text)]
    steps: list[Step] = []
    if opening.nudge_after is not None:
        at = written + timedelta(seconds=opening.nudge_after)
        text = opening.nudge.format(**_fields(scenario, talk, team.assistant, deadline))
        author = _staff_author(team.assistant)
        steps.append(team.event(talk.thread, "message", at, author, text, internal=True))
    at = written + timedelta(seconds=opening.answer_after)
    text = opening.answer.format(**_fields(scenario, talk, opening.responder, deadline))
    steps.append(team.event(talk.thread, "message", at, _staff_author(opening.responder), text))
    return steps


# --- The history ---------------------------------------------------------------------


def _office_windows(now: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """Office hours (weekdays, 09:00-18:00 Paris) between `days` before `now` and now."""
    since, cutoff = now - timedelta(days=days), now - QUIET_BEFORE_NOW
    windows = []
    day = since.astimezone(PARIS).date()
    while day <= now.astimezone(PARIS).date():
        if day.weekday() < 5:
            opens = datetime.combine(day, OFFICE_OPENS, PARIS).astimezone(UTC)
            closes = datetime.combine(day, OFFICE_CLOSES, PARIS).astimezone(UTC)
            low, high = max(opens, since), min(closes, cutoff)
            if high - low >= timedelta(minutes=30):
                windows.append((low, high))
        day += timedelta(days=1)
    return windows


def _office_instant(windows: Sequence[tuple[datetime, datetime]], share: float) -> datetime:
    """The instant `share` of the way through the office time of `windows`."""
    total = sum((high - low).total_seconds() for low, high in windows)
    left = total * share
    for low, high in windows:
        length = (high - low).total_seconds()
        if left <= length:
            return low + _seconds(left)
        left -= length
    return windows[-1][1]


@dataclass
class _Week:
    """Builds the history's episodes in time order, keeping each thread's state."""

    scenario: Scenario
    team: _Team
    plan: _Plan
    busy: dict[str, datetime] = field(default_factory=dict)
    created: dict[str, datetime] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)

    def eligible(self, thread: ThreadInfo, at: datetime) -> bool:
        if thread.key in self.closed or self.busy.get(thread.key, at) > at:
            return False
        if thread.key in self.plan.new_tasks:
            created = self.created.get(thread.key)
            return created is not None and created + timedelta(minutes=10) <= at
        return True

    def pick(self, kind: str, at: datetime) -> ThreadInfo | None:
        return _pick(self.team.rng, self.scenario, kind, lambda thread: self.eligible(thread, at))

    def build(self, now: datetime, days: int) -> list[Step]:
        windows = _office_windows(now, days)
        if not windows:
            return []
        rng = self.team.rng
        steps: list[Step] = []
        planning_done = self._planning(windows, steps)
        agenda: list[tuple[datetime, int, str, ThreadInfo | None]] = []
        for task in self.scenario.tasks:
            if task.key in self.plan.new_tasks:
                at = _office_instant(windows, rng.uniform(0.05, 0.7))
                agenda.append((at, len(agenda), "create", task))
        for task in self.plan.closing:
            at = _office_instant(windows, rng.uniform(0.55, 0.95))
            agenda.append((at, len(agenda), "close", task))
        for low, high in windows:
            low = max(low, planning_done) if planning_done < high else low
            latest = high - timedelta(minutes=10)
            if latest <= low:
                continue
            hours = (high - low).total_seconds() / 3600
            for _ in range(round(hours * rng.uniform(*EPISODES_PER_HOUR))):
                at = low + _seconds(rng.uniform(0, (latest - low).total_seconds()))
                agenda.append((at, len(agenda), _weighted(rng, HISTORY_MIX), None))
        agenda.sort(key=lambda item: (item[0], item[1]))
        for at, _, kind, planned in agenda:
            closes = next((high for low, high in windows if low <= at <= high), at)
            self._episode(kind, planned, at, closes, steps)
        return steps

    def _planning(
        self, windows: Sequence[tuple[datetime, datetime]], steps: list[Step]
    ) -> datetime:
        """Run the planning in the first window long enough; return when it ends."""
        tasks = [task for task in self.scenario.tasks if task.key not in self.plan.new_tasks]
        for low, high in windows:
            script = self.team.planning(tasks, low + _seconds(self.team.rng.uniform(300, 900)))
            end = max(at for at, _ in script)
            if end <= high:
                steps.extend(script)
                return end
        return windows[0][0]

    def _episode(
        self,
        kind: str,
        planned: ThreadInfo | None,
        at: datetime,
        closes: datetime,
        steps: list[Step],
    ) -> None:
        team = self.team
        team.late.checkpoint()
        if planned is not None:
            thread: ThreadInfo | None = planned
            if kind == "close":
                # Closing waits for the end of a conversation in progress.
                at = max(at, self.busy.get(planned.key, at))
                if planned.key in self.closed:
                    return
            script = team.created(planned, at) if kind == "create" else team.closed(planned, at)
        else:
            thread = self.pick(kind, at)
            if thread is None:
                return
            script = team.episode(kind, thread, at)
        assert thread is not None
        end = max(when for when, _ in script)
        if end > closes:
            # It would spill past closing time: drop it, and give back its
            # late answers so the week's share met stays where it should.
            team.late.rollback()
            return
        if kind == "create":
            self.created[thread.key] = at
        elif kind == "close":
            self.closed.add(thread.key)
        self.busy[thread.key] = end + timedelta(minutes=1)
        steps.extend(script)


def history(
    scenario: Scenario, now: datetime, seed: int = 7, days: int = 7
) -> list[dict[str, Any]]:
    """A week of the agency's events ending at `now`, oldest first.

    Office hours only (weekdays, 09:00-18:00 Paris), up to 20 minutes before
    `now`; then, whatever the hour, a few client messages left unanswered so
    that clocks run at `now`: one turns amber 25 s later, one breaches 10 s
    later, a few younger ones. Ids are `demo-<seed>-<n>`, in time order, the
    same for the same seed and `now`.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    base = _utc(now).replace(microsecond=0)
    targets = _Targets.of(scenario)
    plan = _plan(scenario, seed, targets)
    team = _Team(scenario, random.Random(seed), targets)
    steps = _Week(scenario, team, plan).build(base, days)
    for opening in plan.openings:
        steps.extend(_opening_steps(scenario, team, opening, base, answer=False))
    # A stable sort: events of the same second keep the order they were made in.
    steps.sort(key=lambda step: step[0])
    return [
        {"id": f"demo-{seed}-{number:05d}", **event}
        for number, (_, event) in enumerate(steps, start=1)
    ]


# --- Live ---------------------------------------------------------------------------


class Simulator:
    """The agency at work, live: client messages, answers, notes, task changes.

    `events_between(start, end)` gives the events that happen in [start, end).
    Contract: windows must be consecutive, each call's `start` being the
    previous call's `end` (a gap or an overlap raises ValueError). The stream
    depends only on the seed, the pace and the first `start`, not on how it is
    cut into windows; ids are `demo-<seed>-live-<first start, Unix>-<n>`.

    The first client message comes within about 4 seconds of the first
    `start`. With `follow_history` (the default) the simulator also answers
    the messages `history(scenario, now=<first start>, seed)` left running,
    one of them late, as the team would.

    Replies that reach the simulated clients (`delivered`, see
    `deliver_to_simulated_clients`) are answered: the client thanks the
    agency a few seconds later, on the same thread.
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int = 7,
        pace: float = 6.0,
        *,
        follow_history: bool = True,
    ) -> None:
        if not pace > 0:
            raise ValueError("pace must be a positive number of events per minute")
        self.scenario = scenario
        self.seed = seed
        self.pace = pace
        self.follow_history = follow_history
        targets = _Targets.of(scenario)
        self._plan = _plan(scenario, seed, targets)
        self._rng = random.Random(f"pmdesk-demo-live-{seed}")
        self._team = _Team(scenario, self._rng, targets)
        # (instant, order of scheduling, event without id): a heap by time.
        self._queue: list[tuple[datetime, int, dict[str, Any]]] = []
        self._scheduled = 0
        self._emitted = 0
        self._cursor: datetime | None = None
        self._next_arrival = datetime.min.replace(tzinfo=UTC)
        self._first_arrival = True
        self._busy: dict[str, datetime] = {}
        self._prefix = ""
        # Tasks the history closed are left alone.
        self._closed = {task.key for task in self._plan.closing}
        self._threads = {(thread.source, thread.id): thread for thread in scenario.threads}
        # Replies delivered, told from the services' thread: taken in by events_between.
        self._lock = threading.Lock()
        self._delivered: list[tuple[DeliveryView, datetime]] = []

    def delivered(self, replies: Iterable[DeliveryView], at: datetime) -> None:
        """Replies that reached the simulated clients at `at`; each client will thank.

        Safe to call from another thread than the one asking for events.
        """
        at = _utc(at)
        with self._lock:
            self._delivered.extend((reply, at) for reply in replies)

    def events_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        start, end = _utc(start), _utc(end)
        if end < start:
            raise ValueError("a window ends before it starts")
        if self._cursor is None:
            self._begin(start)
        elif start != self._cursor:
            raise ValueError(
                f"windows must be consecutive: this one starts at {start.isoformat()}, "
                f"the previous one ended at {self._cursor.isoformat()}"
            )
        self._cursor = end
        with self._lock:
            delivered, self._delivered = self._delivered, []
        for reply, at in delivered:
            self._thank(reply, max(at, start))
        while self._next_arrival < end:
            self._arrive(self._next_arrival)
        events = []
        while self._queue and self._queue[0][0] < end:
            _, _, event = heapq.heappop(self._queue)
            self._emitted += 1
            events.append({"id": f"{self._prefix}-{self._emitted:05d}", **event})
        return events

    def _begin(self, start: datetime) -> None:
        base = start.replace(microsecond=0)
        self._prefix = f"demo-{self.seed}-live-{int(base.timestamp())}"
        if self.follow_history:
            for opening in self._plan.openings:
                script = _opening_steps(self.scenario, self._team, opening, base, answer=True)
                self._schedule(opening.talk.thread, script)
        self._next_arrival = start + timedelta(seconds=self._rng.uniform(1.0, 4.0))

    def _schedule(self, thread: ThreadInfo, script: list[Step]) -> None:
        for at, event in script:
            heapq.heappush(self._queue, (at, self._scheduled, event))
            self._scheduled += 1
        if script:
            free = max(at for at, _ in script) + timedelta(minutes=1)
            self._busy[thread.key] = max(free, self._busy.get(thread.key, free))

    def _thank(self, reply: DeliveryView, at: datetime) -> None:
        thread = self._threads.get((reply.channel, reply.target or ""))
        if thread is None:
            return  # not a thread of the demo agency: nobody there to answer
        # Drawn from a generator of its own, so that the rest of the stream
        # stays what the seed makes it, whatever the person at the desk does.
        team = _Team(
            self.scenario,
            random.Random(f"pmdesk-demo-thanks-{self.seed}-{reply.event_id}"),
            self._team.targets,
        )
        talk = team.talk(thread)
        when = at + _seconds(team.rng.uniform(*THANKS_AFTER))
        self._schedule(thread, [team.client_says(talk, talk.phrases.thanks, when)])

    def _arrive(self, at: datetime) -> None:
        rng = self._rng
        # The first arrival is a client message, so a clock starts at once.
        kind = "conversation" if self._first_arrival else _weighted(rng, LIVE_MIX)
        self._first_arrival = False
        thread = _pick(
            rng,
            self.scenario,
            kind,
            lambda thread: thread.key not in self._closed and self._busy.get(thread.key, at) <= at,
        )
        script: list[Step] = []
        if thread is not None:
            script = self._team.episode(kind, thread, at)
            self._schedule(thread, script)
        # Episodes arrive at a rate that makes `pace` events a minute on
        # average: the bigger the episode, the longer until the next one.
        mean = max(len(script), 1) * 60 / self.pace
        gap = min(max(rng.expovariate(1 / mean), 1.0), 4 * mean)
        self._next_arrival = at + timedelta(seconds=gap)


# Seconds between a reply reaching a simulated client and the client's thanks.
THANKS_AFTER = (4.0, 12.0)


def deliver_to_simulated_clients(
    engine: Engine, now: datetime, limit: int = 50
) -> list[DeliveryView]:
    """The demo's channel: the replies due now reach the simulated clients at once.

    Every thread of the demo agency is simulated, whether its events say
    Worksection or Telegram, so every pending reply is delivered here,
    under an id of this channel's own ("demo-<event id>"); nothing leaves
    the machine. Returns what was delivered, for `Simulator.delivered`.
    """
    replies = due_deliveries(engine, now, limit)
    for reply in replies:
        mark_delivered(engine, reply.event_id, now, f"demo-{reply.event_id}")
    return replies


# --- Seeding -------------------------------------------------------------------------


def seed_demo(
    engine: Engine, settings: Settings, now: datetime, seed: int = 7, *, folder: Path
) -> int:
    """Register the team, ingest the week of history, add the invoices and the bank
    statement (written into `folder`); return how many events were created.

    The events go through the Ingestor, the same path as every source. A
    rejected demo event is a bug in this module or its data: it raises.
    """
    now = _utc(now)
    scenario = load_scenario()
    _register_team(engine, scenario, now)
    events = history(scenario, now, seed)
    ingestor = Ingestor.for_settings(engine, settings, clock=lambda: now)
    results = ingestor.ingest(events)
    for result in results:
        if result.status == "rejected":
            raise ScenarioError(f"demo event {events[result.position]['id']}: {result.reason}")
    seed_invoices(engine, settings, scenario, now, seed)
    seed_statement(engine, settings, folder, now)
    return sum(result.status == "created" for result in results)


# (days past due, share paid) of the demo's invoices, two per client: one in
# each aging bucket, invoices reaching a reminder level today (D+1, D+15,
# D+30), a partial payment, a promise (the 8th) and a dispute (the 9th). Their
# levels and next steps are not written here: the real dunning runs over
# their past days (see seed_invoices), so they say what the ladder says.
DEMO_INVOICES: tuple[tuple[int, float], ...] = (
    (-12, 0.0),
    (1, 0.0),
    (15, 0.4),
    (3, 0.0),
    (30, 0.0),
    (17, 0.4),
    (38, 0.0),
    (41, 0.0),
    (52, 0.0),
    (64, 0.0),
    (97, 0.0),
    (-4, 0.0),
)
PROMISED, DISPUTED = 8, 9
# Who the demo's history says sent the past reminders and recorded the rest.
DEMO_ACTOR = "demo"


def seed_invoices(
    engine: Engine, settings: Settings, scenario: Scenario, now: datetime, seed: int = 7
) -> int:
    """Invoices for the demo clients, due on both sides of today; returns how many.

    The reminders' daily run is replayed on each past day, its drafts
    recorded as sent that day, then run for today, whose drafts wait to be
    sent; the promise and the dispute are recorded as a person would.
    """
    rng = random.Random(seed)
    today = local_today(settings, now)
    clients = {client.name: client.id for client in list_clients(engine)}
    rows: list[dict[str, Any]] = []
    names = [account.name for account in scenario.clients for _ in range(2)]
    for number, (client, (days, paid)) in enumerate(
        zip(names, DEMO_INVOICES, strict=False), start=1
    ):
        if client not in clients:
            continue
        total = rng.randrange(80, 1200) * 1000 + rng.choice((0, 500))
        due = today - timedelta(days=days)
        rows.append(
            {
                "number": f"F-{today.year}-{number:04d}",
                "client_id": clients[client],
                "issued_on": due - timedelta(days=30),
                "due_on": due,
                "currency": "EUR",
                "total_cents": total,
                "paid_cents": int(total * paid),
                # Paid before the first reminder: not a payment that pauses them.
                "dunning_paid_cents": int(total * paid),
                "state": "open",
                "created_at": now,
                "updated_at": now,
            }
        )
    with write(engine) as connection:
        insert_many(connection, table(Invoice), rows)
    if rows:
        _replay_dunning(engine, settings, min(row["due_on"] for row in rows), today, now)
    numbers = [row["number"] for row in rows]
    if len(numbers) >= PROMISED:
        record_promise(
            engine, settings, numbers[PROMISED - 1], today + timedelta(days=5), DEMO_ACTOR, now,
            today=today,
        )  # fmt: skip
    if len(numbers) >= DISPUTED:
        record_dispute(
            engine, settings, numbers[DISPUTED - 1], "hours billed twice", DEMO_ACTOR, now
        )
    return len(rows)


def _replay_dunning(
    engine: Engine, settings: Settings, first: date, today: date, now: datetime
) -> None:
    """The reminders' daily runs from `first` to today, as if the services had run them."""
    zone = ZoneInfo(settings.timezone)
    day = first
    while day < today:
        at = min(datetime.combine(day, settings.receivables.run_at, tzinfo=zone), now)
        for reminder in run_dunning(engine, settings, day, at).reminders:
            mark_reminder(engine, reminder, SENT, DEMO_ACTOR, at + timedelta(minutes=30))
        day += timedelta(days=1)
    run_dunning(engine, settings, today, now)


# --- The bank statement ------------------------------------------------------------

CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
# The agency's account (bank, branch, account number), and the payers' own.
AGENCY_ACCOUNT = ("30004", "00031", "00012345678")
PAYER_BANK = ("30002", "00550")


@dataclass(frozen=True)
class _Entry:
    """One entry of the demo's statement: a credit (cents > 0) or a debit."""

    days_ago: int
    cents: int
    payer: str
    text: str
    payer_account: str | None = None


def statement_path(folder: Path) -> Path:
    """Where the demo writes its statement: one file, replaced at each start."""
    return folder / "demo-statement.xml"


def seed_statement(engine: Engine, settings: Settings, folder: Path, now: datetime) -> Path:
    """The agency's bank statement of the week, written into `folder`, imported and matched.

    A camt.053 file, as a bank sends it, goes through the statement importer
    and the matching that `pmdesk payments import` runs: two credits name
    their invoice (number, or payer and exact amount) and are applied on
    their own; a deposit, a payment of the wrong amount from a third party
    and a credit no invoice explains wait in the review queue; a debit
    (the bank's fees) is kept out of matching. Returns the file.
    """
    from .matching import match_new_lines
    from .statements.importer import import_statement

    now = _utc(now)
    today = local_today(settings, now)
    path = statement_path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_camt053(path, _statement_entries(_open_balances(engine)), today, now)
    import_statement(engine, path, settings.banks, now)
    match_new_lines(engine, settings.banks, now)
    return path


# Demo invoices (1-based, as in DEMO_INVOICES) that the statement pays: the
# first two before they fall due, so the overdue list stays as the ladder left it.
PAID_BY_NUMBER, PAID_BY_AMOUNT, DEPOSIT_ON, SHORT_ON = 1, 12, 4, 7


def _open_balances(engine: Engine) -> list[tuple[str, str, int]]:
    """(number, client, balance in cents) of every demo invoice, in number order."""
    from sqlalchemy import select

    from .models import Client

    invoice, client = table(Invoice), table(Client)
    query = (
        select(invoice.c.number, client.c.name, invoice.c.total_cents - invoice.c.paid_cents)
        .join(client, client.c.id == invoice.c.client_id)
        .order_by(invoice.c.number)
    )
    with engine.connect() as connection:
        return [(row[0], row[1], int(row[2])) for row in connection.execute(query)]


def _statement_entries(invoices: Sequence[tuple[str, str, int]]) -> list[_Entry]:
    def payer_account(number: int) -> str:
        from schwifty import IBAN

        bank, branch = PAYER_BANK
        return str(IBAN.generate("FR", bank, f"{number:011d}", branch).compact)

    entries: list[_Entry] = []
    if len(invoices) >= PAID_BY_NUMBER:
        number, client, balance = invoices[PAID_BY_NUMBER - 1]
        entries.append(
            _Entry(3, balance, client.upper(), f"VIR SEPA FACTURE {number}", payer_account(1))
        )
    if len(invoices) >= PAID_BY_AMOUNT:
        _, client, balance = invoices[PAID_BY_AMOUNT - 1]
        entries.append(_Entry(2, balance, client, "VIREMENT REGLEMENT", payer_account(2)))
    if len(invoices) >= DEPOSIT_ON:
        _, client, balance = invoices[DEPOSIT_ON - 1]
        entries.append(_Entry(2, balance // 2, client, "ACOMPTE", payer_account(3)))
    if len(invoices) >= SHORT_ON:
        number, _, balance = invoices[SHORT_ON - 1]
        entries.append(
            _Entry(1, balance - 40_00, "SCI DES TILLEULS GESTION", f"REGLEMENT {number}")
        )
    entries.append(_Entry(1, 123_45, "CPAM DES ALPES-MARITIMES", "REMBOURSEMENT 2611"))
    entries.append(_Entry(1, -18_00, "", "FRAIS TENUE DE COMPTE"))
    return entries


def _write_camt053(path: Path, entries: Sequence[_Entry], today: date, now: datetime) -> None:
    """A camt.053.001.02 statement of `entries`, booked in the days before `today`."""
    from xml.etree import ElementTree

    from schwifty import IBAN

    def child(parent: ElementTree.Element, tag: str, text: str = "") -> ElementTree.Element:
        element = ElementTree.SubElement(parent, f"{{{CAMT053}}}{tag}")
        element.text = text or None
        return element

    def nested(parent: ElementTree.Element, path: str, text: str) -> None:
        *tags, last = path.split("/")
        for tag in tags:
            parent = child(parent, tag)
        child(parent, last, text)

    ElementTree.register_namespace("", CAMT053)
    created = now.replace(microsecond=0).isoformat()
    document = ElementTree.Element(f"{{{CAMT053}}}Document")
    report = child(document, "BkToCstmrStmt")
    header = child(report, "GrpHdr")
    child(header, "MsgId", f"STMT{today:%Y%m%d}")
    child(header, "CreDtTm", created)
    statement = child(report, "Stmt")
    child(statement, "Id", f"STMT{today:%Y%m%d}-1")
    child(statement, "CreDtTm", created)
    account = child(statement, "Acct")
    bank, branch, number = AGENCY_ACCOUNT
    nested(account, "Id/IBAN", str(IBAN.generate("FR", bank, number, branch).compact))
    child(account, "Ccy", "EUR")
    for index, entry in enumerate(entries, start=1):
        booked = (today - timedelta(days=entry.days_ago)).isoformat()
        ntry = child(statement, "Ntry")
        child(ntry, "Amt", f"{abs(entry.cents) // 100}.{abs(entry.cents) % 100:02d}").set(
            "Ccy", "EUR"
        )
        child(ntry, "CdtDbtInd", "CRDT" if entry.cents > 0 else "DBIT")
        child(ntry, "Sts", "BOOK")
        nested(ntry, "BookgDt/Dt", booked)
        nested(ntry, "ValDt/Dt", booked)
        child(ntry, "AcctSvcrRef", f"{today:%Y%m%d}{index:04d}")
        details = child(child(ntry, "NtryDtls"), "TxDtls")
        nested(details, "Refs/EndToEndId", "NOTPROVIDED")
        if entry.payer:
            parties = child(details, "RltdPties")
            nested(parties, "Dbtr/Nm", entry.payer)
            if entry.payer_account:
                nested(parties, "DbtrAcct/Id/IBAN", entry.payer_account)
        nested(details, "RmtInf/Ustrd", entry.text)
    ElementTree.indent(document)
    ElementTree.ElementTree(document).write(path, encoding="UTF-8", xml_declaration=True)


def _register_team(engine: Engine, scenario: Scenario, now: datetime) -> None:
    for member in scenario.staff:
        add_staff(engine, member.name, member.role, [member.email], now)


__all__ = [
    "ClientAccount",
    "Contact",
    "Phrases",
    "ProjectInfo",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "TeamMember",
    "ThreadInfo",
    "deliver_to_simulated_clients",
    "demo_settings",
    "history",
    "load_scenario",
    "seed_demo",
    "seed_invoices",
    "seed_statement",
    "statement_path",
]
