"""The review screen shows credits that nothing open fits, and lets them be rejected."""

from __future__ import annotations

from sqlalchemy import Engine
from textual.widgets import DataTable

from core.config.settings import Settings
from core.receivables.matching.matcher import match_new_lines
from tests.core.receivables.matching.test_matching import line
from tests.support import MovableClock
from tests.tui.panels.test_invoices import line_state, review_opened
from tests.tui.test_dashboard import make_app, until
from tui.screens.review import NO_CANDIDATE


async def test_a_credit_with_no_candidate_is_shown_marked_and_can_be_rejected(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    lonely = line(agency, clock(), 4321, "cadeau", "Someone Else")
    assert match_new_lines(agency, dashboard_settings.banks, clock()).unmatched == 1

    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        assert [line.id for line in screen.lines] == [lonely]
        lines = screen.query_one("#review-lines", DataTable)
        assert "Someone Else" in [cell.plain for cell in lines.get_row_at(0)]
        assert screen.query_one("#review-candidates", DataTable).row_count == 0
        assert screen.query_one("#review-candidates-box").border_subtitle == NO_CANDIDATE

        await pilot.press("x")
        await until(pilot, lambda: line_state(agency, lonely) == "rejected")
        await until(pilot, lambda: not screen.lines)
