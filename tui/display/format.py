"""Times and money as the agency reads them: its locale, its time zone.

Relative times ("il y a 3 minutes") come from humanize, whose translation is
switched per thread by a global activation. A Formatter activates its locale
only for the duration of one call and deactivates it afterwards, so two
formatters with different locales never see each other's language, and code
that calls humanize directly always gets English.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date as Date
from datetime import datetime as DateTime
from datetime import timedelta
from decimal import Decimal
from functools import cache, lru_cache
from importlib import resources
from types import ModuleType
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.numbers import format_currency

from core.base.i18n import duration

PARIS = ZoneInfo("Europe/Paris")


@cache
def humanize_locale(locale: str) -> str | None:
    """The humanize translation for `locale`, or None for its English default.

    humanize ships territory-specific catalogues (fr_FR, de_DE), so fr_CA or a
    bare "fr" are matched to their language's catalogue rather than left in
    English.
    """
    language = Locale.parse(locale).language
    if language == "en":
        return None
    catalogues = resources.files("humanize") / "locale"
    for name in (locale, language, f"{language}_{language.upper()}"):
        if (catalogues / name / "LC_MESSAGES" / "humanize.mo").is_file():
            return name
    return None


@lru_cache(maxsize=4096)
def _medium_date(day: Date, locale: str) -> str:
    # A thread's events fall on a few days: Babel worked each date out anew,
    # the other fifth of a page's formatting.
    return format_date(day, "medium", locale=locale)


@contextmanager
def _humanize_in(locale: str | None) -> Iterator[ModuleType]:
    # Imported on the first relative time (a thread's events): the first screenful has none.
    import humanize

    humanize.i18n.activate(locale)
    try:
        yield humanize
    finally:
        humanize.i18n.deactivate()


class Formatter:
    """Human times, dates and amounts for one locale and one time zone."""

    def __init__(self, locale: str = "fr_FR", tz: ZoneInfo = PARIS) -> None:
        # Parsed now so that a misspelt locale fails at start-up, not mid-render.
        Locale.parse(locale)
        self.locale = locale
        self.tz = tz

    def ago(self, instant: DateTime, now: DateTime) -> str:
        """How long ago: "il y a 3 minutes" (a future instant reads "dans 3 minutes")."""
        return self.ago_each([instant], now)[0]

    def until(self, instant: DateTime, now: DateTime) -> str:
        """How long until: "dans 12 minutes" (a past instant reads "il y a 12 minutes")."""
        return self.ago_each([instant], now)[0]

    def ago_each(self, instants: Sequence[DateTime], now: DateTime) -> list[str]:
        """`ago` of each instant, humanize's language switched once for all of them
        (once per instant, the switching took a fifth of a thread page's formatting)."""
        with _humanize_in(humanize_locale(self.locale)) as humanize:
            # Timedeltas, not two datetimes: humanize would move aware datetimes to
            # the machine's zone, which is not necessarily the agency's.
            elapsed: list[timedelta] = [now - instant for instant in instants]
            return [str(humanize.naturaltime(each)) for each in elapsed]

    @staticmethod
    def duration(seconds: float) -> str:
        """A length of time in the active language, "6m03s" or "6 min 03 s" (core.base.i18n)."""
        return duration(seconds)

    def money(self, amount: Decimal, currency: str) -> str:
        """1 234,50 € in fr_FR (narrow no-break spaces, as CLDR has it), €1,234.50 in en_US."""
        return format_currency(amount, currency, locale=self.locale)

    def date(self, day: Date | DateTime) -> str:
        """23 nov. 2026 in fr_FR, Nov 23, 2026 in en_US; an instant is read in the agency's zone."""
        if isinstance(day, DateTime):
            day = day.astimezone(self.tz).date()
        return _medium_date(day, self.locale)

    def day_and_time(self, instant: DateTime) -> str:
        """22 nov. 14:05 in fr_FR, Nov 22 14:05 in en_US: an instant of another day, in short."""
        local = instant.astimezone(self.tz)
        return f"{format_skeleton('MMMd', local.date(), locale=self.locale)} {local:%H:%M}"

    def day_of(self, instant: DateTime) -> Date:
        """The agency's day at `instant`."""
        return instant.astimezone(self.tz).date()

    def time(self, instant: DateTime) -> str:
        """HH:MM on the agency's wall clock, 24-hour in every locale: columns stay aligned."""
        return instant.astimezone(self.tz).strftime("%H:%M")

    def datetime(self, instant: DateTime) -> str:
        """23 nov. 2026 14:05 in the agency's zone."""
        return f"{self.date(instant)} {self.time(instant)}"
