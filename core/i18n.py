"""The interface's language: its words from gettext catalogs, its durations.

The words the dashboard and the command line show are written in English in
the code and translated through the `pmdesk` gettext catalogs shipped in
`pmdesk.data` (locale/<language>/LC_MESSAGES/pmdesk.mo, compiled from the .po
beside it). `activate(locale)` chooses the catalog once, when the dashboard or
a command starts with its configuration; until then, and for a language with
no catalog, the words stay in English.

Words that must exist before the locale is known (key descriptions, column
names declared at import) are marked with `N_`, which only marks them for
extraction; whoever draws them translates them with `gettext` at that moment.

A duration is written one way everywhere, never like a clock time:
"7 s", "6 min 03 s", "1 h 02 min" in French, "7s", "6m03s", "1h02m" in English.
"""

from __future__ import annotations

import importlib.resources
import math
from functools import cache

from babel import Locale
from babel.support import NullTranslations, Translations

DOMAIN = "pmdesk"
RESOURCES = "pmdesk.data"
# The languages whose catalogs are shipped; English is also the code's own.
LANGUAGES = ("en", "fr")

_active: NullTranslations = NullTranslations()
_locale = "en_US"


@cache
def translations(locale: str) -> NullTranslations:
    """The catalog for `locale` (fr_FR, fr_CA and fr all read French); English otherwise."""
    language = Locale.parse(locale).language
    if language not in LANGUAGES:
        return NullTranslations()
    folder = importlib.resources.files(RESOURCES) / "locale"
    with importlib.resources.as_file(folder) as path:
        return Translations.load(str(path), [language], DOMAIN)


def activate(locale: str) -> None:
    """Speak `locale`'s language from now on (the dashboard's, the command's)."""
    global _active, _locale
    _active = translations(locale)
    _locale = locale


def locale() -> str:
    """The active locale, for Babel's dates and numbers in the same language as the words."""
    return _locale


def gettext(message: str) -> str:
    """`message` in the active language."""
    return _active.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural of a message in the active language, for `count`."""
    return _active.ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Mark `message` for the catalogs without translating it now."""
    return message


_ = gettext


def duration(seconds: float) -> str:
    """A length of time, in the active language: "6m03s", "-2m13s", "1h02m", "7s".

    Whole seconds are floored, so the sign turns at the very instant a clock
    breaches (a clock is breached once now > due_at, i.e. any time left < 0).
    From an hour on, the seconds are left out: they only add noise.
    """
    whole = math.floor(seconds)
    sign = "-" if whole < 0 else ""
    hours, rest = divmod(abs(whole), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        # Translators: hours and minutes of a duration, minutes on two digits.
        text = _("{hours}h{minutes:02d}m").format(hours=hours, minutes=minutes)
    elif minutes:
        # Translators: minutes and seconds of a duration, seconds on two digits.
        text = _("{minutes}m{seconds:02d}s").format(minutes=minutes, seconds=secs)
    else:
        # Translators: seconds of a duration under a minute.
        text = _("{seconds}s").format(seconds=secs)
    return sign + text
