"""The interface's language: its words from gettext catalogs, its durations.

The words the dashboard and the command line show are written in English in
the code and translated through the `pmdesk` gettext catalogs shipped in
`pmdesk.data` (locale/<language>/LC_MESSAGES/pmdesk.mo, compiled from the .po
beside it). `activate(locale)` chooses the catalog once, when the dashboard or
a command starts with its configuration; until then, and for a language with
no catalog, the words stay in English. The catalog is read when the first
word is translated: a command that prints JSON never reads it.

Words that must exist before the locale is known (key descriptions, column
names declared at import) are marked with `N_`, which only marks them for
extraction; whoever draws them translates them with `gettext` at that moment.

A duration is written one way everywhere, never like a clock time:
"7 s", "6 min 03 s", "1 h 02 min" in French, "7s", "6m03s", "1h02m" in English.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gettext as _gettext

DOMAIN = "pmdesk"
RESOURCES = "pmdesk.data"
# The languages whose catalogs are shipped; English is also the code's own.
LANGUAGES = ("en", "fr")
HOURS_A_DAY = 24

# The catalog in use (None: the code's own English words, the start) and the
# locale whose catalog is to be read when the next word is translated.
_active: _gettext.NullTranslations | None = None
_pending: str | None = None
_locale = "en_US"


def language_of(locale: str) -> str:
    """The language part of a locale name: fr_FR, fr-CA, fr_FR.UTF-8 and fr all read "fr"."""
    return locale.replace("-", "_").split(".")[0].split("_")[0].lower()


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The catalog for `locale`'s language; English (the code's own words) without one.

    The compiled .mo is read with the standard library, which Babel's
    Translations extends: every command pays for this, and importing Babel's
    support module would cost it 40 ms more.
    """
    import gettext as _gettext
    import importlib.resources

    language = language_of(locale)
    if language not in LANGUAGES:
        return _gettext.NullTranslations()
    catalog = importlib.resources.files(RESOURCES) / "locale" / language / "LC_MESSAGES"
    with (catalog / f"{DOMAIN}.mo").open("rb") as handle:
        return _gettext.GNUTranslations(handle)


def activate(locale: str) -> None:
    """Speak `locale`'s language from now on (the dashboard's, the command's)."""
    global _pending, _locale
    _pending = _locale = locale


def _catalog() -> _gettext.NullTranslations:
    """The active locale's catalog, read on first use (English if it cannot be read)."""
    global _active, _pending
    if _pending is not None:
        try:
            _active = translations(_pending)
        except OSError:
            _active = None  # a catalog missing from the installation: the code's own words
        _pending = None
    if _active is None:
        import gettext as _gettext

        _active = _gettext.NullTranslations()
    return _active


def locale() -> str:
    """The active locale, for Babel's dates and numbers in the same language as the words."""
    return _locale


def gettext(message: str) -> str:
    """`message` in the active language."""
    return _catalog().gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural of a message in the active language, for `count`."""
    return _catalog().ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Mark `message` for the catalogs without translating it now."""
    return message


_ = gettext


def duration(seconds: float) -> str:
    """A length of time, in the active language: "6m03s", "-2m13s", "1h02m", "7s".

    Whole seconds are floored, so the sign turns at the very instant a clock
    breaches (a clock is breached once now > due_at, i.e. any time left < 0).
    From an hour on, the seconds are left out, and from a day on the minutes:
    they only add noise ("-10d04h" for a clock forgotten over a week-end).
    """
    whole = math.floor(seconds)
    sign = "-" if whole < 0 else ""
    hours, rest = divmod(abs(whole), 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= HOURS_A_DAY:
        days, hours = divmod(hours, HOURS_A_DAY)
        # Translators: days and hours of a duration, hours on two digits.
        text = _("{days}d{hours:02d}h").format(days=days, hours=hours)
    elif hours:
        # Translators: hours and minutes of a duration, minutes on two digits.
        text = _("{hours}h{minutes:02d}m").format(hours=hours, minutes=minutes)
    elif minutes:
        # Translators: minutes and seconds of a duration, seconds on two digits.
        text = _("{minutes}m{seconds:02d}s").format(minutes=minutes, seconds=secs)
    else:
        # Translators: seconds of a duration under a minute.
        text = _("{seconds}s").format(seconds=secs)
    return sign + text
