"""The overdue invoices and the SLA figures: read on their own timer, shown when they change."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from unittest.mock import patch

from sqlalchemy import Engine

from core.config.settings import Settings
from tests.support import MovableClock
from tests.tui.test_dashboard import main_screen, make_app, until
from tui.panels.invoices import InvoicesPanel
from tui.panels.sla import SlaPanel
from tui.sources.backend import Backend
from tui.sources.watch import SlaFigures, sla_figures


async def test_figures_read_as_they_were_are_not_drawn_again(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    # Each refill laid the whole screen out and drew both panels again, once a
    # minute at least, whatever key was being pressed then.
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        sla, invoices = screen.query_one(SlaPanel), screen.query_one(InvoicesPanel)
        await until(pilot, lambda: sla.figures is not None and bool(invoices.invoices))
        reads: list[SlaFigures] = []
        shown: list[str] = []

        def reading(backend: Backend, now: datetime) -> SlaFigures:
            reads.append(sla_figures(backend, now))
            return reads[-1]

        def showing(name: str) -> Any:
            return lambda *_args: shown.append(name)

        with (
            patch("tui.screens.main.sla_figures", reading),
            patch.object(SlaPanel, "show", showing("sla")),
            patch.object(InvoicesPanel, "show", showing("invoices")),
        ):
            for count in (1, 2):
                screen._figures_due.set()
                await until(pilot, lambda count=count: len(reads) == count)  # type: ignore[misc]
                await pilot.pause(0.2)
                if count == 1:  # the worker's first read: nothing sent before by it
                    assert sorted(shown) == ["invoices", "sla"]
                    shown.clear()
            clock.advance(minutes=1)  # the SLA reports' periods move, not what they show
            screen._figures_due.set()
            await until(pilot, lambda: len(reads) == 3)
            await pilot.pause(0.2)

        assert shown == []
