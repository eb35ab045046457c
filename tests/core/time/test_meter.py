"""The dashboard's measure of the time spent on threads, on a clock moved by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from core.time.meter import OwnTimeMeter, day_parts
from tests.support import MovableClock

PARIS = ZoneInfo("Europe/Paris")
# 10:00 in Paris.
MORNING = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
DAY = date(2026, 11, 16)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(MORNING)


@pytest.fixture
def meter(clock: MovableClock) -> OwnTimeMeter:
    return OwnTimeMeter(clock, PARIS)


def typing(meter: OwnTimeMeter, clock: MovableClock, seconds: int, every: int = 10) -> None:
    """Inputs every `every` seconds for `seconds` seconds."""
    for _ in range(seconds // every):
        clock.advance(seconds=every)
        meter.input()


def test_an_open_thread_with_inputs_counts_every_second(
    meter: OwnTimeMeter, clock: MovableClock
) -> None:
    meter.show(7)
    typing(meter, clock, 120)
    meter.show(None)
    assert meter.take() == {(7, DAY): 120.0}


def test_idle_over_a_minute_ends_the_span_a_minute_after_the_last_input(
    meter: OwnTimeMeter, clock: MovableClock
) -> None:
    meter.show(7)
    typing(meter, clock, 30)  # the last input at 30 s
    clock.advance(minutes=10)  # away: only the minute after the last input counts
    assert meter.due()  # gone idle: worth writing now
    assert meter.take() == {(7, DAY): 90.0}
    meter.input()  # back: a new span from now
    typing(meter, clock, 20)
    meter.show(None)
    assert meter.take() == {(7, DAY): 20.0}


def test_a_gap_of_exactly_a_minute_is_not_idle(meter: OwnTimeMeter, clock: MovableClock) -> None:
    meter.show(7)
    clock.advance(seconds=60)
    meter.input()
    clock.advance(seconds=60)
    meter.input()
    meter.show(None)
    assert meter.take() == {(7, DAY): 120.0}


def test_reading_without_a_key_counts_a_minute_at_most(
    meter: OwnTimeMeter, clock: MovableClock
) -> None:
    meter.show(7)
    clock.advance(minutes=5)
    meter.show(None)
    assert meter.take() == {(7, DAY): 60.0}


def test_a_reply_being_written_counts_while_the_terminal_has_lost_the_focus(
    meter: OwnTimeMeter, clock: MovableClock
) -> None:
    meter.show(7)
    clock.advance(seconds=10)
    meter.show(7, writing=True)  # the reply box opens
    typing(meter, clock, 30)
    meter.focus(False)  # looks something up in the browser...
    clock.advance(seconds=40)
    meter.focus(True)  # ...and comes back within the minute
    typing(meter, clock, 30)
    meter.show(None)
    assert meter.take() == {(7, DAY): 110.0}


def test_the_terminal_unfocused_stops_the_count_when_nothing_is_being_written(
    meter: OwnTimeMeter, clock: MovableClock
) -> None:
    meter.show(7)
    typing(meter, clock, 30)
    meter.focus(False)
    clock.advance(minutes=20)
    meter.input()  # the terminal may pass the mouse on unfocused: still not counted
    clock.advance(minutes=1)
    meter.focus(True)
    typing(meter, clock, 10)
    meter.show(None)
    assert meter.take() == {(7, DAY): 40.0}


def test_an_unfocused_reply_still_ends_a_minute_after_the_last_input(
    meter: OwnTimeMeter, clock: MovableClock
) -> None:
    meter.show(7, writing=True)
    typing(meter, clock, 20)
    meter.focus(False)
    clock.advance(minutes=30)
    meter.show(None)
    assert meter.take() == {(7, DAY): 80.0}


def test_two_threads_each_get_their_own_time(meter: OwnTimeMeter, clock: MovableClock) -> None:
    meter.show(7)
    typing(meter, clock, 60)
    meter.show(8)  # straight to another thread
    typing(meter, clock, 30)
    meter.show(7)
    typing(meter, clock, 10)
    meter.show(None)
    assert meter.take() == {(7, DAY): 70.0, (8, DAY): 30.0}


def test_a_span_across_local_midnight_goes_to_both_days(clock: MovableClock) -> None:
    clock.instant = datetime(2026, 11, 16, 22, 59, tzinfo=UTC)  # 23:59 in Paris
    meter = OwnTimeMeter(clock, PARIS)
    meter.show(7)
    typing(meter, clock, 120)
    meter.show(None)
    assert meter.take() == {(7, DAY): 60.0, (7, date(2026, 11, 17)): 60.0}


def test_day_parts_cut_at_each_midnight_even_when_the_clocks_change() -> None:
    start = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)  # 23:00 in Paris, summer time
    end = datetime(2026, 10, 26, 0, 0, tzinfo=UTC)  # 01:00 in Paris, winter time
    assert day_parts(start, end, PARIS) == [
        (date(2026, 10, 24), 3600.0),
        (date(2026, 10, 25), 25 * 3600.0),  # the day the clocks go back
        (date(2026, 10, 26), 3600.0),
    ]


def test_writes_are_batched_not_one_per_key(meter: OwnTimeMeter, clock: MovableClock) -> None:
    meter.show(7)
    for _ in range(200):  # 200 keys in 100 s: never due on its own
        clock.advance(seconds=0.5)
        meter.input()
        assert not meter.due()
    typing(meter, clock, 190)
    assert not meter.due()
    typing(meter, clock, 10)  # 5 minutes of work since the start, input all along
    assert meter.due()  # written every 5 minutes while working
    assert meter.take() == {(7, DAY): 300.0}
    typing(meter, clock, 60)
    assert not meter.due()


def test_a_batch_that_could_not_be_written_is_kept(
    meter: OwnTimeMeter, clock: MovableClock
) -> None:
    meter.show(7)
    typing(meter, clock, 60)
    meter.show(None)
    batch = meter.take()
    meter.give_back(batch)
    meter.show(8)
    typing(meter, clock, 10)
    meter.stop()
    assert meter.take() == {(7, DAY): 60.0, (8, DAY): 10.0}


def test_exit_counts_up_to_now_and_no_further(meter: OwnTimeMeter, clock: MovableClock) -> None:
    meter.show(7)
    typing(meter, clock, 30)
    meter.stop()
    clock.advance(minutes=5)
    meter.input()
    assert meter.take() == {(7, DAY): 30.0}
    assert meter.take() == {}
