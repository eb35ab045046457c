"""Small modal screens: the feed filter, and the pickers of staff and of open invoices."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Generic, TypeVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select
from textual.widgets.option_list import Option

from core.base.i18n import N_, gettext
from core.conversations.feed import FeedFilter
from tui.display.text import as_text, kind_words
from tui.widgets.keybar import KeyBar


class FilterScreen(ModalScreen[FeedFilter | None]):
    """Narrow the feed by kind, client and assignee; dismissed with the new filter."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="filter.cancel")]

    def __init__(self, current: FeedFilter, choices: dict[str, list[str]]) -> None:
        super().__init__()
        self.current = current
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="filter-box", classes="modal"):
            yield Label(gettext("Filter the feed"), classes="modal-title")
            for name in (N_("kind"), N_("client"), N_("assignee")):
                yield Label(name)
                shown = kind_words if name == "kind" else str
                yield Select(
                    [(shown(value), value) for value in self.choices.get(name, [])],
                    value=getattr(self.current, name) or Select.NULL,
                    prompt=gettext("any {name}").format(name=gettext(name)),
                    id=f"filter-{name}",
                )
            with Horizontal(classes="modal-buttons"):
                yield Button(gettext("Apply"), variant="primary", id="filter-apply")
                yield Button(gettext("Clear"), id="filter-clear")
        yield KeyBar()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "filter-clear":
            self.dismiss(FeedFilter())
            return
        kind, client, assignee = (self._chosen(name) for name in ("kind", "client", "assignee"))
        # The quick toggles (unread, client messages) and the search stay as they were.
        self.dismiss(replace(self.current, kind=kind, client=client, assignee=assignee))

    def _chosen(self, name: str) -> str | None:
        value = self.query_one(f"#filter-{name}", Select).value
        return None if value is Select.NULL else str(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


NOBODY = "nobody"
T = TypeVar("T")
PICKER_HINT = N_("↑↓ choose · enter picks · escape cancels")


class TypingPicker(ModalScreen[T | None], Generic[T]):
    """A list to pick from, narrowed as one types in the box above it.

    Subclasses say what the list holds for what was typed (`options`) and
    what the screen is dismissed with for the option picked (`picked`);
    escape dismisses it with None. `PREFIX` names its widgets
    (`PREFIX-box`, `-filter`, `-options`, `-hint`).
    """

    PREFIX = "picker"
    PLACEHOLDER = N_("type to narrow the list")

    def __init__(self, title: str, hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id=f"{self.PREFIX}-box", classes="modal"):
            # Titles name payers and clients: shown literally, never as markup.
            yield Label(as_text(self.title_text), classes="modal-title")
            yield Input(placeholder=gettext(self.PLACEHOLDER), id=f"{self.PREFIX}-filter")
            yield OptionList(*self.options(""), id=f"{self.PREFIX}-options")
            yield Label(self.hint or gettext(PICKER_HINT), id=f"{self.PREFIX}-hint")
        yield KeyBar()

    def options(self, typed: str) -> list[Option]:
        raise NotImplementedError

    def picked(self, option_id: str) -> T | None:
        raise NotImplementedError

    def on_input_changed(self, event: Input.Changed) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(self.options(event.value))
        if options.option_count:
            options.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            self._pick(options.get_option_at_index(options.highlighted).id)

    def on_key(self, event: events.Key) -> None:
        # Arrows move in the list while typing in the box above it.
        if event.key in ("up", "down") and self.query_one(Input).has_focus:
            event.stop()
            options = self.query_one(OptionList)
            options.action_cursor_down() if event.key == "down" else options.action_cursor_up()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._pick(event.option.id)

    def _pick(self, option_id: str | None) -> None:
        if option_id:
            self.dismiss(self.picked(option_id))

    def action_cancel(self) -> None:
        self.dismiss(None)


class StaffPicker(TypingPicker[int | str]):
    """Pick a staff member, typing to narrow the list.

    Dismissed with their id, with NOBODY (when `nobody` names that choice),
    or None when cancelled. The people in `current` are marked ✓.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="staff.cancel")]
    PREFIX = "staff"

    def __init__(
        self,
        title: str,
        staff: list[tuple[int, str]],
        current: Collection[int] = (),
        nobody: str | None = None,
        hint: str = "",
    ) -> None:
        self.staff = staff
        self.current = set(current)
        self.nobody = nobody
        super().__init__(title, hint)

    def options(self, typed: str) -> list[Option]:
        wanted = typed.strip().casefold()
        options = [
            Option(f"{name} ✓" if staff_id in self.current else name, id=str(staff_id))
            for staff_id, name in self.staff
            if wanted in name.casefold()
        ]
        if self.nobody is not None and (not wanted or wanted in self.nobody.casefold()):
            options.insert(0, Option(self.nobody, id=NOBODY))
        return options

    def picked(self, option_id: str) -> int | str:
        return NOBODY if option_id == NOBODY else int(option_id)


class InvoicePicker(TypingPicker[str]):
    """Pick an open invoice for a statement line, typing to narrow the list.

    Every word typed must be found in an invoice's line (number, client,
    balance as shown) or in its `searched` text (the balance written
    plainly, so that "1200" finds "1 200,00 €"). Dismissed with the
    invoice's number, or None.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="invoice.cancel")]
    PREFIX = "invoice"
    PLACEHOLDER = N_("type a client, a number or an amount")

    def __init__(self, title: str, invoices: list[tuple[str, str, str]], hint: str = "") -> None:
        """`invoices`: (number, its line in the list, more text to search), in list order."""
        self.invoices = [
            (number, shown, f"{shown} {searched}".casefold())
            for number, shown, searched in invoices
        ]
        super().__init__(title, hint)

    def options(self, typed: str) -> list[Option]:
        words = typed.casefold().split()
        return [
            Option(as_text(shown), id=number)
            for number, shown, searched in self.invoices
            if all(word in searched for word in words)
        ]

    def picked(self, option_id: str) -> str:
        return option_id
