"""How the demo agency behaves: its people, its clients, and how each writes.

What every episode draws on (who writes, when, how late the answer comes)
and `_Team`, which turns the scenario into events in the public
schema.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.base.kinds import StaffRole
from core.demo.scenario import (
    TELEGRAM,
    WORKSECTION,
    Contact,
    Phrases,
    Scenario,
    Step,
    TeamMember,
    ThreadInfo,
    demo_settings,
)
from core.sla.policies import DEFAULT

PARIS = ZoneInfo("Europe/Paris")
# The history stops short of `now` so that the only clocks running at `now`
# are the few planned ones (see `_plan`), not leftovers of the afternoon.
QUIET_BEFORE_NOW = timedelta(minutes=20)
# Conversations, task changes and notes per office hour, drawn per day.
EPISODES_PER_HOUR = (1.8, 2.4)
# Late answers per block of replies: a block of 20 with 2 or 3 late ones keeps
# the share met near 88% for any seed, where independent draws would let a
# short week swing from 75% to 100%.
LATE_BLOCK = 20
LATE_PER_BLOCK = (2, 2, 3)
NEW_TASKS_THIS_WEEK = 12
TASKS_CLOSED_THIS_WEEK = 5


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
