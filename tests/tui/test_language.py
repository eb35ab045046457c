"""The dashboard speaks the language of `locale`, and writes durations as the command line does."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import Engine

from core.config.settings import Settings
from tests.support import MovableClock
from tests.tui.test_dashboard import main_screen, make_app, until
from tui.panels.clocks import ClocksPanel
from tui.panels.sla import SlaPanel
from tui.screens.help import HelpScreen
from tui.widgets.keybar import KeyBar

# What each language shows on the main screen of the test agency (4 clocks,
# the first 8 minutes past due; a first answer after 4 minutes).
WORDS = {
    "en_GB": {
        "incoming": "Incoming",
        "invoices": "Overdue invoices",
        "clocks": "Clocks · 4 running · targets 10–15 min",
        "header": ["left", "reply", "target"],
        "late": "-8m00s",
        "first": "first",
        "median": "4m00s",
        "keys": "Help",
        "help": "pmdesk keys",
        "met": "100% met",
    },
    "fr_FR": {
        "incoming": "Arrivées",
        "invoices": "Factures en retard",
        "clocks": "Horloges · 4 en cours · délais 10–15 min",
        "header": ["reste", "réponse", "délai"],
        "late": "-8 min 00 s",
        "first": "1re",
        "median": "4 min 00 s",
        "keys": "Aide",
        "help": "Touches de pmdesk",
        "met": "100% tenus",
    },
}


def _clock_lines(panel: ClocksPanel) -> list[str]:
    width = panel.scrollable_content_region.width
    return [panel.render_line(y).text for y in range(3)] if width else []


@pytest.mark.parametrize("locale", sorted(WORDS))
async def test_the_dashboard_speaks_the_locale(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, locale: str
) -> None:
    words = WORDS[locale]
    settings = dashboard_settings.model_copy(update={"locale": locale})
    async with make_app(settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        assert screen.query_one("#incoming").border_title == words["incoming"]
        assert screen.query_one("#invoices").border_title == words["invoices"]
        clocks = screen.query_one(ClocksPanel)
        assert clocks.border_title == words["clocks"]
        header, first = _clock_lines(clocks)[:2]
        # The French times left are wider: the client's column gives way first.
        assert header.split()[:3] == words["header"][:3]
        assert first.strip().startswith(words["late"])
        assert f" {words['first']} " in first
        sla = screen.query_one(SlaPanel)
        await until(pilot, lambda: sla.figures is not None)
        assert sla.figures is not None
        assert words["met"] in sla._line(sla.figures).plain
        assert words["keys"] in screen.query_one(KeyBar).render().plain

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        assert words["help"] in str(pilot.app.screen.query_one(".modal-title").render())


@pytest.mark.parametrize("locale", sorted(WORDS))
async def test_a_duration_reads_the_same_on_the_dashboard_and_the_command_line(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, locale: str
) -> None:
    """The first answer's 4 minutes: the SLA panel's median and `pmdesk report sla`'s."""
    median = WORDS[locale]["median"]
    settings = dashboard_settings.model_copy(update={"locale": locale})
    async with make_app(settings, clock).run_test(size=(120, 40)) as pilot:
        sla = (await main_screen(pilot)).query_one(SlaPanel)
        await until(pilot, lambda: sla.figures is not None)
        assert sla._duration(sla.figures.today.overall.median_business_seconds) == median  # type: ignore[union-attr]

    environment = {key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")}
    day = clock().date().isoformat()
    result = subprocess.run(
        [sys.executable, "-m", "pmdesk", "report", "sla", "--since", day, "--until", day],
        env={**environment, "PMDESK_DB": settings.db, "PMDESK_LOCALE": locale, "COLUMNS": "200"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert median in result.stdout
