"""The demo's week of history, and the clocks it leaves running at `now`.

The history stops short of `now`; the few clocks planned to run at `now`
turn amber and breach within the newcomer's first seconds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from core.demo.agency import (
    EPISODES_PER_HOUR,
    NEW_TASKS_THIS_WEEK,
    PARIS,
    QUIET_BEFORE_NOW,
    TASKS_CLOSED_THIS_WEEK,
    _client_author,
    _fields,
    _pick,
    _seconds,
    _staff_author,
    _Talk,
    _Targets,
    _Team,
    _utc,
    _weighted,
    _workday_after,
)
from core.demo.scenario import Scenario, Step, TeamMember, ThreadInfo

OFFICE_OPENS, OFFICE_CLOSES = time(9), time(18)

# How often each kind of episode happens, in the history and live.
HISTORY_MIX: tuple[tuple[str, float], ...] = (
    ("conversation", 0.42),
    ("chat", 0.16),
    ("urgent", 0.08),
    ("admin", 0.24),
    ("note", 0.10),
)


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


__all__ = ["history"]
