"""The Reports page (`W`): the clients' progress reports of the week, before they go out.

Each client's report of the period (core.reports.drafts): its status (draft,
queued, sent, skipped, failed, nothing to report), a preview of the text
as the client will read it, the free-text introduction (`e`, kept with the
draft, shown first in the report), `s` to send it through the client's
channel and `k` to skip it (`k` again takes the skip back). `p` prepares
the reports of the last whole week. Everything that reads or writes the
database runs in a worker thread; the page reads again after each change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static, TextArea

from core.base import i18n
from core.base.i18n import N_
from tui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from core.config.settings import Settings
    from core.conversations.ingest import Ingestor
    from core.reports.drafts import DraftView
    from core.reports.period import ReportPeriod

NOTHING = "–"
COLUMNS = (N_("Client"), N_("Status"), N_("Channel"), N_("Sent"))
# The statuses as the page says them.
STATES = {
    "draft": N_("draft"),
    "queued": N_("queued"),
    "sent": N_("sent"),
    "skipped": N_("skipped"),
    "failed": N_("failed"),
    "nothing": N_("nothing to report"),
}


@dataclass(frozen=True)
class ReportsDesk:
    """What the page works with, each made on first use (in a worker)."""

    engine: Callable[[], Engine]
    ingestor: Callable[[], Ingestor]
    settings: Callable[[], Settings]
    clock: Callable[[], datetime]
    # The staff member the dashboard acts as (the report's sender).
    staff: Callable[[], int]
    tz: ZoneInfo


class ReportsScreen(Screen[None]):
    """The week's reports per client: preview, introduction, send or skip."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "send", N_("Send"), id="reports.send", tooltip=N_("Send the report")),
        Binding(
            "k",
            "skip",
            N_("Skip"),
            id="reports.skip",
            tooltip=N_("Skip the report, or take the skip back"),
        ),
        Binding(
            "e",
            "edit",
            N_("Introduction"),
            id="reports.intro",
            tooltip=N_("Write the report's introduction"),
        ),
        Binding(
            "p",
            "prepare",
            N_("Prepare"),
            id="reports.prepare",
            tooltip=N_("Prepare the reports of the last whole week"),
        ),
        Binding("r", "reload", N_("Refresh"), id="reports.refresh", tooltip=N_("Read again")),
        Binding("escape", "back", N_("Back"), id="reports.back", tooltip=N_("Go back")),
    ]

    class Loaded(Message):
        def __init__(self, period: ReportPeriod | None, views: list[DraftView]) -> None:
            super().__init__()
            self.period = period
            self.views = views

    class Previewed(Message):
        def __init__(self, draft_id: int, text: str) -> None:
            super().__init__()
            self.draft_id = draft_id
            self.text = text

    class Done(Message):
        """A change was made (or refused: `problem`); the page reads again."""

        def __init__(self, said: str, problem: bool = False) -> None:
            super().__init__()
            self.said = said
            self.problem = problem

    def __init__(self, desk: ReportsDesk) -> None:
        super().__init__(id="reports")
        self.desk = desk
        self.period: ReportPeriod | None = None
        self.views: list[DraftView] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="reports-body"):
            yield Static(i18n.gettext("Loading…"), id="reports-title", markup=False)
            yield DataTable(id="reports-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="reports-preview-box"):
                yield Static("", id="reports-preview", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self._table().add_columns(*map(i18n.gettext, COLUMNS))
        self.action_reload()

    def _table(self) -> DataTable[str | Text]:
        return self.query_one("#reports-table", DataTable)

    @property
    def selected(self) -> DraftView | None:
        if not self.views:
            return None
        return self.views[min(self._table().cursor_row, len(self.views) - 1)]

    # -- reading ---------------------------------------------------------------------

    def action_reload(self) -> None:
        self._load(self.period)

    def action_back(self) -> None:
        self.dismiss()

    @work(thread=True, exclusive=True, group="reports-load")
    def _load(self, period: ReportPeriod | None) -> None:
        from core.reports.drafts import drafts, latest_period

        try:
            engine = self.desk.engine()
            period = period or latest_period(engine)
            views = [] if period is None else drafts(engine, period)
        except Exception as error:  # any driver's error: said, the page stays usable
            self.post_message(self.Done(str(error) or type(error).__name__, problem=True))
            return
        self.post_message(self.Loaded(period, views))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.period, self.views = message.period, message.views
        if message.period is None:
            title = i18n.gettext("No reports prepared yet: p prepares the last whole week's")
        else:
            title = i18n.gettext("Reports of {period} · {count} clients").format(
                period=message.period.iso_week or f"{message.period.first}–{message.period.last}",
                count=len(message.views),
            )
        self.query_one("#reports-title", Static).update(title)
        table = self._table()
        row = table.cursor_row
        table.clear()
        for view in message.views:
            table.add_row(*_row(view, self.desk.tz), key=str(view.id))
        if message.views:
            table.move_cursor(row=min(row, len(message.views) - 1))
            self._preview_selected()
        else:
            self.query_one("#reports-preview", Static).update("")

    @on(DataTable.RowHighlighted, "#reports-table")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._preview_selected()

    def _preview_selected(self) -> None:
        view = self.selected
        if view is not None:
            self._preview(view)

    @work(thread=True, exclusive=True, group="reports-preview")
    def _preview(self, view: DraftView) -> None:
        from core.reports.content import client_report
        from core.reports.render import render
        from core.store.reader import EngineReader

        try:
            settings = self.desk.settings()
            report = client_report(
                EngineReader(self.desk.engine()),
                view.client,
                view.report_period,
                ZoneInfo(settings.timezone),
                self.desk.clock(),
            )
            text = render(report, "text", intro=view.intro or None, agency=settings.agency)
        except Exception as error:
            text = i18n.gettext("Could not prepare the preview: {reason}").format(reason=error)
        self.post_message(self.Previewed(view.id, str(text)))

    @on(Previewed)
    def _previewed(self, message: Previewed) -> None:
        view = self.selected
        if view is not None and view.id == message.draft_id:
            self.query_one("#reports-preview", Static).update(Text(message.text))

    # -- changing ----------------------------------------------------------------------

    def action_send(self) -> None:
        view = self.selected
        if view is not None:
            self._send(view)

    @work(thread=True, exclusive=True, group="reports-change")
    def _send(self, view: DraftView) -> None:
        from core.reports.drafts import ReportRefused, send

        try:
            sent = send(
                self.desk.engine(),
                self.desk.ingestor(),
                self.desk.settings(),
                view.client,
                view.report_period,
                self.desk.staff(),
                self.desk.clock(),
            )
        except ReportRefused as error:
            self.post_message(self.Done(str(error), problem=True))
            return
        except Exception as error:
            self.post_message(self.Done(str(error) or type(error).__name__, problem=True))
            return
        said = i18n.gettext("{client}: report sent ({channel})").format(
            client=sent.client, channel=sent.channel
        )
        self.post_message(self.Done(said))

    def action_skip(self) -> None:
        view = self.selected
        if view is not None:
            self._skip(view)

    @work(thread=True, exclusive=True, group="reports-change")
    def _skip(self, view: DraftView) -> None:
        from core.reports.drafts import SKIPPED, ReportRefused, skip, unskip

        try:
            if view.status == SKIPPED:
                unskip(self.desk.engine(), view.id, self.desk.clock())
                said = i18n.gettext("{client}: skip taken back").format(client=view.client)
            else:
                skip(self.desk.engine(), view.id, self.desk.clock())
                said = i18n.gettext("{client}: skipped (k again takes it back)").format(
                    client=view.client
                )
        except ReportRefused as error:
            self.post_message(self.Done(str(error), problem=True))
            return
        self.post_message(self.Done(said))

    def action_edit(self) -> None:
        view = self.selected
        if view is None:
            return

        def keep(intro: str | None) -> None:
            if intro is not None:
                self._keep_intro(view, intro)

        self.app.push_screen(IntroEditor(view.client, view.intro), keep)

    @work(thread=True, exclusive=True, group="reports-change")
    def _keep_intro(self, view: DraftView, intro: str) -> None:
        from core.reports.drafts import ReportRefused, set_intro

        try:
            set_intro(self.desk.engine(), view.id, intro, self.desk.clock())
        except ReportRefused as error:
            self.post_message(self.Done(str(error), problem=True))
            return
        said = i18n.gettext("{client}: introduction kept").format(client=view.client)
        self.post_message(self.Done(said))

    def action_prepare(self) -> None:
        self._prepare()

    @work(thread=True, exclusive=True, group="reports-change")
    def _prepare(self) -> None:
        from core.reports.content import clients_with_activity
        from core.reports.drafts import prepare
        from core.reports.period import ReportPeriod
        from core.sla.report import sla_report
        from core.store.reader import EngineReader

        try:
            settings, engine, now = self.desk.settings(), self.desk.engine(), self.desk.clock()
            zone = ZoneInfo(settings.timezone)
            today = now.astimezone(zone).date()
            period = ReportPeriod(*last_whole_week(today))
            reader = EngineReader(engine)
            names = {*clients_with_activity(reader, period, zone), *settings.reports.clients}
            since, until = period.instants(zone)
            sla = sla_report(reader, since, until, now)
            for name in sorted(names):
                prepare(engine, name, period, zone, now, reader=reader, sla=sla)
        except Exception as error:
            self.post_message(self.Done(str(error) or type(error).__name__, problem=True))
            return
        self.period = period
        said = i18n.ngettext(
            "{count} report prepared", "{count} reports prepared", len(names)
        ).format(count=len(names))
        self.post_message(self.Done(said))

    @on(Done)
    def _done(self, message: Done) -> None:
        self.notify(message.said, severity="error" if message.problem else "information")
        self.action_reload()


def _row(view: DraftView, tz: ZoneInfo) -> list[str | Text]:
    state = i18n.gettext(STATES.get(view.state, view.state))
    if view.state == "failed" and view.problem:
        state = f"{state}: {view.problem}"
    sent = NOTHING if view.sent_at is None else view.sent_at.astimezone(tz).strftime("%d.%m %H:%M")
    return [Text(view.client), Text(state), view.channel or NOTHING, sent]


class IntroEditor(ModalScreen[str | None]):
    """The report's introduction: paragraphs separated by a blank line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "keep", N_("Keep"), id="reports.intro.keep", tooltip=N_("Keep it")),
        Binding("escape", "cancel", N_("Cancel"), id="reports.intro.cancel"),
    ]

    def __init__(self, client: str, intro: str) -> None:
        super().__init__(id="reports-intro")
        self.client = client
        self.intro = intro

    def compose(self) -> ComposeResult:
        with Vertical(classes="reports-intro-box"):
            yield Static(
                i18n.gettext("Introduction of {client}'s report").format(client=self.client),
                markup=False,
            )
            yield TextArea(self.intro, id="reports-intro-text")
            yield Static(i18n.gettext("ctrl+s to keep · escape to cancel"), markup=False)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_keep(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)


def last_whole_week(today: date) -> tuple[date, date]:
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)
