"""parse_event against the plain rule it implements, on valid and hostile texts.

The plain rule: the schema (pydantic's EventSchema) reads the text, and the
event is its fields as structs; the strict parser of core.base.jsontext
reads it too when pydantic finds it malformed, or when a value of the event
reads like a number JSON cannot hold (or `extra` is past the limits). The
parser reads the common event with msgspec instead, and looks for cheap
traces first (`_beyond_json`); whatever the text, str or bytes, the outcome
must be the rule's: the same event (its repr: the types and the instants'
zone too) and raw text, or the same reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.base import jsontext
from core.base.kinds import EventKind
from core.conversations import events
from core.conversations.events import EventIn, EventSchema, Rejected, describe, parse_event
from tests.hostile import HOSTILE
from tests.support import make_event

Outcome = tuple[Any, ...]


def _by_the_rule(text: str | bytes) -> Outcome:
    """What the rule gives `text`, spelt out without shortcuts."""
    try:
        raw = text.decode("utf-8") if isinstance(text, bytes) else text
        try:
            event = events._as_event(EventSchema.model_validate_json(raw))
        except ValidationError as error:
            if any(problem["type"] == "json_invalid" for problem in error.errors()):
                jsontext.loads(raw)
            raise
        if events._may_hold_numbers_json_cannot(event):
            jsontext.loads(raw)
    except UnicodeDecodeError as error:
        return ("rejected", f"not UTF-8 text (byte {error.start})")
    except jsontext.JsonRefused as error:
        return ("rejected", error.reason)
    except ValidationError as error:
        return ("rejected", describe(error))
    return _accepted(event, raw)


def _accepted(event: EventIn, raw: str) -> Outcome:
    # repr, not the event: it shows the instants' zone and a date from a datetime.
    return ("accepted", repr(event), raw)


def _parsed(text: str | bytes) -> Outcome:
    try:
        event, raw = parse_event(text)
    except Rejected as error:
        return ("rejected", error.reason)
    return _accepted(event, raw)


def _same_as_the_rule(text: str) -> None:
    expected = _by_the_rule(text)
    assert _parsed(text) == expected
    encoded = text.encode("utf-8", "surrogatepass")
    assert _parsed(encoded) == _by_the_rule(encoded)


# -- events of every shape ---------------------------------------------------------

HOLE = "@@hole@@"
# Literals put in place of a value: what a broken or hostile sender writes.
LITERALS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1E+400",
    "1e-400",
    "2.5e99",
    "1e308",
    "1e309",
    "0.1",
    "-0",
    "17",
    "9" * 100,
    "-" + "9" * 101,
    "1" + "0" * 120 + ".5",
    "0." + "0" * 150 + "1e300",
    '"inf"',
    '"-Infinity"',
    '"NaN"',
    '"  nan "',
    '"' + "7" * 101 + '"',
    '"-' + "7" * 150 + '"',
    '"\\u0069nf"',
    '"\\ud800"',
    '"\\udc00x"',
    '"\\ud83d\\ude00"',
    '"550e8400-e29b-41d4-a716-446655440000"',
    '"In progress"',
    "true",
    "null",
    "[]",
    "{}",
    '{"a": ' + "[" * 62 + "]" * 62 + "}",
    '{"a": ' + "[" * 63 + "]" * 63 + "}",
    '{"a": ' + "[" * 70 + "]" * 70 + "}",
    '{"a": [1e400]}',
    '{"a": {"b": NaN}}',
    '{"a": ' + "5" * 101 + "}",
]

whitespace = st.sampled_from(["", " ", "\t", "\n", "\u00a0", "\u2003", "\x1c"])
words = st.text(st.characters(codec="utf-8"), min_size=0, max_size=12)


@st.composite
def padded(draw: st.DrawFn, core: st.SearchStrategy[str]) -> str:
    return draw(whitespace) + draw(core) + draw(whitespace)


def numbers() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(min_value=-(10**130), max_value=10**130),
        st.floats(allow_nan=True, allow_infinity=True),
    )


ids = st.one_of(
    padded(st.from_regex(r"[A-Za-z0-9-]{0,12}", fullmatch=True)),
    st.sampled_from(["i" * 200, "i" * 201, "inf", "NaN", " 42 "]),
    numbers(),
)
names = st.one_of(st.none(), padded(words), st.sampled_from(["n" * 300, "n" * 301]), numbers())
emails = st.one_of(
    st.none(),
    padded(st.sampled_from(["Pm@Acme.Example", "sam@agency.example", "", "İNF@X", "ΣΑΣ@x"])),
    numbers(),
)
offsets = st.integers(min_value=-1439, max_value=1439).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
roles = st.sampled_from(["client", "staff", "Staff", "system", None, 1])
instants = st.one_of(
    st.datetimes(
        min_value=datetime(1960, 1, 1),
        max_value=datetime(2110, 1, 1),
        timezones=st.one_of(st.just(UTC), offsets),
    ).map(lambda moment: moment.isoformat()),
    st.sampled_from(
        [
            "2026-01-05T08:00:00Z",
            "2026-01-05T08:00:00z",
            "2026-01-05 08:00:00+01:00",
            "2026-01-05T08:00Z",
            "2026-01-05T08:00:00.1234567+01:00",
            "2026-01-05T08:00:00+0100",
            "2026-01-05T08:00:00+23:59",
            "2026-01-05T08:00:00+24:00",
            "2026-02-30T08:00:00Z",
            "1970-01-01T00:59:59+01:00",
            "2099-12-31T23:59:59-00:01",
            "2026-01-05",
            "2026-01-05T00:00:00",
            "",
        ]
    ),
    st.integers(min_value=-(10**12), max_value=10**12),
)


@st.composite
def people(draw: st.DrawFn) -> Any:
    person: dict[str, Any] = {}
    for field, values in (("name", names), ("email", emails), ("role", roles), ("id", ids)):
        if draw(st.booleans()):
            person[field] = draw(values)
    if draw(st.integers(0, 20)) == 0:
        person["nickname"] = "x"
    return draw(st.sampled_from([person, person, person, None, "staff"]))


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers(), words),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)

KINDS = [kind.value for kind in EventKind]


@st.composite
def event_texts(draw: st.DrawFn) -> str:
    """An event's JSON text: mostly valid, often with one field of any shape."""
    event = make_event(
        "e-1",
        0,
        role=draw(st.sampled_from(["client", "staff"])),
        kind=draw(st.sampled_from([*KINDS, *KINDS, "gossip"])),
    )
    if draw(st.booleans()):
        event["occurred_at"] = draw(instants)
    optional: dict[str, st.SearchStrategy[Any]] = {
        "id": ids,
        "source": st.sampled_from(["webhook", "bench", "ws.1-a_b", "Web", "web\n", "a" * 41]),
        "client": names,
        "project": names,
        "author": people(),
        "assignee": people(),
        "text": st.one_of(words, st.none(), numbers(), st.just("x" * 100_001)),
        "internal": st.one_of(st.booleans(), st.sampled_from(["true", 1, 0, "no", None])),
        "status": st.one_of(st.none(), words, numbers(), st.just("s" * 201)),
        "deadline": st.one_of(
            st.none(),
            instants,
            st.dates().map(lambda day: day.isoformat()),
        ),
        "extra": st.one_of(st.none(), st.dictionaries(st.text(max_size=4), json_values)),
        "task": st.fixed_dictionaries(
            {"id": ids},
            optional={
                "title": names,
                "url": names,
                "kind": st.sampled_from(["task", "chat", "tâche"]),
            },
        ),
    }
    for field in draw(st.lists(st.sampled_from(sorted(optional)), max_size=3, unique=True)):
        event[field] = draw(optional[field])
    if draw(st.integers(0, 9)) == 0:
        del event[draw(st.sampled_from(sorted(event)))]
    hole = draw(st.one_of(st.none(), st.none(), st.sampled_from(sorted(event))))
    literal = draw(st.sampled_from(LITERALS))
    if hole is not None:
        event[hole] = HOLE
    text = json.dumps(event, ensure_ascii=draw(st.booleans()))
    text = text.replace(json.dumps(HOLE), literal, 1)
    mutation = draw(st.integers(0, 19))
    if mutation == 0:  # a duplicate key, hostile or not
        text = text[:-1] + f', "{draw(st.sampled_from(sorted(event)))}": {literal}}}'
    elif mutation == 1:
        text = text[: draw(st.integers(0, len(text)))]
    elif mutation == 2:
        text = " \n" + text + "\r\n"
    return text


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_texts())
@example(json.dumps(make_event("e-1", 0)))
@example(json.dumps(make_event("e-1", 0)).replace('"e-1"', "1e400"))
@example(json.dumps(make_event("e-1", 0, extra={"a": 10**150})))
@example(json.dumps(make_event("e-1", 0, text="inf")).replace('"e-1"', '"x", "id": NaN'))
def test_an_event_is_parsed_as_the_rule_says(text: str) -> None:
    _same_as_the_rule(text)


