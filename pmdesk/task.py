"""`pmdesk task`: change a Worksection task from the command line.

Each command records the change as an event of the staff member it is made
for (`--as`, by default the operator: the `operator` setting, else the
first assistant) and queues its write to Worksection, which the services
(`pmdesk serve`, or the dashboard's) send; `pmdesk task pending` lists what
waits. A thread is named by its number (`12`), `ws:TASK` or the task's
address. See core.tracker.actions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.base.i18n import N_, gettext
from pmdesk.console import _print_json, out
from pmdesk.context import Failure, command, context
from pmdesk.tables import _WIDE, _table

if TYPE_CHECKING:
    from core.tracker.actions import Recorded, Tracker

task_app: typer.Typer = typer.Typer(
    help="Change a Worksection task: deadline, checklist, subtask, owner, status, tags.",
    no_args_is_help=True,
)
_THREAD = typer.Argument(
    help="The thread's number (12), ws:TASK, or the Worksection task's address."
)
_AS = typer.Option("--as", help="The staff member making the change (default: the operator).")
_JSON = typer.Option("--json", help="Print JSON for scripts.")


def _tracker(who: str | None) -> tuple[Tracker, int]:
    from core.conversations.ingest import Ingestor
    from core.conversations.people import AmbiguousStaff, UnknownStaff, find_staff, operator
    from core.tracker.actions import Tracker

    ctx = context()
    if ctx.settings.worksection is None:
        raise Failure(gettext("Worksection is not configured (the [worksection] table)"))
    if who is not None:
        try:
            person = find_staff(ctx.engine, who)
        except (UnknownStaff, AmbiguousStaff) as error:
            raise Failure(str(error.args[0] if error.args else error)) from None
    else:
        found = operator(ctx.engine, ctx.settings.operator)
        if found is None:
            raise Failure(
                gettext("no staff member to act as: name one with --as, or add an assistant")
            )
        person = found
    ingestor = Ingestor.for_settings(ctx.engine, ctx.settings, clock=ctx.clock)
    return Tracker(ingestor, ctx.settings, ctx.clock), person.id


def _run(who: str | None, action: Any) -> None:
    """Record one action and say it is queued; a refusal is one line and exit status 2."""
    from core.tracker.actions import TrackerRefused
    from core.tracker.delivery import describe

    tracker, staff_id = _tracker(who)
    try:
        recorded: Recorded = action(tracker, staff_id)
    except TrackerRefused as error:
        raise Failure(str(error)) from None
    target = recorded.target
    out.print(
        gettext("Queued for Worksection task {task} (thread {thread}): {what}").format(
            task=target.task_id,
            thread=target.thread_id,
            what=describe(recorded.verb, recorded.params, gettext),
        ),
        markup=False,
    )


@task_app.command("deadline")
@command
def task_deadline(
    thread: Annotated[str, _THREAD],
    when: Annotated[
        str, typer.Argument(help="12.12, 12.12.2026, 2026-12-12, or +N business days.")
    ],
    who: Annotated[str | None, _AS] = None,
) -> None:
    """Move the task's deadline (written with update_task)."""
    _run(who, lambda tracker, staff: tracker.deadline(thread, staff, when))


@task_app.command("todo")
@command
def task_todo(
    thread: Annotated[str, _THREAD],
    lines: Annotated[list[str], typer.Argument(help="Checklist items, one per argument.")],
    who: Annotated[str | None, _AS] = None,
) -> None:
    """Add checklist items (a comment of checkboxes on the task)."""
    _run(who, lambda tracker, staff: tracker.todo(thread, staff, lines))


@task_app.command("sub")
@command
def task_sub(
    thread: Annotated[str, _THREAD],
    title: Annotated[str, typer.Argument(help="The subtask's title.")],
    owner: Annotated[str | None, typer.Option(help="Its owner: a staff name or email.")] = None,
    deadline: Annotated[str | None, typer.Option(help="Its deadline: a date or +N.")] = None,
    todo: Annotated[
        list[str] | None, typer.Option("--todo", help="A checklist item; repeat for several.")
    ] = None,
    who: Annotated[str | None, _AS] = None,
) -> None:
    """Create a subtask of the task."""
    _run(
        who,
        lambda tracker, staff: tracker.subtask(
            thread, staff, title, owner=owner, deadline=deadline, todo=todo or []
        ),
    )


@task_app.command("owner")
@command
def task_owner(
    thread: Annotated[str, _THREAD],
    name: Annotated[
        str | None, typer.Argument(help="The new owner: a staff name, email or id.")
    ] = None,
    nobody: Annotated[bool, typer.Option("--none", help="Give the task to nobody.")] = False,
    who: Annotated[str | None, _AS] = None,
) -> None:
    """Change the task's owner in Worksection; pmdesk's assignment follows."""
    if (name is None) == (not nobody):
        raise Failure(gettext("name the new owner, or give --none (not both)"))
    _run(who, lambda tracker, staff: tracker.owner(thread, staff, None if nobody else name))


@task_app.command("close")
@command
def task_close(thread: Annotated[str, _THREAD], who: Annotated[str | None, _AS] = None) -> None:
    """Close the task."""
    _run(who, lambda tracker, staff: tracker.close(thread, staff))


@task_app.command("reopen")
@command
def task_reopen(thread: Annotated[str, _THREAD], who: Annotated[str | None, _AS] = None) -> None:
    """Reopen the task."""
    _run(who, lambda tracker, staff: tracker.reopen(thread, staff))


@task_app.command("tag", context_settings={"ignore_unknown_options": True})
@command
def task_tag(
    thread: Annotated[str, _THREAD],
    changes: Annotated[
        list[str], typer.Argument(help="+TAG to add, -TAG to remove; as many as needed.")
    ],
    who: Annotated[str | None, _AS] = None,
) -> None:
    """Add and remove tags, the task's others kept."""
    from core.tracker.actions import tag_changes

    _run(who, lambda tracker, staff: tracker.tags(thread, staff, *tag_changes(changes)))


@task_app.command("pending")
@command
def task_pending(
    as_json: Annotated[bool, _JSON] = False, wide: Annotated[bool, _WIDE] = False
) -> None:
    """The changes not written to Worksection yet, oldest first."""
    from core.tracker.delivery import describe, pending_actions

    ctx = context()
    ctx.wide = wide
    rows = pending_actions(ctx.engine)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        out.print(gettext("Nothing waits to be written to Worksection."), markup=False)
        return
    columns = [N_("event"), N_("thread"), N_("task"), N_("change"), N_("by"), N_("last error")]
    table = _table(
        gettext("{count} changes wait for Worksection").format(count=len(rows)),
        columns,
        right=("event", "thread"),
    )
    for row in rows:
        table.add_row(
            str(row["event_id"]),
            str(row["thread_id"]),
            row["task_id"],
            describe(row["verb"], row["params"], gettext),
            row["author_name"] or "-",
            row["error"] or "-",
        )
    out.print(table)
