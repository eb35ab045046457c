"""`pmdesk report am`: the work behind the options pmdesk.report declares (docs/time.md)."""

from __future__ import annotations

from datetime import date, timedelta

from core.base.i18n import N_, gettext
from core.time.report import AmReport, Share
from pmdesk.console import _print_json, out
from pmdesk.context import Failure, command, context
from pmdesk.dates import parse_day
from pmdesk.tables import _table
from pmdesk.time import follow_rule, today


@command
def report_am(month: str | None, since: str | None, until: str | None, as_json: bool) -> None:
    from core.time.report import am_report

    first, last = period(month, since, until)
    ctx = context()
    settings = ctx.settings
    projects = settings.worksection.projects if settings.worksection else {}
    follow_rule(settings.time)
    report = am_report(ctx.reader, settings.time, first, last, projects)
    if as_json:
        _print_json(report.as_dict())
        return
    _print_report(report)


def period(month: str | None, since: str | None, until: str | None) -> tuple[date, date]:
    """The days a report covers: a month, or --since..--until, or the last whole month."""
    if month is not None and (since is not None or until is not None):
        raise Failure(gettext("give --month or --since/--until, not both"))
    if month is not None:
        try:
            year, number = (int(part) for part in month.split("-"))
            first = date(year, number, 1)
        except ValueError:
            raise Failure(gettext("{text!r} is not a month (YYYY-MM)").format(text=month)) from None
        following = date(year + number // 12, number % 12 + 1, 1)
        return first, following - timedelta(days=1)
    if since is None:
        if until is not None:
            raise Failure(gettext("--until needs --since"))
        end = today().replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    first = parse_day(since)
    last = parse_day(until) if until else today()
    if last < first:
        raise Failure(gettext("--until is before --since"))
    return first, last


def hours(minutes: int) -> str:
    """Minutes as hours and minutes: 90 -> `1:30`."""
    return f"{minutes // 60}:{minutes % 60:02d}"


def share_text(share: Share) -> str:
    return "-" if share.share is None else f"{share.share * 100:.1f} %"


def _flag(report: AmReport, share: Share) -> str:
    return gettext("above target") if report.above_target(share) else ""


def _print_report(report: AmReport) -> None:
    if not report.total.total:
        out.print(
            gettext(
                "no time logged from {since} to {until} (pmdesk time sync --since {since})"
            ).format(since=report.since.isoformat(), until=report.until.isoformat()),
            markup=False,
        )
        return
    target = f"{report.target * 100:g} %"
    title = gettext("Account management {since} to {until} (target {target})").format(
        since=report.since.isoformat(), until=report.until.isoformat(), target=target
    )
    table = _table(
        title,
        [N_("client"), N_("project"), N_("AM"), N_("total"), N_("share"), N_("flag")],
        ("AM", "total", "share"),
    )
    unassigned = gettext("(unassigned)")
    for line in report.projects:
        table.add_row(
            line.client or unassigned,
            line.project or unassigned,
            hours(line.time.am),
            hours(line.time.total),
            share_text(line.time),
            _flag(report, line.time),
        )
    table.add_row(
        gettext("all"),
        "",
        hours(report.total.am),
        hours(report.total.total),
        share_text(report.total),
        _flag(report, report.total),
    )
    out.print(table)

    clients = _table(
        gettext("Per client"),
        [N_("client"), N_("AM"), N_("total"), N_("share"), N_("flag")],
        ("AM", "total", "share"),
    )
    for client, share in report.clients.items():
        clients.add_row(
            client or unassigned,
            hours(share.am),
            hours(share.total),
            share_text(share),
            _flag(report, share),
        )
    out.print(clients)

    people = _table(
        gettext("Per person"),
        [N_("person"), N_("AM"), N_("total"), N_("share")],
        ("AM", "total", "share"),
    )
    not_staff = gettext("(not staff)")
    for person in report.people:
        name = person.name if person.staff else f"{person.name} {not_staff}"
        people.add_row(
            name, hours(person.time.am), hours(person.time.total), share_text(person.time)
        )
    out.print(people)

    trend = _table(
        gettext("Last six months"),
        [N_("month"), N_("AM"), N_("total"), N_("share"), N_("flag")],
        ("AM", "total", "share"),
    )
    for month, share in report.trend.items():
        trend.add_row(
            month, hours(share.am), hours(share.total), share_text(share), _flag(report, share)
        )
    out.print(trend)
    out.print(_rule_text(report), markup=False)


def _rule_text(report: AmReport) -> str:
    """What counted as account management, in a sentence."""
    parts = []
    if report.rule["tags"]:
        parts.append(gettext("tasks tagged {tags}").format(tags=", ".join(report.rule["tags"])))
    if report.rule["task_words"]:
        parts.append(
            gettext("tasks whose name holds {words}").format(
                words=", ".join(report.rule["task_words"])
            )
        )
    if report.rule["roles"]:
        parts.append(
            gettext("all the time of {roles}").format(roles=", ".join(report.rule["roles"]))
        )
    # Counted whatever the rule (core.time.own).
    own = gettext("pmdesk's own measure of the time spent on threads")
    if not parts:
        return gettext(
            "Account management: {rule} only (set [time] in the configuration for the rest)"
        ).format(rule=own)
    return gettext("Account management: {rule}; the rest is production.").format(
        rule="; ".join([*parts, own])
    )
