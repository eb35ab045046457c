"""Contrast of what the dashboard draws, computed from the cells on screen (WCAG 2.x)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rich.color import Color, ColorSystem
from rich.color_triplet import ColorTriplet
from rich.console import Console
from rich.segment import Segment
from textual.app import App
from textual.screen import ModalScreen

TEXT_RATIO = 4.5  # WCAG AA for text
GLYPH_RATIO = 3.0  # WCAG AA for the lines of a UI component (borders, scrollbars)
BOX_DRAWING = range(0x2500, 0x2600)  # borders; block elements are bars of a chart
SCROLLBARS = set("▁▂▃▄▅▆▇█▉▊▋▌▍▎▏▐")
DIM = 0.5  # a terminal's faint text: halfway to the background


def luminance(colour: ColorTriplet) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = colour
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def ratio(first: ColorTriplet, second: ColorTriplet) -> float:
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@dataclass(frozen=True)
class Pair:
    text: str
    foreground: ColorTriplet
    background: ColorTriplet
    ratio: float
    needed: float
    where: tuple[int, int]  # column, line


def _blend(back: ColorTriplet, fore: ColorTriplet, factor: float) -> ColorTriplet:
    return ColorTriplet(*(round(b + (f - b) * factor) for b, f in zip(back, fore, strict=True)))


def pairs(app: App[Any], eight_bit: bool = False) -> Iterator[Pair]:
    """Every run of visible characters on the screen with its colours as the terminal shows them.

    `eight_bit`: as a 256-colour terminal shows them (each colour to its nearest
    of the 256).
    """
    theme = app.ansi_theme
    # What export_screenshot records: the screen, modals over the screens under them.
    console = Console(
        width=app.size.width,
        height=app.size.height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    lines = list(Segment.split_lines(console._record_buffer))
    # Under a modal the screens behind are dimmed on purpose: only the modal is read.
    shown = app.screen.region
    if isinstance(app.screen, ModalScreen) and app.screen.children:
        shown = app.screen.children[0].content_region
    default_back = theme.background_color
    default_fore = theme.foreground_color

    def truecolor(colour: Color | None, foreground: bool) -> ColorTriplet:
        if colour is None or colour.is_default:
            return default_fore if foreground else default_back
        if eight_bit:
            colour = colour.downgrade(ColorSystem.EIGHT_BIT)
        return colour.get_truecolor(theme, foreground=foreground)

    for y, line in enumerate(lines):
        x = 0
        for segment in line:
            text, style = segment.text, segment.style
            width = Segment(text).cell_length
            visible = text.strip()
            if visible and style is not None and shown.contains(x, y):
                fore = truecolor(style.color, True)
                back = truecolor(style.bgcolor, False)
                if style.reverse:
                    fore, back = back, fore
                if style.dim:
                    fore = _blend(back, fore, DIM)
                glyphs = all(ord(c) in BOX_DRAWING or c in SCROLLBARS for c in visible)
                needed = GLYPH_RATIO if glyphs else TEXT_RATIO
                yield Pair(visible, fore, back, ratio(fore, back), needed, (x, y))
            x += width


def too_faint(app: App[Any], eight_bit: bool = False) -> list[Pair]:
    found: dict[tuple[str, ColorTriplet, ColorTriplet], Pair] = {}
    for pair in pairs(app, eight_bit):
        if pair.ratio < pair.needed:
            found.setdefault((pair.text[:20], pair.foreground, pair.background), pair)
    return list(found.values())
