"""The Reports page through Textual's pilot: preview, the introduction, send, skip and its undo."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable, Static, TextArea

import tui
from core.config.settings import ReportsConfig, Settings
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.reports.drafts import drafts, prepare
from core.reports.period import ReportPeriod
from tests.core.reports.week import NOW, build
from tui.screens.reports import IntroEditor, ReportsDesk, ReportsScreen

PARIS = ZoneInfo("Europe/Paris")
W48 = ReportPeriod.week("2026-W48")
STYLESHEET = Path(tui.__file__).parent / "pmdesk.tcss"


class ReportsApp(App[None]):
    CSS_PATH = STYLESHEET

    def __init__(self, desk: ReportsDesk) -> None:
        super().__init__()
        self.desk = desk

    def on_mount(self) -> None:
        self.push_screen(ReportsScreen(self.desk))


@pytest.fixture
def desk(engine: Engine, ingestor: Ingestor, settings: Settings, tmp_path: Path) -> ReportsDesk:
    build(ingestor)
    staff = add_staff(engine, "Alice Assistant", "assistant", ["alice@agency.example"], NOW)
    conf = settings.model_copy(
        update={
            "timezone": "Europe/Paris",
            "reports": ReportsConfig(folder=str(tmp_path / "drafts")),
        }
    )
    for client in ("Acme", "Bigco", "Crumb"):
        prepare(engine, client, W48, PARIS, NOW)
    return ReportsDesk(
        engine=lambda: engine,
        ingestor=lambda: ingestor,
        settings=lambda: conf,
        clock=lambda: NOW,
        staff=lambda: staff,
        tz=PARIS,
    )


async def settled(pilot: Pilot[None]) -> ReportsScreen:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ReportsScreen)
    return screen


def rows(screen: ReportsScreen) -> list[list[str]]:
    table = screen.query_one("#reports-table", DataTable)
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


def preview(screen: ReportsScreen) -> str:
    return str(screen.query_one("#reports-preview", Static).content)


async def test_preview_introduction_send_and_skip(
    desk: ReportsDesk, engine: Engine, tmp_path: Path
) -> None:
    app = ReportsApp(desk)
    async with app.run_test(size=(140, 50)) as pilot:
        screen = await settled(pilot)
        title = str(screen.query_one("#reports-title", Static).content)
        assert title == "Reports of 2026-W48 · 3 clients"
        assert rows(screen) == [
            ["Acme", "draft", "–", "–"],
            ["Bigco", "draft", "–", "–"],
            ["Crumb", "nothing to report", "–", "–"],
        ]
        assert "Homepage" in preview(screen)

        # The introduction, written and kept: the preview shows it first.
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, IntroEditor)
        app.screen.query_one(TextArea).text = "Bonjour Claire,\n\nVoici la semaine."
        await pilot.press("ctrl+s")
        screen = await settled(pilot)
        assert preview(screen).index("Voici la semaine.") < preview(screen).index("Homepage")

        # Sent through the email channel: a draft file, the row says so.
        await pilot.press("s")
        screen = await settled(pilot)
        assert rows(screen)[0][:3] == ["Acme", "sent", "email"]
        assert (tmp_path / "drafts" / "Acme-2026-W48.eml").exists()
        # Sent again: refused, nothing written twice.
        await pilot.press("s")
        screen = await settled(pilot)
        assert [path.name for path in (tmp_path / "drafts").iterdir()] == ["Acme-2026-W48.eml"]

        # Bigco skipped, then the skip taken back.
        await pilot.press("down")
        await pilot.press("k")
        screen = await settled(pilot)
        assert rows(screen)[1][:2] == ["Bigco", "skipped"]
        await pilot.press("k")
        screen = await settled(pilot)
        assert rows(screen)[1][:2] == ["Bigco", "draft"]

    assert {view.client: view.state for view in drafts(engine, W48)} == {
        "Acme": "sent",
        "Bigco": "draft",
        "Crumb": "nothing",
    }
