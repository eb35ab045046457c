"""SLA policies: response targets on a business calendar, one per client."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from core.base.business_time import BusinessCalendar
from core.base.kinds import ClockKind
from core.config.settings import Settings

log = logging.getLogger(__name__)

DEFAULT = "default"


@dataclass(frozen=True)
class Deadlines:
    due_at: datetime
    warn_at: datetime
    escalate_at: datetime


@dataclass(frozen=True)
class Policy:
    name: str
    first_response: float
    next_response: float
    warn_before: float
    escalate_after: float
    calendar: BusinessCalendar

    def target(self, kind: ClockKind | str) -> float:
        return self.first_response if kind == ClockKind.FIRST else self.next_response

    def deadlines(self, started_at: datetime, kind: ClockKind | str) -> Deadlines:
        """The instants a clock started at `started_at` warns, falls due and escalates."""
        target = self.target(kind)
        warn_at, due_at, escalate_at = self.calendar.add_many(
            started_at, (max(target - self.warn_before, 0.0), target, self.escalate_after)
        )
        return Deadlines(due_at=due_at, warn_at=warn_at, escalate_at=escalate_at)


class PolicyBook:
    """The configured policies, built once: calendars cache their days."""

    def __init__(self, settings: Settings) -> None:
        calendars = {name: settings.calendar(name) for name in _calendar_names(settings)}
        self._policies = {
            name: Policy(
                name=name,
                first_response=conf.first_response_minutes * 60,
                next_response=conf.next_response_minutes * 60,
                warn_before=conf.warn_before_minutes * 60,
                escalate_after=conf.escalate_after_minutes * 60,
                calendar=calendars[conf.calendar],
            )
            for name, conf in settings.policies.items()
        }
        self._client_policy = {
            client: conf.policy for client, conf in settings.clients.items() if conf.policy
        }
        self._client_language = {
            client: conf.language for client, conf in settings.clients.items() if conf.language
        }
        self.default_language = settings.default_language
        self._warned: set[str] = set()

    def get(self, name: str | None) -> Policy:
        if name is None:
            return self._policies[DEFAULT]
        policy = self._policies.get(name)
        if policy is None:
            # A client keeps a policy the configuration no longer has: fall
            # back rather than stop every clock of that client.
            if name not in self._warned:
                log.warning("policy %r is not configured; using the default policy", name)
                self._warned.add(name)
            return self._policies[DEFAULT]
        return policy

    def names(self) -> list[str]:
        return sorted(self._policies)

    def for_new_client(self, client: str) -> tuple[str | None, str]:
        """The policy and language a client gets when it is first seen."""
        language = self._client_language.get(client, self.default_language)
        return self._client_policy.get(client), language


def _calendar_names(settings: Settings) -> set[str]:
    return {conf.calendar for conf in settings.policies.values()}
