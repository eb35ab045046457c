"""The dashboard's two themes, dark and light, whose every text reads at 4.5:1 or better.

Textual's own textual-dark and textual-light fell short: green "safe" clocks
at 1.9:1 and the focused border at 1.3:1 in the light theme, a breached
clock on the cursor row at 1.7:1 in the dark one. These keep their layout
and change the colours: each is one of the 256 colours of the xterm
palette or near one, so that a 256-colour terminal, which rounds every
colour to one of those, shows what a truecolor terminal shows. The ANSI
colours (the red of an error line, the bars of the conversation) are given
with each theme too: Textual draws them in these.

tests/tui/test_contrast.py measures the ratios on every screen in both.
"""

from __future__ import annotations

from rich.terminal_theme import TerminalTheme
from textual.theme import Theme

DARK, LIGHT = "pmdesk-dark", "pmdesk-light"
# Textual's names, as a configuration may give them (the former default):
# they mean ours.
ALIASES = {"textual-dark": DARK, "textual-light": LIGHT, "dark": DARK, "light": LIGHT}


def _variables(
    *,
    muted: str,
    cursor: str,
    cursor_text: str,
    blurred: str,
    key: str,
    bar: str,
    scrollbar: str,
) -> dict[str, str]:
    return {
        "text-muted": muted,
        "text-accent": key,
        "block-cursor-background": cursor,
        "block-cursor-foreground": cursor_text,
        "block-cursor-text-style": "bold",
        "block-cursor-blurred-background": blurred,
        "block-cursor-blurred-foreground": cursor_text,
        "block-hover-background": blurred,
        "footer-background": bar,
        "footer-key-foreground": key,
        "footer-key-background": bar,
        "footer-description-foreground": cursor_text,
        "footer-description-background": bar,
        "scrollbar": scrollbar,
        "scrollbar-hover": scrollbar,
        "scrollbar-active": key,
        "scrollbar-background": bar,
        "scrollbar-background-hover": bar,
        "scrollbar-background-active": bar,
        "scrollbar-corner-color": bar,
        "border": key,
        "border-blurred": muted,
        "input-cursor-background": cursor_text,
        "input-cursor-foreground": bar,
        "input-selection-background": f"{key} 35%",
    }


PMDESK_DARK = Theme(
    name=DARK,
    primary="#5f87d7",
    secondary="#5f87d7",
    accent="#ffaf00",
    warning="#ffaf00",
    error="#ff87af",
    success="#5fd787",
    foreground="#e4e4e4",
    background="#121212",
    surface="#1c1c1c",
    panel="#262626",
    dark=True,
    variables=_variables(
        muted="#949494",
        cursor="#3a3a3a",
        cursor_text="#ffffff",
        blurred="#262626",
        key="#ffaf00",
        bar="#262626",
        scrollbar="#6c6c6c",
    ),
)

PMDESK_LIGHT = Theme(
    name=LIGHT,
    primary="#005f87",
    secondary="#005f87",
    accent="#875f00",
    warning="#875f00",
    error="#af005f",
    success="#005f00",
    foreground="#121212",
    background="#eeeeee",
    surface="#eeeeee",
    panel="#e4e4e4",
    dark=False,
    variables=_variables(
        muted="#4e4e4e",
        cursor="#ffffd7",
        cursor_text="#121212",
        blurred="#ffffff",
        key="#005f87",
        bar="#e4e4e4",
        scrollbar="#808080",
    ),
)

THEMES = (PMDESK_DARK, PMDESK_LIGHT)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.removeprefix("#"), 16)
    return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)


def _terminal(background: str, foreground: str, colours: list[str]) -> TerminalTheme:
    """The ANSI palette: black, red, green, yellow, blue, magenta, cyan, white, twice."""
    triplets = [_rgb(colour) for colour in colours]
    return TerminalTheme(_rgb(background), _rgb(foreground), triplets, triplets[:8])


ANSI_DARK = _terminal(
    "#121212",
    "#e4e4e4",
    ["#121212", "#ff87af", "#5fd787", "#ffaf00", "#87afff", "#d787d7", "#5fd7d7", "#e4e4e4"],
)
ANSI_LIGHT = _terminal(
    "#eeeeee",
    "#121212",
    ["#121212", "#af005f", "#005f00", "#875f00", "#005f87", "#870087", "#005f5f", "#4e4e4e"],
)


def theme_name(configured: str) -> str:
    """The theme to show for the configured name (Textual's own names mean ours)."""
    return ALIASES.get(configured, configured)
