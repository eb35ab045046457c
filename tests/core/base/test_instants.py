"""The time helpers every part shares: local midnights and stored dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from core.base.instants import as_date, midnight


def test_midnight_is_the_local_start_of_the_day_even_when_the_clocks_change() -> None:
    paris = ZoneInfo("Europe/Paris")
    assert midnight(date(2026, 3, 29), paris).astimezone(UTC) == datetime(
        2026, 3, 28, 23, 0, tzinfo=UTC
    )
    assert midnight(date(2026, 3, 30), paris).astimezone(UTC) == datetime(
        2026, 3, 29, 22, 0, tzinfo=UTC
    )


def test_a_stored_date_is_read_from_its_iso_text_or_kept() -> None:
    assert as_date("2026-11-23") == as_date(date(2026, 11, 23)) == date(2026, 11, 23)
    with pytest.raises(ValueError):
        as_date("23/11/2026")
