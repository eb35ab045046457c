"""Small modal questions: a day (a promise to pay) and an optional line of text (a reason)."""

from __future__ import annotations

from datetime import date

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Static

from core.base.i18n import N_, gettext
from tui.display.text import as_text
from tui.widgets.keybar import KeyBar

HINT = N_("enter to record · escape to cancel")


class DayFrom(Validator):
    """An ISO date (2026-11-30) on or after `earliest`."""

    def __init__(self, earliest: date) -> None:
        super().__init__()
        self.earliest = earliest

    def validate(self, value: str) -> ValidationResult:
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            return self.failure(gettext("Write the day as YYYY-MM-DD, e.g. 2026-11-30."))
        if day < self.earliest:
            return self.failure(gettext("{day} is already past.").format(day=day.isoformat()))
        return self.success()


class AskDay(ModalScreen[date | None]):
    """Ask for a day; dismissed with it, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="ask.cancel")]

    def __init__(self, title: str, default: date, earliest: date) -> None:
        super().__init__()
        self.title_text = title
        self.default = default
        self.earliest = earliest

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-box", classes="modal"):
            yield Static(as_text(self.title_text), classes="modal-title")
            yield Input(
                value=self.default.isoformat(),
                placeholder=gettext("YYYY-MM-DD"),
                validators=[DayFrom(self.earliest)],
                id="ask-input",
            )
            yield Static("", id="ask-error")
            yield Static(Text(gettext(HINT), style="dim"))
        yield KeyBar()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        result = event.validation_result
        if result is not None and not result.is_valid:
            problem = "; ".join(result.failure_descriptions)
            self.query_one("#ask-error", Static).update(Text(problem, style="bold red"))
            return
        self.dismiss(date.fromisoformat(event.value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskText(ModalScreen[str | None]):
    """Ask for an optional line of text; dismissed with it ("" when left empty), or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="ask.cancel_text")]

    def __init__(
        self,
        title: str,
        placeholder: str,
        *,
        value: str = "",
        hint: str = HINT,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-box", classes="modal"):
            yield Static(as_text(self.title_text), classes="modal-title")
            yield Input(value=self.value, placeholder=self.placeholder, id="ask-input")
            yield Static(Text(gettext(self.hint), style="dim"))
        yield KeyBar()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
