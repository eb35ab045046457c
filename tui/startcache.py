"""What the dashboard's start works out the same way every time, kept for the next start.

Before its first frame, every start parsed the stylesheet (pmdesk.tcss and
the default CSS of each widget on the first screen: 16 to 25 ms of CPU) and
read the locale's CLDR data for its dates and amounts (Babel unpickles and
merges three files, 9 to 14 ms with the global data it reads on the way).
Neither changes from one start to the next. Kept in one file in the user's
cache directory, both are read back in about 4 ms (docs/benchmarks.md,
dashboard round 25).

What the kept objects mean rests on the stylesheet's sources and variables,
the locale, Python and the versions of Textual and Babel: each is part of the
key, and a file kept under another key, or not readable, is set aside and
written again once the first screenful is shown. The file is the user's own,
like the configuration, and holds nothing of the agency's data.
"""

from __future__ import annotations

import logging
import pickle
import sys
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from babel import Locale, localedata
from textual.css import model, parse, styles
from textual.css.stylesheet import Stylesheet

from core.base.paths import installed_file, write_atomically

log = logging.getLogger(__name__)

# Changed whenever what the file holds changes shape.
FORMAT = 1

FILE_NAME = "dashboard-start.pickle"


def _libraries() -> tuple[Hashable, ...] | None:
    """Python, and the files of the parser and of the locale data's loader: an upgrade of
    Textual or Babel writes them anew (asking either for its version costs milliseconds
    of package metadata). None where those files cannot be looked at (a zipped
    install): nothing is kept then."""
    found: list[Hashable] = [FORMAT, sys.version]
    for module in (parse, model, styles, localedata):
        stamp = installed_file(module.__file__)
        if stamp is None:
            return None
        found.append(stamp)
    return tuple(found)


class StartCache:
    """The parsed stylesheet and the locale's data of the previous start, if still valid."""

    def __init__(self, path: Path, locale: str) -> None:
        self.path = path
        # Babel's name for it ("fr_FR"), the key of its own cache of locale data.
        self.locale = str(Locale.parse(locale))
        self._libraries = _libraries()
        self._kept: dict[str, Any] = {}
        if self._libraries is None:
            return
        try:
            with path.open("rb") as file:
                kept = pickle.load(file)
        except FileNotFoundError:
            return
        except Exception:  # cut short, or from another version: written again
            log.info("the dashboard's start cache could not be read", exc_info=True)
            return
        if isinstance(kept, dict) and kept.get("libraries") == self._libraries:
            self._kept = kept

    def prime(self, stylesheet: Stylesheet) -> None:
        """Hand the kept rules and locale data to Textual's and Babel's own caches.

        Textual's cache of parsed sources is keyed by each source's text and
        place, and Babel's by the locale's name: a source changed since is
        parsed as before. Rules parsed with other variables (another theme)
        are left out.
        """
        if self._kept.get("variables") == stylesheet._variables:
            for key, rules in self._kept.get("rules", {}).items():
                stylesheet._parse_cache[key] = rules
        data = self._kept.get("locale", {}).get(self.locale)
        if data is not None:
            with localedata._cache_lock:
                localedata._cache.setdefault(self.locale, data)

    def keep(self, stylesheet: Stylesheet) -> None:
        """Write what this start parsed and read, unless the file already holds it."""
        cache = stylesheet._parse_cache
        rules = {key: cache.get(key) for key in list(cache.keys())}
        data = localedata._cache.get(self.locale)
        locale = {} if data is None else {self.locale: data}
        kept = self._kept
        if self._libraries is None or (
            kept.get("variables") == stylesheet._variables
            and rules.keys() <= kept.get("rules", {}).keys()
            and locale.keys() <= kept.get("locale", {}).keys()
        ):
            return
        found = {
            "libraries": self._libraries,
            "variables": dict(stylesheet._variables),
            "rules": rules,
            "locale": locale,
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Whole or not at all (another start reads the old file or the new
            # one), and its owner's only: a start loads it as Python objects.
            write_atomically(
                self.path, pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL), durable=False
            )
        except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
            log.info("the dashboard's start cache could not be written", exc_info=True)
            return
        self._kept = found
