"""The services' log inside the dashboard (`l`): what they logged since it opened."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import RichLog, Static

from core.base.i18n import N_, gettext
from tui.display.text import as_text
from tui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from tui.sources.servicelog import LogEntry, ServiceLog

# The theme's colours by level (see _line).
LEVEL_COLOURS = {"WARNING": "warning", "ERROR": "error", "CRITICAL": "error"}
EMPTY = N_("Nothing logged since the dashboard opened.")


class LogScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="log.close"),
        Binding("l", "dismiss", "Close", show=False, id="log.close_again"),
    ]

    def __init__(self, log: ServiceLog, path: str) -> None:
        super().__init__()
        self.log_source = log
        self.path = path
        self._after = 0
        self._lines: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="log-box", classes="modal"):
            yield Static(gettext("Services log · escape closes"), classes="modal-title")
            yield Static(
                gettext("Also written to {path}").format(path=self.path),
                id="log-path",
                markup=False,
            )
            yield RichLog(id="log-lines", wrap=True, markup=False, highlight=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(RichLog).focus()
        self._follow()
        if not self._lines:
            self.query_one(RichLog).write(Text(gettext(EMPTY)))
        self.set_interval(1.0, self._follow)

    def _follow(self) -> None:
        """The lines logged since the last look, at the end."""
        entries = self.log_source.entries(self._after)
        if not entries:
            return
        view = self.query_one(RichLog)
        if not self._lines:
            view.clear()
        theme = self.app.current_theme
        for entry in entries:
            colour = LEVEL_COLOURS.get(entry.level)
            line = _line(entry, f"bold {getattr(theme, colour)}" if colour else "")
            self._lines.append(line.plain)
            view.write(line)
        self._after = entries[-1].number

    def shown_text(self) -> str:
        return "\n".join(self._lines)


def _line(entry: LogEntry, level_style: str) -> Text:
    text = Text(f"{entry.at:%H:%M:%S} ")
    text.append(f"{entry.level:<7} ", style=level_style)
    text.append(f"{entry.logger.removeprefix('pmdesk.')}: ")
    text.append_text(as_text(entry.message))
    return text
