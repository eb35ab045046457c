"""`pmdesk clients`: the clients, and their SLA policy."""

from __future__ import annotations

from typing import Annotated

import typer

from core.base.i18n import N_, ngettext
from pmdesk.app import app
from pmdesk.console import _print_json, out
from pmdesk.context import Failure, command, context
from pmdesk.tables import _WIDE, _table

clients_app = typer.Typer(help="Clients and their SLA policy.", invoke_without_command=True)
app.add_typer(clients_app, name="clients")


@clients_app.callback()
@command
def clients_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """List clients with their policy, threads and running clocks."""
    if ctx.invoked_subcommand is not None:
        return
    context().wide = wide
    from core.conversations.clients import list_clients

    views = list_clients(context().engine)
    if as_json:
        _print_json([view.__dict__ for view in views])
        return
    table = _table(
        ngettext("{count} client", "{count} clients", len(views)).format(count=len(views)),
        [N_("client"), N_("policy"), N_("language"), N_("threads"), N_("running clocks")],
    )
    for view in views:
        table.add_row(
            view.name,
            view.policy or "default",
            view.language,
            str(view.threads),
            str(view.running_clocks),
        )
    out.print(table)


@clients_app.command("policy")
@command
def clients_policy(
    client: Annotated[str, typer.Argument(help="The client's name, as in its events.")],
    policy: Annotated[str, typer.Argument(help="A policy from the configuration, or 'default'.")],
) -> None:
    """Give a client another SLA policy; its running clocks get new due times."""
    from core.conversations.clients import UnknownClient, set_client_policy
    from core.sla.policies import DEFAULT, PolicyBook

    ctx = context()
    name = None if policy == DEFAULT else policy
    try:
        count = set_client_policy(
            ctx.engine, PolicyBook(ctx.settings), client, name, actor="cli", clock=ctx.clock
        )
    except (UnknownClient, ValueError) as error:
        raise Failure(str(error).strip("'\"")) from None
    out.print(f"{client}: policy {policy}, {count} running clocks recomputed", markup=False)