def test_every_hostile_line_is_refused_as_the_rule_says() -> None:
    for number, make in enumerate(HOSTILE.values()):
        line = make(number)
        assert _parsed(line) == _by_the_rule(line)
        assert _parsed(line)[0] == "rejected"


@given(st.binary(max_size=60) | st.text(max_size=60))
def test_any_text_at_all(text: str | bytes) -> None:
    assert _parsed(text) == _by_the_rule(text)


def _beyond(encoded: bytes) -> bool:
    return events._beyond_json(encoded.translate(events._SHAPE))


def test_only_shapes_jsontext_could_refuse_need_the_full_check() -> None:
    plain = json.dumps(make_event("550e8400", 0, text="In 2e étage, 1e99 ou 2026"))
    assert not _beyond(json.dumps(make_event("e-1", 0)).encode())
    assert _beyond(plain.encode())  # "In": a false alarm, checked in full
    for literal in ["NaN", "-Infinity", "1e400", "1E+400", "9" * 101, "1" * 120 + ".0e2"]:
        text = json.dumps(make_event("e-1", 0)).replace('"e-1"', literal, 1)
        assert _beyond(text.encode()), literal
    assert not _beyond(b'{"a": 1e-400, "b": 2.5e99, "c": ' + b"9" * 100 + b"}")
    assert _beyond(b"[" * 64)


