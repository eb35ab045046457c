"""`pmdesk staff`: the agency's people, their roles and Telegram invites."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.base.i18n import N_, gettext, ngettext
from core.base.kinds import StaffRole

if TYPE_CHECKING:
    from core.config.settings import Settings
from pmdesk.app import app
from pmdesk.console import _print_json, err, out
from pmdesk.context import Context, Failure, command, context
from pmdesk.tables import _WIDE, _table

staff_app = typer.Typer(
    help="The agency's staff: who gets alerts, and who may use the Telegram bot.",
    invoke_without_command=True,
)
app.add_typer(staff_app, name="staff")
_JSON = typer.Option("--json", help="Print JSON for scripts.")


@staff_app.callback()
@command
def staff_main(
    ctx: typer.Context,
    as_json: Annotated[bool, _JSON] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """List, add, edit, remove and invite staff; without a subcommand, list them."""
    if ctx.invoked_subcommand is None:
        context().wide = wide
        _list_staff(as_json)


@staff_app.command("list")
@command
def staff_list(
    as_json: Annotated[bool, _JSON] = False, wide: Annotated[bool, _WIDE] = False
) -> None:
    """Everyone, removed people included, with their roles, emails and Telegram binding."""
    context().wide = wide
    _list_staff(as_json)


def _list_staff(as_json: bool) -> None:
    from core.conversations.people import list_staff

    ctx = context()
    views = list_staff(ctx.engine)
    if as_json:
        _print_json([{**view.__dict__, "emails": list(view.emails)} for view in views])
        return
    if not views:
        out.print(
            gettext("No staff yet: pmdesk staff add NAME --role assistant --email E"),
            markup=False,
        )
        return
    active = sum(1 for view in views if view.active)
    columns = [N_("id"), N_("name"), N_("role"), N_("emails"), N_("telegram"), N_("status")]
    table = _table(gettext("{count} staff").format(count=active), columns, right=("id",))
    for view in views:
        table.add_row(
            str(view.id),
            view.name,
            view.role,
            ", ".join(view.emails),
            gettext("linked") if view.telegram_id is not None else "-",
            _staff_status(view, ctx),
            style=None if view.active else "dim",
        )
    out.print(table)


def _staff_status(view: Any, ctx: Context) -> str:
    if not view.active:
        return gettext("removed")
    if view.muted_until is not None and view.muted_until > ctx.clock():
        from babel.dates import format_datetime

        until = format_datetime(
            ctx.local(view.muted_until), "EEE HH:mm", locale=ctx.formatter.locale
        )
        return gettext("muted until {time}").format(time=until)
    return gettext("active")


@staff_app.command("add")
@command
def staff_add(
    name: Annotated[str, typer.Argument(help="Their name, as the team knows them.")],
    role: Annotated[
        StaffRole,
        typer.Option(
            help="assistant (on duty for unassigned threads), pm, manager (escalations) "
            "or specialist.",
            case_sensitive=False,
        ),
    ],
    email: Annotated[
        list[str] | None,
        typer.Option("--email", help="An address they write from; repeat for several."),
    ] = None,
) -> None:
    """Add someone to the team.

    Someone already known by one of the emails is kept as is, or, if they
    were removed, comes back to the team with this role.
    """
    from core.conversations.people import UnknownStaff, add_staff, edit_staff, find_staff

    ctx = context()
    emails = [address.strip().lower() for address in email or [] if address.strip()]
    for address in emails:
        if "@" not in address:
            raise Failure(f"{address!r} is not an email address")
    known = None
    for address in emails:
        try:
            known = find_staff(ctx.engine, address)
            break
        except UnknownStaff:
            continue
    if known is not None and not known.active:
        back = edit_staff(ctx.engine, known.id, role=role, add_emails=emails, active=True)
        out.print(
            f"{back.name} (#{back.id}) was removed: back on the team as {back.role} "
            "(pmdesk staff invite to link their Telegram account again)",
            markup=False,
        )
        return
    if known is not None:
        out.print(
            f"{address} is already {known.name} (#{known.id}, {known.role}): kept as is",
            markup=False,
        )
        return
    staff_id = add_staff(ctx.engine, name, role, emails, ctx.clock())
    out.print(f"added {name} (#{staff_id}), {role.value}", markup=False)


@staff_app.command("edit")
@command
def staff_edit(
    who: Annotated[str, typer.Argument(help="Their name, an email or their id.")],
    name: Annotated[str | None, typer.Option(help="Their new name.")] = None,
    role: Annotated[
        StaffRole | None,
        typer.Option(help="assistant, pm, manager or specialist.", case_sensitive=False),
    ] = None,
    add_email: Annotated[
        list[str] | None,
        typer.Option("--add-email", help="An address they also write from; repeat for several."),
    ] = None,
    remove_email: Annotated[
        list[str] | None,
        typer.Option("--remove-email", help="An address that is no longer theirs."),
    ] = None,
    active: Annotated[
        bool | None,
        typer.Option(
            "--active/--inactive",
            help="Back on the team, or off it (no alerts, Telegram account unlinked).",
        ),
    ] = None,
) -> None:
    """Change a staff member's name, role, emails, or whether they are on the team."""
    from core.conversations.people import AmbiguousStaff, UnknownStaff, edit_staff, find_staff

    if name is None and role is None and not add_email and not remove_email and active is None:
        raise Failure("say what to change: --name, --role, --add-email, --remove-email, --active")
    ctx = context()
    try:
        before = find_staff(ctx.engine, who)
        after = edit_staff(
            ctx.engine,
            before.id,
            name=name,
            role=role,
            add_emails=add_email or (),
            remove_emails=remove_email or (),
            active=active,
        )
    except (UnknownStaff, AmbiguousStaff, ValueError) as error:
        raise Failure(str(error)) from None
    status = "on the team" if after.active else "off the team"
    out.print(
        f"{after.name} (#{after.id}): {after.role}, {', '.join(after.emails) or 'no email'}, "
        f"{status}",
        markup=False,
    )


