"""Which threads the read-ahead worker reads, and in what order (tui/sources/pages.py)."""

from __future__ import annotations

from rich.text import Text

from tui.sources.pages import Pages, ThreadPage


def read_all(pages: Pages) -> list[int]:
    """What a worker would read from now on, keeping each page as it goes."""
    read = []
    while (wanted := pages.next_wanted()) is not None:
        thread_id, generation = wanted
        read.append(thread_id)
        pages.keep(ThreadPage(thread_id, None, Text(), Text()), generation)
    return read


def test_the_rows_next_to_the_cursor_are_read_after_its_own() -> None:
    pages = Pages()
    assert pages.want(5, (6, 4))
    assert read_all(pages) == [5, 6, 4]
    # Those read lately are not read again; a move on reads only the new neighbour.
    assert pages.want(6, (7, 5))
    assert read_all(pages) == [7]
    assert not pages.want(6, (7, 5))  # nothing left to read: no worker


def test_a_move_replaces_the_neighbours_not_yet_read() -> None:
    pages = Pages()
    assert pages.want(5, (6, 4))
    assert not pages.want(9, (10, 8))  # a worker is already reading
    assert read_all(pages) == [9, 10, 8]


def test_a_thread_under_way_is_not_read_twice_and_its_neighbours_stay_wanted() -> None:
    # Enter on a row whose page is being read: the thread view asks for it
    # again; it is not read a second time, and the rows next to it, which the
    # cursor asked for, are still read after it.
    pages = Pages()
    assert pages.want(5, (6, 4))
    wanted = pages.next_wanted()
    assert wanted is not None and wanted[0] == 5
    assert not pages.want(5)
    pages.keep(ThreadPage(5, None, Text(), Text()), wanted[1])
    assert read_all(pages) == [6, 4]


def test_a_thread_under_way_when_the_data_change_is_read_again() -> None:
    pages = Pages()
    assert pages.want(5)
    wanted = pages.next_wanted()
    assert wanted is not None
    pages.forget()  # something was committed while it was read
    assert not pages.want(5)
    assert not pages.keep(ThreadPage(5, None, Text(), Text()), wanted[1])
    assert read_all(pages) == [5]
