"""Hostile events: what an adversary or a broken sender may post, next to valid ones.

Shared by the tests of ingestion, `pmdesk ingest`, the HTTP intake and the
fault suite. Each hostile line is a JSON text (or bytes) that must be
rejected on its own, whatever is next to it.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.support import make_event


def _event_text(number: int, **fields: Any) -> str:
    return json.dumps(make_event(f"hostile-{number}", 1, task=f"H{number}", **fields))


def _replace_id(number: int, literal: str) -> str:
    return _event_text(number).replace(f'"id": "hostile-{number}"', f'"id": {literal}', 1)


# Each maker takes a number (unique within a batch) and gives one hostile line.
HOSTILE: dict[str, Any] = {
    "year 9999": lambda n: _event_text(n, occurred_at="9999-12-31T23:59:59+00:00"),
    "year 1": lambda n: _event_text(n, occurred_at="0001-01-01T00:00:00+00:00"),
    "year 1 east of UTC": lambda n: _event_text(n, occurred_at="0001-01-01T00:00:00+14:00"),
    "year 9999 west of UTC": lambda n: _event_text(n, occurred_at="9999-12-31T23:59:59-14:00"),
    "deadline in year 1": lambda n: _event_text(
        n, kind="deadline", role="staff", deadline="0001-01-01T00:00:00+14:00"
    ),
    "id 1e400": lambda n: _replace_id(n, "1e400"),
    "id NaN": lambda n: _replace_id(n, "NaN"),
    "id -Infinity": lambda n: _replace_id(n, "-Infinity"),
    "id of 5000 digits": lambda n: _replace_id(n, "9" * 5000),
    "extra 5000 deep": lambda n: _event_text(n).replace(
        '"text":', '"extra": {"a": ' + "[" * 5000 + "]" * 5000 + '}, "text":', 1
    ),
    "extra 100 deep": lambda n: _event_text(n).replace(
        '"text":', '"extra": {"a": ' + "[" * 100 + "]" * 100 + '}, "text":', 1
    ),
    "extra holding NaN": lambda n: _event_text(n).replace(
        '"text":', '"extra": {"a": [NaN]}, "text":', 1
    ),
    "extra holding 1e400": lambda n: _event_text(n).replace(
        '"text":', '"extra": {"a": {"b": 1e400}}, "text":', 1
    ),
    "extra holding a 200-digit integer": lambda n: _event_text(n).replace(
        '"text":', '"extra": {"a": ' + "7" * 200 + '}, "text":', 1
    ),
    "text as Infinity": lambda n: _event_text(n, text="x").replace(
        '"text": "x"', '"text": Infinity', 1
    ),
    "task id 1e999": lambda n: _event_text(n).replace(f'"id": "H{n}"', '"id": 1e999', 1),
    "lone surrogate in text": lambda n: _event_text(n, text="x").replace(
        '"text": "x"', '"text": "x\\ud800"', 1
    ),
    "malformed JSON": lambda n: f'{{"id": "hostile-{n}", oops',
    "not an object": lambda n: json.dumps([f"hostile-{n}"]),
    "a bare number": lambda n: str(n),
    "null": lambda n: "null",
    "unknown kind": lambda n: _event_text(n, kind="gossip"),
    "unknown field": lambda n: _event_text(n, ocurred_at="2026-11-23T09:00:00+00:00"),
    "no offset": lambda n: _event_text(n, occurred_at="2026-11-23T09:00:00"),
    "text too long": lambda n: _event_text(n, text="x" * 100_001),
    "message without author": lambda n: _event_text(n, author=None),
    "id too long": lambda n: _event_text(n).replace(
        f'"id": "hostile-{n}"', '"id": "' + "i" * 201 + '"', 1
    ),
    "wrong types": lambda n: _event_text(n, internal={"no": 1}, client=[1, 2]),
    "not UTF-8": lambda n: b'{"id": "hostile-\xff\xfe", "source": "webhook"}',
}


def valid_line(number: int) -> str:
    """A valid client message, on a thread of its own."""
    return json.dumps(make_event(f"valid-{number}", number % 50, task=f"V{number}"))


@st.composite
def mixed_batches(draw: st.DrawFn) -> list[tuple[str, str | bytes]]:
    """A batch of valid and hostile lines in any order: (what it is, the line)."""
    kinds = draw(
        st.lists(
            st.one_of(st.just("valid"), st.sampled_from(sorted(HOSTILE))), min_size=1, max_size=12
        )
    )
    return [
        (kind, valid_line(number) if kind == "valid" else HOSTILE[kind](number))
        for number, kind in enumerate(kinds)
    ]
