"""The issuing part of the monthly billing run: every draft issued on its own.

`run_drafts` issues each draft in a transaction of its own (a savepoint,
core.billing.issue): issued with its number, skipped as already billed, or
refused with its reason, and a refusal touches neither the others nor the
numbering. The invoices are committed in groups of `GROUP`: a sync of the
disk per invoice was two thirds of a run's time (docs/benchmarks.md, the
monthly run). A group whose commit fails leaves nothing of it stored, and
its invoices are reported refused; running the month again issues them.
A dry run issues nothing and takes no number: it says what would be
issued, skipped or refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from core.base.instants import Now, utc_now
from core.base.kinds import Actor
from core.billing.issue import Outcome, Status, billed_number, issue_in_group, refusal
from core.billing.model import Draft
from core.config.settings import Settings
from core.store.db import write_on

# (drafts done, drafts in all)
Progress = Callable[[int, int], None]

__all__ = ["Outcome", "RunResult", "run_drafts"]

# Invoices committed together (one sync of the disk for the group).
GROUP = 100


@dataclass
class RunResult:
    """The outcome of every draft of a run, in the drafts' order."""

    on: date
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def issued(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "issued"]

    @property
    def refused(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "refused"]


def run_drafts(
    engine: Engine,
    settings: Settings,
    drafts: Sequence[Draft],
    *,
    on: date,
    actor: Actor,
    dry_run: bool = False,
    progress: Progress | None = None,
    clock: Now = utc_now,
) -> RunResult:
    """Issue each draft on `on` (or, with `dry_run`, only say what would happen)."""
    result = RunResult(on, dry_run)
    with engine.connect() as connection:
        if dry_run:
            for done, draft in enumerate(drafts, start=1):
                result.outcomes.append(_preview(connection, draft))
                if progress is not None:
                    progress(done, len(drafts))
            return result
        for first in range(0, len(drafts), GROUP):
            group = drafts[first : first + GROUP]
            step = None if progress is None else _shifted(progress, first, len(drafts))
            result.outcomes.extend(_group(connection, settings, group, on, actor, clock, step))
    return result


def _shifted(progress: Progress, before: int, total: int) -> Callable[[int], None]:
    return lambda done: progress(before + done, total)


def _group(
    connection: Connection,
    settings: Settings,
    drafts: Sequence[Draft],
    on: date,
    actor: Actor,
    clock: Now,
    progress: Callable[[int], None] | None,
) -> list[Outcome]:
    """Issue some drafts, each in its savepoint, and commit them together."""
    outcomes: list[Outcome] = []
    try:
        with write_on(connection):
            for done, draft in enumerate(drafts, start=1):
                outcomes.append(_issued(connection, settings, draft, on, actor, clock))
                if progress is not None:
                    progress(done)
    except SQLAlchemyError as error:
        # The group's commit (or the database under it) failed: none of it is stored.
        reason = f"the database refused it: {getattr(error, 'orig', None) or error}"
        return [
            Outcome(
                draft.contract_id, draft.client_id, draft.period_start, "refused", reason=reason
            )
            for draft in drafts
        ]
    return outcomes


def _issued(
    connection: Connection, settings: Settings, draft: Draft, on: date, actor: Actor, clock: Now
) -> Outcome:
    try:
        return issue_in_group(connection, settings, draft, on=on, actor=actor, clock=clock)
    except SQLAlchemyError as error:
        # Nothing of this draft was stored (its savepoint rolled back); the
        # group goes on, unless the database is gone, which fails its commit.
        return Outcome(
            draft.contract_id,
            draft.client_id,
            draft.period_start,
            "refused",
            reason=f"the database refused it: {getattr(error, 'orig', None) or error}",
        )


def _preview(connection: Connection, draft: Draft) -> Outcome:
    problem = refusal(draft)
    if problem is not None:
        return Outcome(
            draft.contract_id, draft.client_id, draft.period_start, "refused", reason=problem
        )
    try:
        billed = billed_number(connection, draft)
    finally:
        connection.rollback()
    status: Status = "would issue" if billed is None else "already billed"
    return Outcome(
        draft.contract_id,
        draft.client_id,
        draft.period_start,
        status,
        billed,
        draft.totals.gross_cents,
    )
