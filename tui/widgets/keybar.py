"""The keys that apply now, on one line at the foot of every screen.

Textual's Footer builds a widget per key and rebuilds them all whenever the
bindings change (every focus change, every screen switch): in the dashboard
benchmark that was about a fifth of the time between Enter and the thread on
screen. This bar draws the same keys as one line of text and repaints only
when what it shows has changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

from core.base.i18n import gettext

# What one key shows: its display, its description, and whether it applies now.
Shown = tuple[str, str, str, bool]
# Kept on the right edge with the palette's key, in view however narrow the
# terminal: the way to every other key.
PINNED_ACTIONS = frozenset({"help"})


def first_key(keymap: Mapping[str, str], binding_id: str, default: str) -> str:
    """The first key bound to `binding_id`, as `[dashboard.keys]` remaps it ("u" unless)."""
    return keymap.get(binding_id, default).split(",")[0].strip()


class KeyBar(Widget):
    COMPONENT_CLASSES = {"keybar--key"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: list[Shown] = []
        # Where each key's label sits on the line, for clicks: (start, end, key).
        self._spans: list[tuple[int, int, str]] = []
        # The keys drawn on the right edge (help, the palette).
        self._pinned: set[str] = set()
        # Each binding's key as shown and its description in the language: worked
        # out once, not on every change of the bindings (each focus change, a
        # thread opened or closed: several times a key press).
        self._words: dict[tuple[str, Binding], tuple[str, str]] = {}

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[Any]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        shown = self._collect(screen)
        if shown != self._shown:
            self._shown = shown
            self.refresh()

    def _collect(self, screen: Screen[Any]) -> list[Shown]:
        """The keys to show: the screen's first, then help and the palette (pinned right)."""
        found: list[Shown] = []
        pinned: list[Shown] = []
        seen: set[str] = set()
        palette = self.app.COMMAND_PALETTE_BINDING
        # Textual works this out anew on each reading (every binding's check_action): once.
        active = screen.active_bindings
        for key, (_node, binding, enabled, _tooltip) in active.items():
            # One entry per action (like the Footer): "up" and "k" both moving up show once.
            if not binding.show or binding.action in seen or key == palette:
                continue
            seen.add(binding.action)
            display, description = self._words_of(key, binding, binding.description)
            shown = (key, display, description, enabled)
            (pinned if binding.action in PINNED_ACTIONS else found).append(shown)
        palette_binding = active.get(palette)
        if palette_binding is not None and self.app.ENABLE_COMMAND_PALETTE:
            display, description = self._words_of(palette, palette_binding[1], "Palette")
            pinned.append((palette, display, description, True))
        self._pinned = {key for key, *_rest in pinned}
        return found + pinned

    def _words_of(self, key: str, binding: Binding, description: str) -> tuple[str, str]:
        words = self._words.get((key, binding))
        if words is None:
            words = self._words[key, binding] = (
                self.app.get_key_display(binding),
                gettext(description),
            )
        return words

    def render(self) -> Text:
        """The keys from the left; help's and the palette's on the right edge, always in view."""
        key_style = self.get_component_rich_style("keybar--key", partial=True)
        disabled = Style(dim=True)
        text = Text(no_wrap=True, end="")
        spans: list[tuple[int, int, str]] = []
        right: list[Shown] = []
        for shown in self._shown:
            key, display, description, enabled = shown
            if key in self._pinned:
                right.append(shown)
                continue
            start = text.cell_len
            text.append(f" {display} ", style=key_style if enabled else key_style + disabled)
            text.append(f"{description} ", style="" if enabled else disabled)
            spans.append((start, text.cell_len, key))
        if right:
            edge = Text()
            edge_spans: list[tuple[int, int, str]] = []
            for key, display, description, _enabled in right:
                start = edge.cell_len
                edge.append_text(Text.assemble((f" {display} ", key_style), f"{description} "))
                edge_spans.append((start, edge.cell_len, key))
            room = max(0, self.size.width - edge.cell_len)
            text.truncate(room, overflow="ellipsis")
            text.pad_right(room - text.cell_len)
            spans = [(start, min(end, room), key) for start, end, key in spans if start < room]
            spans.extend((room + start, room + end, key) for start, end, key in edge_spans)
            text.append_text(edge)
        self._spans = spans
        return text

    async def _on_click(self, event: events.Click) -> None:
        # Mouse too: a click on a key presses it. Async as the handler it replaces.
        for start, end, key in self._spans:
            if start <= event.x < end:
                event.stop()
                self.app.simulate_key(key)
                return
