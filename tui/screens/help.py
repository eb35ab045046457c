"""The help screen: every key of every screen, with the id to remap it by."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from core.base.i18n import N_, gettext
from tui.widgets.keybar import KeyBar

INTRO = N_(
    "Keys can be remapped in the configuration, by id:\n"
    '  [dashboard.keys]\n  "thread.reply" = "f2"\n'
    "ctrl+p opens the command palette: every action, and go to a client, thread or invoice."
)

# The help's group for the keys Textual gives every screen, list, table and
# box (the palette's too): shown once, for the help to name every key that
# works. Listed only: no id, they are not remapped.
COMMON_GROUP = N_("lists and boxes")
COMMON_KEYS = [
    Binding("tab", "app.focus_next", "Next panel, table or field"),
    Binding("shift+tab", "app.focus_previous", "Previous panel, table or field"),
    Binding("up,down", "cursor", "Previous / next row of a list or table"),
    Binding("pageup,pagedown", "page", "A page up / down"),
    Binding("home,end", "ends", "First / last row"),
    Binding("enter", "select", "Open or choose the row under the cursor; in a box, confirm"),
    Binding("escape", "close", "Close the box, the palette or the screen"),
    Binding("ctrl+p", "command_palette", "The command palette"),
    Binding("ctrl+q", "quit", "Quit"),
]


def binding_table(
    groups: list[tuple[str, list[Binding]]],
    keymap: Mapping[str, str],
    display: Callable[[Binding], str],
) -> Table:
    """Every key as the terminal names it (`?`, not question_mark), remapped ones as remapped."""
    table = Table(box=None, padding=(0, 2), show_header=True, header_style="bold")
    for name in (N_("where"), N_("key"), N_("does"), N_("id")):
        table.add_column(gettext(name))
    for where, bindings in groups:
        for binding in bindings:
            keys = keymap.get(binding.id or "", binding.key)
            shown = ", ".join(display(replace(binding, key=key.strip())) for key in keys.split(","))
            does = gettext(binding.description) if binding.description else binding.action
            table.add_row(gettext(where), shown, does, binding.id or "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close_again"),
    ]

    def __init__(self, groups: list[tuple[str, list[Binding]]], keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.groups = groups
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box", classes="modal"):
            yield Static(gettext("pmdesk keys"), classes="modal-title")
            yield Static(gettext(INTRO), markup=False)
            self.table = binding_table(self.groups, self.keymap, self.app.get_key_display)
            yield Static(self.table, id="help-table")
        yield KeyBar()
