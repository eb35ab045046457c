"""The help screen: every key of every screen, with the id to remap it by."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "Keys can be remapped in the configuration, by id:\n"
    '  [dashboard.keys]\n  "thread.reply" = "ctrl+r"\n'
    "ctrl+p opens the command palette: every action, and go to a client, thread or invoice."
)


def binding_table(groups: list[tuple[str, list[Binding]]], keymap: dict[str, str]) -> Table:
    table = Table(box=None, padding=(0, 2), show_header=True, header_style="bold")
    table.add_column("where")
    table.add_column("key")
    table.add_column("does")
    table.add_column("id", style="dim")
    for where, bindings in groups:
        for binding in bindings:
            keys = keymap.get(binding.id or "", binding.key)
            table.add_row(where, keys, binding.description or binding.action, binding.id or "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close_again"),
    ]

    def __init__(self, groups: list[tuple[str, list[Binding]]], keymap: dict[str, str]) -> None:
        super().__init__()
        self.groups = groups
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box", classes="modal"):
            yield Static("pmdesk keys", classes="modal-title")
            yield Static(INTRO, markup=False)
            yield Static(binding_table(self.groups, self.keymap), id="help-table")
