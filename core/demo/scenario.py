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

import importlib.resources
import tomllib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.base.kinds import StaffRole, ThreadKind
from core.config.settings import Settings, describe_errors, settings_from

# The package that ships the `data/` folder; read by name so that `core`
# never imports the command line's package.
RESOURCES = "pmdesk.data"
WORKSECTION = "worksection"
TELEGRAM = "telegram"

Step = tuple[datetime, dict[str, Any]]


class ScenarioError(ValueError):
    """The demo scenario file is not usable; the message says where and why."""


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


__all__ = [
    "ClientAccount",
    "Contact",
    "Phrases",
    "ProjectInfo",
    "Scenario",
    "ScenarioError",
    "TeamMember",
    "ThreadInfo",
    "demo_settings",
    "load_scenario",
]
