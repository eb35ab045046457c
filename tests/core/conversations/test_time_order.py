"""The instant of a line found without decoding it, for storing a file in time order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from core.conversations.time_order import UNKNOWN, occurred_seconds
from tests.support import make_event

instants = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2098, 12, 31)).map(
    lambda moment: moment.replace(tzinfo=UTC)
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    instant=instants,
    offset=offsets,
    text=st.text(),
    order=st.permutations(["id", "occurred_at", "text", "task", "kind"]),
    spaces=st.booleans(),
)
def test_the_instant_is_found_whatever_the_text_and_the_order_of_keys(
    instant: datetime, offset: timezone, text: str, order: list[str], spaces: bool
) -> None:
    event = make_event("m1", 0, text=f'"occurred_at": "1999-01-01T00:00:00+00:00" {text}')
    event["occurred_at"] = instant.astimezone(offset).isoformat()
    event["task"]["title"] = '{"occurred_at": "2000-01-01T00:00:00Z"}'
    reordered = {key: event[key] for key in order} | event
    separators = (", ", ": ") if spaces else (",", ":")
    for ensure_ascii in (True, False):
        line = json.dumps(reordered, separators=separators, ensure_ascii=ensure_ascii)

        assert occurred_seconds(line.encode()) == instant.timestamp()


def test_a_line_without_a_readable_instant_goes_first() -> None:
    lines = [
        b"{oops",
        b'{"id": "m1"}',
        b'{"occurred_at": 1700000000}',
        b'{"occurred_at": "yesterday"}',
        b'{"occurred_at": "2026-11-23T09:00:00',
        b'{"occurred_at"',
        b'{"occurred_at": "2026-11-23T09:00:00\xff"}',
    ]

    assert [occurred_seconds(line) for line in lines] == [UNKNOWN] * len(lines)
