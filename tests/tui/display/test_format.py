"""Times and amounts in the agency's locale and time zone, fr_FR and en_US."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import humanize
import pytest
from babel import UnknownLocaleError
from babel.numbers import format_currency

from core.base import i18n
from tui.display.format import Formatter, humanize_locale

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 23, 13, 5, 30, tzinfo=UTC)  # 14:05 in Paris, 08:05 in New York
NNBSP = "\u202f"  # CLDR's group separator in French
NBSP = "\xa0"  # and the space before the currency sign


@pytest.fixture
def fr() -> Formatter:
    return Formatter("fr_FR", PARIS)


@pytest.fixture
def en() -> Formatter:
    return Formatter("en_US", NEW_YORK)


@pytest.mark.parametrize(
    ("seconds", "english", "french"),
    [
        (900, "15m00s", "15 min 00 s"),
        (899.4, "14m59s", "14 min 59 s"),
        (363, "6m03s", "6 min 03 s"),
        (7, "7s", "7 s"),
        (0, "0s", "0 s"),
        (0.9, "0s", "0 s"),
        (-0.1, "-1s", "-1 s"),
        (-133, "-2m13s", "-2 min 13 s"),
        (3723, "1h02m", "1 h 02 min"),
        (-3723, "-1h02m", "-1 h 02 min"),
        (36_000, "10h00m", "10 h 00 min"),
        (-(10 * 86_400 + 4 * 3600 + 59 * 60), "-10d04h", "-10 j 04 h"),
    ],
)
def test_a_duration_reads_as_a_duration_in_each_language(
    seconds: float, english: str, french: str
) -> None:
    """Never like a clock time ("6:03"); the sign turns the instant a clock breaches."""
    i18n.activate("en_GB")
    try:
        assert Formatter.duration(seconds) == english
        i18n.activate("fr_FR")
        assert Formatter.duration(seconds) == french
        assert ":" not in french
    finally:
        i18n.activate("en_US")


def test_ago_and_until_in_french(fr: Formatter) -> None:
    assert fr.ago(NOW - timedelta(minutes=3), NOW) == "il y a 3 minutes"
    assert fr.until(NOW + timedelta(minutes=12), NOW) == "dans 12 minutes"
    assert fr.ago(NOW - timedelta(hours=2), NOW) == "il y a 2 heures"


def test_ago_and_until_in_english(en: Formatter) -> None:
    assert en.ago(NOW - timedelta(minutes=3), NOW) == "3 minutes ago"
    assert en.until(NOW + timedelta(minutes=12), NOW) == "12 minutes from now"
    assert en.ago(NOW, NOW) == "now"


def test_a_thread_s_relative_times_switch_the_language_once(
    fr: Formatter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A thread's page says how long ago each of its events was: humanize's
    # language is switched once for the page, not once an event.
    switched: list[str | None] = []
    activate = humanize.i18n.activate
    monkeypatch.setattr(
        humanize.i18n, "activate", lambda locale: switched.append(locale) or activate(locale)
    )
    instants = [NOW - timedelta(minutes=3), NOW - timedelta(hours=2), NOW + timedelta(minutes=12)]

    words = fr.ago_each(instants, NOW)

    assert words == ["il y a 3 minutes", "il y a 2 heures", "dans 12 minutes"]
    assert len(switched) == 1
    assert humanize.naturaldelta(timedelta(minutes=3)) == "3 minutes"  # and switched back


def test_instants_in_other_zones_compare_as_instants(fr: Formatter) -> None:
    three_minutes_ago = (NOW - timedelta(minutes=3)).astimezone(NEW_YORK)
    assert fr.ago(three_minutes_ago, NOW.astimezone(PARIS)) == "il y a 3 minutes"


def test_no_activation_leaks(fr: Formatter, en: Formatter) -> None:
    fr.ago(NOW - timedelta(minutes=3), NOW)
    assert en.ago(NOW - timedelta(minutes=3), NOW) == "3 minutes ago"
    assert humanize.naturaldelta(timedelta(minutes=3)) == "3 minutes"
    assert fr.ago(NOW - timedelta(minutes=3), NOW) == "il y a 3 minutes"


def test_formatters_in_other_threads_keep_their_language(fr: Formatter) -> None:
    seen: list[str] = []
    worker = threading.Thread(target=lambda: seen.append(fr.ago(NOW - timedelta(minutes=1), NOW)))
    worker.start()
    worker.join()
    assert seen == ["il y a une minute"]


@pytest.mark.parametrize(
    ("locale", "catalogue"),
    [("fr_FR", "fr_FR"), ("fr_CA", "fr_FR"), ("fr", "fr_FR"), ("en_US", None), ("en_GB", None)],
)
def test_humanize_catalogue_by_language(locale: str, catalogue: str | None) -> None:
    assert humanize_locale(locale) == catalogue


def test_a_locale_humanize_lacks_falls_back_to_english() -> None:
    # Babel knows Welsh; humanize ships no catalogue for it.
    assert humanize_locale("cy_GB") is None
    assert Formatter("cy_GB", PARIS).ago(NOW - timedelta(minutes=3), NOW) == "3 minutes ago"


def test_an_unknown_locale_fails_at_once() -> None:
    with pytest.raises(UnknownLocaleError):
        Formatter("xx_YY", PARIS)


def test_money_in_french(fr: Formatter) -> None:
    amount = Decimal("1234.50")
    assert fr.money(amount, "EUR") == f"1{NNBSP}234,50{NBSP}€"
    assert fr.money(amount, "EUR") == format_currency(amount, "EUR", locale="fr_FR")


def test_money_in_english(en: Formatter) -> None:
    assert en.money(Decimal("1234.5"), "EUR") == "€1,234.50"
    assert en.money(Decimal("-1234.5"), "USD") == "-$1,234.50"


def test_date(fr: Formatter, en: Formatter) -> None:
    assert fr.date(date(2026, 11, 23)) == "23 nov. 2026"
    assert en.date(date(2026, 11, 23)) == "Nov 23, 2026"


def test_date_of_an_instant_is_the_agency_day(fr: Formatter) -> None:
    late_evening_utc = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # already the 24th in Paris
    assert fr.date(late_evening_utc) == "24 nov. 2026"


def test_time_is_local_and_24_hour(fr: Formatter, en: Formatter) -> None:
    assert fr.time(NOW) == "14:05"
    assert en.time(NOW) == "08:05"


def test_time_follows_daylight_saving() -> None:
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert Formatter("fr_FR", PARIS).time(summer) == "14:00"


def test_datetime(fr: Formatter, en: Formatter) -> None:
    assert fr.datetime(NOW) == "23 nov. 2026 14:05"
    assert en.datetime(NOW) == "Nov 23, 2026 08:05"
