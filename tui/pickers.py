"""Small modal screens: the feed filter and the staff picker."""

from __future__ import annotations

from dataclasses import replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, OptionList, Select
from textual.widgets.option_list import Option

from core.feed import FeedFilter

from .text import kind_words


class FilterScreen(ModalScreen[FeedFilter | None]):
    """Narrow the feed by kind, client and assignee; dismissed with the new filter."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="filter.cancel")]

    def __init__(self, current: FeedFilter, choices: dict[str, list[str]]) -> None:
        super().__init__()
        self.current = current
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="filter-box", classes="modal"):
            yield Label("Filter the feed", classes="modal-title")
            for name in ("kind", "client", "assignee"):
                yield Label(name)
                shown = kind_words if name == "kind" else str
                yield Select(
                    [(shown(value), value) for value in self.choices.get(name, [])],
                    value=getattr(self.current, name) or Select.NULL,
                    prompt=f"any {name}",
                    id=f"filter-{name}",
                )
            with Horizontal(classes="modal-buttons"):
                yield Button("Apply", variant="primary", id="filter-apply")
                yield Button("Clear", id="filter-clear")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "filter-clear":
            self.dismiss(FeedFilter())
            return
        values = {}
        for name in ("kind", "client", "assignee"):
            value = self.query_one(f"#filter-{name}", Select).value
            values[name] = None if value is Select.NULL else str(value)
        # The quick toggles (unread, client messages) stay as they were.
        self.dismiss(replace(self.current, **values))

    def action_cancel(self) -> None:
        self.dismiss(None)


class StaffPicker(ModalScreen[int | None]):
    """Pick a staff member: dismissed with their id, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="staff.cancel")]

    def __init__(self, title: str, staff: list[tuple[int, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.staff = staff

    def compose(self) -> ComposeResult:
        with Vertical(id="staff-box", classes="modal"):
            yield Label(self.title_text, classes="modal-title")
            yield OptionList(
                *[Option(name, id=str(staff_id)) for staff_id, name in self.staff],
                id="staff-options",
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)
