"""The command palette: every action, plus go to a client, a thread or an invoice."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .text import first_line

if TYPE_CHECKING:
    from .app import Dashboard

GOTO_LIMIT = 2000  # threads offered: the most recently active


class GoToProvider(Provider):
    """Go to a client (filter the feed), a thread (open it) or an invoice (show it)."""

    async def startup(self) -> None:
        dashboard = cast("Dashboard", self.app)
        worker = dashboard.run_worker(dashboard.goto_targets, thread=True)
        self.targets = await worker.wait()

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        dashboard = cast("Dashboard", self.app)
        for kind, label, value in self.targets:
            text = f"go to {kind}: {first_line(label, 80)}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(text), partial(dashboard.go_to, kind, value), text=text
                )

    async def discover(self) -> Hits:
        dashboard = cast("Dashboard", self.app)
        for kind, label, value in self.targets[:20]:
            text = f"go to {kind}: {first_line(label, 80)}"
            yield DiscoveryHit(text, partial(dashboard.go_to, kind, value), text=text)


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

    def _actions(self) -> list[tuple[str, Callable[[], Any], str]]:
        dashboard = cast("Dashboard", self.app)
        return dashboard.palette_actions(self.screen)
