"""Small modal screens: the feed filter and the staff picker."""

from __future__ import annotations

from collections.abc import Collection

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from core.feed import FeedFilter

from .text import as_text

# What the staff picker returns for "Nobody": staff ids start at 1.
NOBODY = 0
CURRENT_MARK = "✓"


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
                yield Select(
                    [(value, value) for value in self.choices.get(name, [])],
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
        self.dismiss(FeedFilter(**values))

    def action_cancel(self) -> None:
        self.dismiss(None)


class StaffPicker(ModalScreen[int | None]):
    """Pick a staff member: dismissed with their id, NOBODY, or None when cancelled.

    Typing filters the list (any part of a name, any case); up and down move
    through it and enter picks, so the hands stay on the keys. The people
    who already hold `role` on the thread are marked, and the cursor starts
    on the first of them.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="staff.cancel"),
        Binding("down", "move(1)", "Next person", show=False, id="staff.next"),
        Binding("up", "move(-1)", "Previous person", show=False, id="staff.previous"),
    ]

    def __init__(
        self,
        title: str,
        staff: list[tuple[int, str]],
        *,
        current: Collection[int] = (),
        role: str = "assignee",
        nobody: str | None = None,
        hint: str = "type to filter · enter picks · escape cancels",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.staff = staff
        self.current = set(current)
        self.role = role
        # The label of a first option that picks nobody (unassign); None: no such option.
        self.nobody = nobody
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="staff-box", classes="modal"):
            yield Label(self.title_text, classes="modal-title")
            yield Input(placeholder="type to filter", id="staff-filter")
            yield OptionList(id="staff-options")
            yield Static(Text(self.hint, style="dim"), id="staff-hint")

    def on_mount(self) -> None:
        self._show("")
        options = self.query_one(OptionList)
        marked = [i for i in range(options.option_count) if self._is_current(options, i)]
        if marked:
            options.highlighted = marked[0]
        self.query_one(Input).focus()

    def _is_current(self, options: OptionList, index: int) -> bool:
        option_id = options.get_option_at_index(index).id
        return option_id is not None and int(option_id) in self.current

    def _show(self, typed: str) -> None:
        """The options whose label holds `typed` (any case), the first highlighted."""
        key = typed.strip().casefold()
        found: list[Option] = []
        if self.nobody is not None and key in self.nobody.casefold():
            found.append(Option(as_text(self.nobody), id=str(NOBODY)))
        for staff_id, name in self.staff:
            if key in name.casefold():
                found.append(Option(self._prompt(staff_id, name), id=str(staff_id)))
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(found)
        if found:
            options.highlighted = 0

    def _prompt(self, staff_id: int, name: str) -> Text:
        if staff_id not in self.current:
            return as_text(name)
        text = Text(f"{CURRENT_MARK} ", style="bold")
        text.append_text(as_text(name, "bold"))
        text.append(f" · {self.role}", style="dim")
        return text

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._show(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one(OptionList)
        if options.highlighted is None or not options.option_count:
            return  # nothing matches what was typed: nothing to pick
        self._pick(options.get_option_at_index(options.highlighted))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._pick(event.option)

    def _pick(self, option: Option) -> None:
        self.dismiss(int(option.id or NOBODY))

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)
