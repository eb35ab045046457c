"""Days given on the command line."""

from __future__ import annotations

from datetime import date, datetime

from core.base.i18n import gettext
from pmdesk.context import Failure


def parse_day(text: str) -> date:
    """A date from the command line: YYYY-MM-DD or DD.MM.YYYY; a clear failure otherwise."""
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    raise Failure(gettext("{text!r} is not a date (YYYY-MM-DD)").format(text=text))
