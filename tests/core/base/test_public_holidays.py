"""Public holidays kept between starts: the same dates as the holidays package, found
again by the next process without it, and whatever the file holds, never a wrong
answer or a failure: a file that cannot be used is worked out again."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import holidays
import pytest

from core.base.public_holidays import FILE_NAME, HolidayBook, check_place, holiday_dates

ROOT = Path(__file__).resolve().parents[3]


def package_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


@pytest.mark.parametrize(("country", "subdivision"), [("FR", None), ("FR", "57"), ("DE", "BY")])
def test_the_dates_are_the_holidays_package_s_and_the_next_book_reads_them_back(
    tmp_path: Path, country: str, subdivision: str | None
) -> None:
    path = tmp_path / FILE_NAME
    first = HolidayBook(path)
    found = {year: first.dates((country, subdivision), year) for year in (2026, 2027)}
    assert found == {year: package_dates(country, subdivision, year) for year in (2026, 2027)}
    assert path.exists()
    again = HolidayBook(path)
    assert {year: again.dates((country, subdivision), year) for year in (2026, 2027)} == found


def test_alsace_has_its_own_holidays() -> None:
    # The subdivision is part of the key: Good Friday is a holiday in Moselle alone.
    assert date(2026, 4, 3) in holiday_dates("FR", "57", 2026)
    assert date(2026, 4, 3) not in holiday_dates("FR", None, 2026)


KEPT_AND_ASKED = """
import json, sys
from pathlib import Path
from core.base.public_holidays import HolidayBook
book = HolidayBook(Path(sys.argv[1]))
book.check(("FR", None))
dates = sorted(day.isoformat() for day in book.dates(("FR", None), 2026))
print(json.dumps({"dates": dates, "package": "holidays" in sys.modules}))
"""


def asked_in_a_new_process(path: Path) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", KEPT_AND_ASKED, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    answer: dict[str, object] = json.loads(completed.stdout)
    return answer


def test_a_process_finding_them_kept_does_not_load_the_package(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    expected = sorted(day.isoformat() for day in package_dates("FR", None, 2026))
    # The first process works them out; the next reads them.
    assert asked_in_a_new_process(path) == {"dates": expected, "package": True}
    assert asked_in_a_new_process(path) == {"dates": expected, "package": False}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b'{"library": null}',
        b'{"library": "x", "known": [], "years": []}',  # kept under another key
        b"\xff\xfe",
    ],
)
def test_a_file_that_cannot_be_used_is_worked_out_again_and_written_anew(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / FILE_NAME
    path.write_bytes(content)
    assert HolidayBook(path).dates(("FR", None), 2026) == package_dates("FR", None, 2026)
    assert HolidayBook(path).dates(("FR", None), 2026) == package_dates("FR", None, 2026)
    assert json.loads(path.read_bytes())["years"][0]["year"] == 2026


def test_a_file_with_broken_entries_is_set_aside_whole(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    HolidayBook(path).dates(("FR", None), 2026)
    kept = json.loads(path.read_bytes())
    for broken in ([["FR"]], [[1, None]], [["FR", 5]]):
        kept["known"] = broken
        path.write_text(json.dumps(kept))
        assert HolidayBook(path).dates(("FR", None), 2026) == package_dates("FR", None, 2026)
    kept["years"][0]["dates"] = ["2026-13-01"]
    path.write_text(json.dumps(kept))
    assert HolidayBook(path).dates(("FR", None), 2026) == package_dates("FR", None, 2026)


def test_the_package_s_upgrade_sets_the_kept_dates_aside(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    HolidayBook(path).dates(("FR", None), 2026)
    kept = json.loads(path.read_bytes())
    kept["library"][2] -= 1  # the package's main file written at another time
    kept["years"][0]["dates"] = ["2026-06-15"]
    path.write_text(json.dumps(kept))
    assert HolidayBook(path).dates(("FR", None), 2026) == package_dates("FR", None, 2026)


@pytest.mark.parametrize(("place", "named"), [(("XX", None), "'XX'"), (("FR", "ZZ"), "'FR/ZZ'")])
def test_an_unknown_place_is_refused_by_name_every_time_and_never_kept(
    tmp_path: Path, place: tuple[str, str | None], named: str
) -> None:
    path = tmp_path / FILE_NAME
    for _ in range(2):
        book = HolidayBook(path)
        with pytest.raises(ValueError, match=named):
            book.check(place)
        with pytest.raises(ValueError, match=named):
            book.dates(place, 2026)
    assert not path.exists()


def test_a_cache_that_cannot_be_written_costs_only_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a file"
    blocked.write_text("")
    book = HolidayBook(blocked / FILE_NAME)  # its folder cannot be made
    with caplog.at_level(logging.INFO, logger="core.base.public_holidays"):
        assert book.dates(("FR", None), 2026) == package_dates("FR", None, 2026)
    assert "could not be kept" in caplog.text


def test_the_book_in_use_is_that_of_the_cache_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    check_place("FR", None)
    holiday_dates("FR", None, 2026)
    kept = json.loads((tmp_path / "cache" / "pmdesk" / FILE_NAME).read_bytes())
    assert kept["known"] == [["FR", None]]
    assert [entry["year"] for entry in kept["years"]] == [2026]


def test_threads_asking_at_once_each_get_their_year_and_the_file_keeps_them_all(
    tmp_path: Path,
) -> None:
    path = tmp_path / FILE_NAME
    book = HolidayBook(path)
    years = list(range(2000, 2040))
    start = threading.Barrier(8)
    found: dict[int, frozenset[date]] = {}

    def ask(first: int) -> None:
        start.wait()
        for year in years[first::8]:
            found[year] = book.dates(("FR", None), year)

    workers = [threading.Thread(target=ask, args=(first,)) for first in range(8)]
    # The threads take turns as often as Python lets them, so that one adds a
    # year while another writes the file.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert found == {year: package_dates("FR", None, year) for year in years}
    kept = json.loads(path.read_bytes())
    assert [entry["year"] for entry in kept["years"]] == years
