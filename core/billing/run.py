"""The issuing part of the monthly billing run: every draft issued on its own.

`run_drafts` issues drafts one transaction each (core.billing.issue): each
draft is issued with its number, skipped as already billed, or refused with
its reason, and a refusal touches neither the others nor the numbering. A
dry run issues nothing and takes no number: it says what would be issued,
skipped or refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from core.base.instants import Now, utc_now
from core.base.kinds import Actor
from core.billing.issue import Outcome, Status, billed_number, issue_through, refusal
from core.billing.model import Draft
from core.config.settings import Settings

# (drafts done, drafts in all)
Progress = Callable[[int, int], None]

__all__ = ["Outcome", "RunResult", "run_drafts"]


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
        for done, draft in enumerate(drafts, start=1):
            result.outcomes.append(
                _preview(connection, draft)
                if dry_run
                else _issued(connection, settings, draft, on, actor, clock)
            )
            if progress is not None:
                progress(done, len(drafts))
    return result


def _issued(
    connection: Connection, settings: Settings, draft: Draft, on: date, actor: Actor, clock: Now
) -> Outcome:
    try:
        return issue_through(connection, settings, draft, on=on, actor=actor, clock=clock)
    except SQLAlchemyError as error:
        # Nothing of this draft was stored (its transaction rolled back).
        if connection.in_transaction():
            connection.rollback()
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
