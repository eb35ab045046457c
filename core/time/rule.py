"""What counts as account management, as SQL over the time rows, and its fingerprint.

The rule is the configuration's (`[time]`, docs/time.md): time logged on
tasks carrying one of `am_tags`, on tasks whose name holds one of
`am_task_words`, and all the time logged by staff holding one of `am_roles`.
Tags and words are matched in any case. Its fingerprint covers what the rule
reads beside the rows: which e-mail addresses the roles stand for, read from
the staff at the time. Two rules with the same fingerprint count the same
rows as account management.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.store.reader import Reader


class AmRule(Protocol):
    """The configuration's rule: core.config.settings.TimeConfig, or a Rule read back."""

    @property
    def am_tags(self) -> Sequence[str]: ...

    @property
    def am_task_words(self) -> Sequence[str]: ...

    @property
    def am_roles(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class Rule:
    """A rule as stored beside the sums it built: tags and words folded, all sorted."""

    am_tags: tuple[str, ...]
    am_task_words: tuple[str, ...]
    am_roles: tuple[str, ...]

    @classmethod
    def of(cls, rule: AmRule) -> Rule:
        return cls(
            tuple(sorted({tag.casefold() for tag in rule.am_tags})),
            tuple(sorted({word.casefold() for word in rule.am_task_words})),
            tuple(sorted(set(rule.am_roles))),
        )

    def as_json(self) -> str:
        return json.dumps(
            {"tags": self.am_tags, "task_words": self.am_task_words, "roles": self.am_roles}
        )

    @classmethod
    def from_json(cls, text: str) -> Rule:
        found = json.loads(text)
        return cls(tuple(found["tags"]), tuple(found["task_words"]), tuple(found["roles"]))

    def fingerprint(self, emails: Iterable[str]) -> str:
        """This rule with the addresses its roles stand for now (role_emails)."""
        text = json.dumps([self.as_json(), sorted(set(emails))])
        return hashlib.sha256(text.encode()).hexdigest()


def role_emails(reader: Reader, roles: Sequence[str]) -> list[str]:
    """The e-mail addresses of the staff holding one of `roles`."""
    if not roles:
        return []
    names = {f"role{number}": role for number, role in enumerate(roles)}
    return [
        email
        for (email,) in reader.rows(
            "SELECT e.email FROM staffemail e JOIN staff s ON s.id = e.staff_id"
            f" WHERE s.role IN ({', '.join(':' + name for name in names)})",
            names,
        )
    ]


def fingerprint(reader: Reader, rule: AmRule) -> str:
    found = Rule.of(rule)
    return found.fingerprint(role_emails(reader, found.am_roles))


def _like(word: str) -> str:
    return word.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def am_condition(rule: AmRule) -> tuple[str, dict[str, Any]]:
    """The SQL that says a row `r` is account management, and its parameters."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    for number, tag in enumerate(rule.am_tags):
        params[f"tag{number}"] = f"%|{_like(tag)}|%"
        parts.append(f"r.tags LIKE :tag{number} ESCAPE '\\'")
    for number, word in enumerate(rule.am_task_words):
        params[f"word{number}"] = f"%{_like(word)}%"
        parts.append(f"r.task_key LIKE :word{number} ESCAPE '\\'")
    if rule.am_roles:
        names = []
        for number, role in enumerate(rule.am_roles):
            params[f"role{number}"] = role
            names.append(f":role{number}")
        parts.append(
            "r.user_email IN (SELECT e.email FROM staffemail e JOIN staff s ON s.id = e.staff_id"
            f" WHERE s.role IN ({', '.join(names)}))"
        )
    return (" OR ".join(parts) or "1 = 0"), params
