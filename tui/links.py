"""A task's link: opened in a browser when one can reach the person at the keyboard.

Otherwise (pmdesk runs over SSH, or on a machine with no graphical display
or no browser) the link is shown in a small modal, selected, for the person
to copy: `c` copies it through the terminal (OSC 52, which most terminals
and tmux pass on, even over SSH), and the mouse can select it too. A browser
that runs in the terminal itself (lynx, w3m) is never started: it would
draw over the dashboard.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from .text import as_text

SSH_VARIABLES = ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")
DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY")
# Browsers Python's webbrowser may fall back to that run in the terminal.
TERMINAL_BROWSERS = frozenset({"www-browser", "links", "links2", "elinks", "lynx", "w3m"})


def why_no_browser(environ: Mapping[str, str], platform: str) -> str | None:
    """Why a browser started from here would not reach the person at the keyboard; None if it would.

    Over SSH a browser opens on the server, unless X forwarding gives the
    session a display; on Linux without a display there is nowhere to open it.
    """
    display = any(environ.get(name) for name in DISPLAY_VARIABLES)
    if display:
        return None
    if any(environ.get(name) for name in SSH_VARIABLES):
        return "pmdesk runs over SSH: a browser would open on the server, not on your screen"
    if platform.startswith("linux"):
        return "there is no graphical display here (DISPLAY is not set)"
    return None


def _start_browser(url: str) -> str | None:
    """Open `url` in the system's browser; what went wrong, or None once it is opened."""
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return "no web browser was found on this machine"
    name = os.path.basename(getattr(browser, "name", "") or "")
    if name in TERMINAL_BROWSERS:
        return f"the only browser found here, {name}, would run inside this terminal"
    try:
        opened = browser.open(url)
    except (webbrowser.Error, OSError) as problem:
        return f"the browser could not be started ({problem})"
    return None if opened else "the browser could not be started"


def open_link(app: App[Any], url: str) -> None:
    """Open `url` for the person at the keyboard, or show it to copy and say why."""
    if app.is_web:  # served to a browser: that browser opens it
        app.open_url(url)
        return
    problem = why_no_browser(os.environ, sys.platform) or _start_browser(url)
    if problem is not None:
        app.push_screen(LinkScreen(url, problem))


class LinkScreen(ModalScreen[None]):
    """A link to open elsewhere: shown selected, with why it was not opened here."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="link.close"),
        Binding("c", "copy", "Copy the link", id="link.copy"),
    ]

    def __init__(self, url: str, reason: str) -> None:
        super().__init__()
        self.url = url
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(id="link-box", classes="modal"):
            yield Static("Open this link in your browser", classes="modal-title")
            yield Static(as_text(f"Not opened here: {self.reason}."), id="link-reason")
            yield TextArea(self.url, read_only=True, soft_wrap=True, id="link-url")
            yield Static(Text("c copies it · the mouse selects it · escape closes", style="dim"))

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.focus()
        area.select_all()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.url)
        self.notify(
            "Link copied to the clipboard (where the terminal passes it on).",
            timeout=3,
            markup=False,
        )