def test_the_instant_is_kept_in_utc_whatever_its_offset() -> None:
    line = json.dumps(make_event("e-1", 0, occurred_at="2026-03-29T01:30:00-09:30"))
    event, raw = parse_event(line.encode())
    assert event.occurred_at == datetime(2026, 3, 29, 11, 0, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC
    assert "-09:30" in raw  # the text as sent is kept
    for instant in [
        "1969-12-31T23:59:59+00:00",
        "2100-01-01T01:30:00+01:00",
        "0001-01-01T00:00+14:00",
    ]:
        text = json.dumps(make_event("e-2", 0, occurred_at=instant))
        try:
            parse_event(text)
        except Rejected as error:
            assert error.reason.startswith("occurred_at: outside the accepted instants"), (
                error.reason
            )
        else:
            raise AssertionError(f"{instant} accepted")


# -- the structs' decoder: the schema's reading, or none ---------------------------------


def _by_the_schema(text: str | bytes) -> Outcome:
    try:
        model = EventSchema.model_validate_json(text)
    except ValidationError:
        return ("rejected",)
    return ("accepted", repr(events._as_event(model)))


def _decoded(text: str) -> EventIn | None:
    encoded = text.encode("utf-8", "surrogatepass")
    if events._LONG_FRACTION in encoded.translate(events._SHAPE):
        return None  # not offered to the decoder
    return events._decoded(encoded)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_texts())
@example(json.dumps(make_event("e-1", 0, occurred_at="2026-03-29T01:30:00-09:30")))
@example(json.dumps(make_event("e-1", 0, occurred_at="2026-01-05T08:00:00.1234567+01:00")))
@example(json.dumps({**make_event("e-1", 0), "author": {"role": "staff", "email": "Sam@X.Ex"}}))
@example(json.dumps(make_event("e-1", 0, source="web\n")))
def test_the_decoder_reads_what_the_schema_reads_or_leaves_it(text: str) -> None:
    """What the decoder accepts, the schema accepts the same, to the instants' zone."""
    decoded = _decoded(text)
    if decoded is not None:
        assert ("accepted", repr(decoded)) == _by_the_schema(text)
        assert decoded.occurred_at.tzinfo is UTC


