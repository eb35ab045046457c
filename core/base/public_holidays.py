"""Public holidays by country and year, kept between starts.

Importing the holidays package and loading one country's rules takes 0.15
s in a bare interpreter (0.05 to 0.06 s of `pmdesk ingest`, where some of
what it imports is loaded anyway), and every process that builds a business
calendar paid it at its start: the services, every import and report, the
dashboard's workers (docs/benchmarks.md, ingest round 26). A country's holidays of a
year change only with the package, so the dates found are kept in one file
of the user's cache directory, under a key made of the package's main file:
an upgrade of the package finds them again. A file missing, unreadable or kept
under another key is set aside and written again with what this process
finds. The file holds dates of public holidays only, nothing of the
agency's data.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import date
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from core.base.paths import default_cache_path, installed_file, write_atomically

log = logging.getLogger(__name__)

FILE_NAME = "public-holidays.json"
# Changed whenever what the file holds changes shape.
FORMAT = 1

Place = tuple[str, str | None]  # a country's code and, if any, its subdivision's


def holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays of `year` in the country (and subdivision). ValueError if unknown."""
    return _book().dates((country, subdivision), year)


def check_place(country: str, subdivision: str | None) -> None:
    """ValueError, naming the place, unless public holidays are known for it."""
    _book().check((country, subdivision))


class HolidayBook:
    """The holidays of the places and years asked for, read from `path` or worked out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._library = _library()
        self._known: set[Place] = set()
        self._years: dict[tuple[Place, int], frozenset[date]] = {}
        # The services and the dashboard's workers work out business time on
        # several threads: one of them at a time adds to the book and writes it.
        self._lock = threading.Lock()
        if self._library is not None:
            self._read()

    def check(self, place: Place) -> None:
        if place in self._known:
            return
        with self._lock:
            if place not in self._known:
                _looked_up(place, ())
                self._known.add(place)
                self._write()

    def dates(self, place: Place, year: int) -> frozenset[date]:
        found = self._years.get((place, year))
        if found is not None:
            return found
        with self._lock:
            found = self._years.get((place, year))
            if found is None:
                found = self._years[place, year] = _looked_up(place, year)
                self._known.add(place)
                self._write()
        return found

    def _read(self) -> None:
        try:
            kept = json.loads(self.path.read_bytes())
            if kept["library"] != self._library:
                return
            known = {_place(entry) for entry in kept["known"]}
            years = {
                (_place(entry["place"]), int(entry["year"])): frozenset(
                    map(date.fromisoformat, entry["dates"])
                )
                for entry in kept["years"]
            }
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            log.info("the kept public holidays could not be read", exc_info=True)
            return
        self._known = known | {place for place, _ in years}
        self._years = years

    def _write(self) -> None:
        if self._library is None:
            return
        kept = {
            "library": self._library,
            "known": [list(place) for place in sorted(self._known, key=_by_place)],
            "years": [
                {
                    "place": list(place),
                    "year": year,
                    "dates": sorted(day.isoformat() for day in days),
                }
                for (place, year), days in sorted(self._years.items(), key=_by_place_and_year)
            ],
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, json.dumps(kept).encode(), durable=False)
        except OSError:
            log.info("the public holidays could not be kept", exc_info=True)


_books: dict[Path, HolidayBook] = {}
_books_lock = threading.Lock()


def _book() -> HolidayBook:
    """The book of the cache directory in force (tests give each their own)."""
    path = default_cache_path(FILE_NAME)
    book = _books.get(path)
    if book is None:
        with _books_lock:
            book = _books.get(path)
            if book is None:
                book = _books[path] = HolidayBook(path)
    return book


def _library() -> list[Any] | None:
    """What identifies the installed holidays package: its main file (see
    `installed_file`), found without importing it. None: nothing is kept."""
    spec = find_spec("holidays")
    stamp = installed_file(None if spec is None else spec.origin)
    return None if stamp is None else [FORMAT, *stamp]


def _looked_up(place: Place, years: int | tuple[()]) -> frozenset[date]:
    # Imported here: only a process meeting a place or a year not kept pays for it.
    import holidays

    country, subdivision = place
    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=years)
    except NotImplementedError as error:
        where = country if subdivision is None else f"{country}/{subdivision}"
        raise ValueError(f"no public holidays known for {where!r}: {error}") from None
    return frozenset(calendar.keys())


def _place(entry: Any) -> Place:
    country, subdivision = entry
    if not isinstance(country, str) or not isinstance(subdivision, str | None):
        raise TypeError(f"not a place: {entry!r}")
    return country, subdivision


def _by_place(place: Place) -> tuple[str, str]:
    return place[0], place[1] or ""


def _by_place_and_year(item: tuple[tuple[Place, int], frozenset[date]]) -> tuple[str, str, int]:
    place, year = item[0]
    return *_by_place(place), year
