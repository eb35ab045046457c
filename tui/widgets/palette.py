"""The command palette: every action, plus go to a client, a thread or an invoice.

The providers read what they offer from the app (`PaletteSource`) and act
through messages or the bindings' own actions, never by calling the app.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from tui.display.text import first_line
from tui.messages import GoTo

GOTO_LIMIT = 2000  # threads offered: the most recently active

# A palette entry: its sentence, what choosing it does, and the key that does the same.
PaletteEntry = tuple[str, Callable[[], Any], str]


@runtime_checkable
class PaletteSource(Protocol):
    """What the palette offers, as the app knows it."""

    def goto_targets(self) -> list[tuple[str, str, str]]: ...

    def palette_actions(self, screen: Screen[Any]) -> list[PaletteEntry]: ...


def _source(provider: Provider) -> PaletteSource:
    app = provider.app
    assert isinstance(app, PaletteSource)
    return app


class GoToProvider(Provider):
    """Go to a client (filter the feed), a thread (open it) or an invoice (show it)."""

    async def startup(self) -> None:
        worker = self.app.run_worker(_source(self).goto_targets, thread=True)
        self.targets = await worker.wait()

    def _go(self, kind: str, value: str) -> None:
        self.app.post_message(GoTo(kind, value))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for kind, label, value in self.targets:
            text = f"go to {kind}: {first_line(label, 80)}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self._go, kind, value), text=text)

    async def discover(self) -> Hits:
        for kind, label, value in self.targets[:20]:
            text = f"go to {kind}: {first_line(label, 80)}"
            yield DiscoveryHit(text, partial(self._go, kind, value), text=text)


class ActionsProvider(Provider):
    """Every binding of the current screen and of the app, by its description."""

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in self._actions():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), action, text=name, help=help_text)

    async def discover(self) -> Hits:
        for name, action, help_text in self._actions():
            yield DiscoveryHit(name, action, text=name, help=help_text)

    def _actions(self) -> list[PaletteEntry]:
        return _source(self).palette_actions(self.screen)