def test_a_common_event_is_read_by_the_decoder() -> None:
    for kind in KINDS:
        line = json.dumps(make_event("e-1", 0, kind=kind, role="staff", deadline="2026-12-24"))
        decoded = _decoded(line)
        assert decoded is not None, kind
        assert ("accepted", repr(decoded)) == _by_the_schema(line)
    # An email in capitals is lowered as the schema lowers it.
    line = json.dumps({**make_event("e-1", 0), "author": {"role": "staff", "email": "Sam@X.Ex"}})
    decoded = _decoded(line)
    assert decoded is not None and decoded.author is not None
    assert decoded.author.email == "sam@x.ex"


def test_the_structs_hold_every_field_of_the_schema() -> None:
    # The schema's event becomes the structs field for field (_as_event): a
    # field added to one and not the other would be dropped without a word.
    pairs = [(EventSchema, EventIn), (events.TaskSchema, events.Task)]
    pairs.append((events.AuthorSchema, events.Author))
    for schema, struct in pairs:
        assert tuple(schema.model_fields) == struct.__struct_fields__, struct
    person = {"name": "Sam", "email": "sam@x.ex", "role": "staff", "id": "7"}
    model = EventSchema.model_validate(
        {
            **make_event("e-1", 0, kind="assignee", role="staff", assignee=person),
            "task": {"id": "T1", "title": "Site", "url": "https://x.ex", "kind": "chat"},
            "internal": True,
            "status": "Done",
            "deadline": "2026-12-24",
            "extra": {"a": [1]},
        }
    )
    event = events._as_event(model)
    for name in EventIn.__struct_fields__:
        if name not in ("task", "author", "assignee"):
            assert getattr(event, name) == getattr(model, name), name
    for ours, theirs in ((event.task, model.task), (event.author, model.author)):
        assert [getattr(ours, name) for name in ours.__struct_fields__] == [
            getattr(theirs, name) for name in ours.__struct_fields__
        ]
    assert event.assignee == events.Author(**person)


def test_what_the_decoder_leaves_to_the_schema() -> None:
    """The schema reads or refuses each of these itself: the decoder does not vouch for it."""
    for line in [
        json.dumps({**make_event("e-1", 0), "id": 7}),  # a number as text: the schema's coercion
        json.dumps(make_event(" e-1", 0)),  # the schema strips, with its own notion of a space
        json.dumps(make_event("e-1", 0, project="Site\x1c")),
        json.dumps({**make_event("e-1", 0), "author": {"role": "staff", "email": "İNF@X"}}),
        json.dumps(make_event("e-1", 0, deadline="2026-12-24T10:00:00+01:00")),
        json.dumps(make_event("e-1", 0, occurred_at="1969-12-31T23:59:59+00:00")),
        json.dumps(make_event("e-1", 0, kind="no_reply_needed", role="client")),
        json.dumps({**make_event("e-1", 0), "author": {"role": "staff", "email": " "}}),
        json.dumps({**make_event("e-1", 0), "author": {"role": "staff"}}),  # nameless
        json.dumps(make_event("e-1", 0, kind="assignee", assignee={"role": "staff", "id": "7"})),
        json.dumps({**make_event("e-1", 0), "author": {"role": "staff", "name": "Sam "}}),
        json.dumps({**make_event("e-1", 0), "author": {"role": "staff", "name": "S", "id": " 7"}}),
        json.dumps(make_event("e-1", 0, deadline="2100-01-01")),
        json.dumps(make_event("e-1", 0, internal=1)),
        json.dumps(make_event("e-1", 0, source="web\n")),
        json.dumps(make_event("e-1", 0, text="\ud800")),
    ]:
        assert events._decoded(line.encode("utf-8", "surrogatepass")) is None, line
        assert _parsed(line) == _by_the_rule(line), line
    # An instant's fraction past the microsecond: the schema's, not offered to the decoder.
    line = json.dumps(make_event("e-1", 0, occurred_at="2026-01-05T08:00:00.1234567+01:00"))
    event, _ = parse_event(line)
    assert event.occurred_at.microsecond == 123456  # cut, as pydantic cuts; msgspec rounds