@staff_app.command("remove")
@command
def staff_remove(
    name: Annotated[str, typer.Argument(help="Their name, an email or their id.")],
) -> None:
    """Take someone off the team: no more alerts, their Telegram account unlinked.

    Their history (events, clocks, reports) stays.
    """
    from core.conversations.people import AmbiguousStaff, UnknownStaff, remove_staff

    try:
        person = remove_staff(context().engine, name)
    except (UnknownStaff, AmbiguousStaff) as error:
        raise Failure(str(error)) from None
    out.print(
        f"{person.name} (#{person.id}) removed: no more alerts, Telegram account unlinked; "
        "their history stays",
        markup=False,
    )


@staff_app.command("invite")
@command
def staff_invite(
    name: Annotated[str, typer.Argument(help="Their name, an email or their id.")],
    hours: Annotated[
        float, typer.Option(help="How long the invite stays valid.", min=0.1, max=24 * 30)
    ] = 24,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """A one-time, expiring link that binds their Telegram account to them.

    Send it to them; opening it (or sending the /start line to the bot)
    binds whichever Telegram account does it, once.
    """
    from core.conversations.people import AmbiguousStaff, UnknownStaff, find_staff, invite

    ctx = context()
    now = ctx.clock()
    try:
        person = find_staff(ctx.engine, name)
        code = invite(ctx.engine, person.id, now, timedelta(hours=hours))
    except (UnknownStaff, AmbiguousStaff, ValueError) as error:
        raise Failure(str(error)) from None
    expires = now + timedelta(hours=hours)
    link, problem = _invite_link(ctx.settings, code)
    if as_json:
        _print_json(
            {
                "staff_id": person.id,
                "staff": person.name,
                "code": code,
                "start": f"/start {code}",
                "link": link,
                "expires_at": expires,
            }
        )
        return
    until = f"{ctx.local(expires):%a %d %b %H:%M} ({ctx.zone.key})"
    out.print(f"Invite for {person.name} ({person.role}), once, until {until}:", markup=False)
    if link:
        out.print(f"  {link}", markup=False)
        out.print("or, in a chat with the bot:", markup=False)
    else:
        out.print("They send this to the bot on Telegram:", markup=False)
    out.print(f"  /start {code}", markup=False)
    if problem:
        err.print(f"note: no t.me link: {problem}", markup=False)


def _invite_link(settings: Settings, code: str) -> tuple[str | None, str | None]:
    """The t.me link that starts the bot with `code`, or None and why there is none."""
    if not settings.telegram_token:
        return None, None  # no bot yet: the /start line works once there is one
    import asyncio

    from telegram.error import TelegramError

    from bots.telegram.bot import bot_username

    try:
        username = asyncio.run(bot_username(settings))
    except (TelegramError, OSError) as error:
        return None, f"could not ask Telegram for the bot's name ({error})"
    return f"https://t.me/{username}?start={code}", None


_WEB_URL = "http://127.0.0.1:8766"
_LINK_STATES = {
    "valid": N_("valid"),
    "used": N_("used"),
    "expired": N_("expired"),
    "revoked": N_("revoked"),
}


@staff_app.command("web-link")
@command
def staff_web_link(
    name: Annotated[str, typer.Argument(help="Their name, an email or their id.")],
    hours: Annotated[
        float, typer.Option(help="How long the link stays valid.", min=0.1, max=24 * 30)
    ] = 24,
    url: Annotated[
        str,
        typer.Option(help="The address pmdesk web is reached at (its --public-url)."),
    ] = _WEB_URL,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Revoke their links not used yet instead.")
    ] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """A one-time, expiring link that opens the dashboard in a browser as them (pmdesk web).

    Send it to them; the first opening starts their session, in their name,
    and uses the link up. Only its hash is kept: it cannot be shown again.
    """
    from core.conversations.people import AmbiguousStaff, UnknownStaff, find_staff
    from core.conversations.web_links import make_link, revoke_links

    if not url.startswith(("http://", "https://")):
        raise Failure(f"--url {url!r}: give an http:// or https:// address")
    ctx = context()
    now = ctx.clock()
    try:
        person = find_staff(ctx.engine, name)
        if revoke:
            count = revoke_links(ctx.engine, person.id, now)
            if as_json:
                _print_json({"staff_id": person.id, "staff": person.name, "revoked": count})
            else:
                out.print(f"{person.name}: {count} web link(s) revoked", markup=False)
            return
        code = make_link(ctx.engine, person.id, now, timedelta(hours=hours))
    except (UnknownStaff, AmbiguousStaff, ValueError) as error:
        raise Failure(str(error)) from None
    expires = now + timedelta(hours=hours)
    link = f"{url.rstrip('/')}/link/{code}"
    if as_json:
        _print_json(
            {"staff_id": person.id, "staff": person.name, "link": link, "expires_at": expires}
        )
        return
    until = f"{ctx.local(expires):%a %d %b %H:%M} ({ctx.zone.key})"
    out.print(f"Web link for {person.name} ({person.role}), once, until {until}:", markup=False)
    out.print(f"  {link}", markup=False)


@staff_app.command("web-links")
@command
def staff_web_links(
    name: Annotated[
        str | None, typer.Argument(help="Only this person's (name, email or id).")
    ] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """The web links made, newest first: whose, until when, used or not (never the link)."""
    from core.conversations.people import AmbiguousStaff, UnknownStaff, find_staff
    from core.conversations.web_links import list_links

    ctx = context()
    now = ctx.clock()
    try:
        staff_id = find_staff(ctx.engine, name).id if name is not None else None
    except (UnknownStaff, AmbiguousStaff) as error:
        raise Failure(str(error)) from None
    links = list_links(ctx.engine, staff_id)
    if as_json:
        _print_json([{**link.__dict__, "state": link.state(now)} for link in links])
        return
    if not links:
        out.print(gettext("No web link yet: pmdesk staff web-link NAME"), markup=False)
        return
    columns = [N_("link"), N_("name"), N_("made"), N_("expires"), N_("status")]
    title = ngettext("{count} web link", "{count} web links", len(links))
    table = _table(title.format(count=len(links)), columns)
    for link in links:
        state = link.state(now)
        table.add_row(
            link.handle,
            link.staff,
            f"{ctx.local(link.created_at):%d/%m %H:%M}",
            f"{ctx.local(link.expires_at):%d/%m %H:%M}",
            gettext(_LINK_STATES[state]),
            style=None if state == "valid" else "dim",
        )
    out.print(table)
