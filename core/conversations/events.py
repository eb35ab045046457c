"""The event: what every source turns its input into.

`POST /v1/events`, `pmdesk ingest`, the Worksection connector, the Telegram
bot and the demo simulator all hand pmdesk events of this one shape. The
schema is strict: an unknown field is refused rather than dropped, because a
misspelt `ocurred_at` silently ignored would cost a client their clock.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import SchemaValidator

from core.base import jsontext
from core.base.kinds import EventKind, ThreadKind

# A client message pasted with a whole log file in it is still a message, but
# past this it is almost certainly a mistake, and one row of several MB would
# slow every screen that shows the thread.
MAX_TEXT = 100_000
MAX_ID = 200
# The instants an event may carry. Past these the calendar's arithmetic
# overflows (a deadline in year 9999 plus a day), and no tracker or chat
# has a real event there: such an instant is a sender's bug or an attack.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
_OUTSIDE = f"outside the accepted instants, {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC)"


# Sources disagree on whether ids are numbers or strings (Worksection sends
# both); the deduplication key must not, hence coerce_numbers_to_str below.
ExternalId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ID)
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Source = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class Author(Strict):
    name: Name | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True)] | None = None
    role: Literal["client", "staff"]
    id: ExternalId | None = None

    @model_validator(mode="after")
    def _identified(self) -> Author:
        if _unnamed(self):
            raise ValueError("an author needs a name or an email")
        return self

    @property
    def key(self) -> str:
        """What identifies the person across events: the email, else the name."""
        return self.email or (self.name or "").casefold()

    @property
    def display_name(self) -> str:
        return self.name or (self.email or "").split("@")[0]


class Task(Strict):
    id: ExternalId
    title: Annotated[str, StringConstraints(max_length=1000)] | None = None
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    # A tracker task, or a client chat (a Telegram group) when the thread is a chat.
    kind: ThreadKind = ThreadKind.TASK


class EventIn(Strict):
    id: ExternalId
    source: Source
    kind: EventKind
    occurred_at: AwareDatetime
    task: Task
    client: Name | None = None
    project: Name | None = None
    author: Author | None = None
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT)] = ""
    internal: bool = False
    # Values that go with some kinds: the new status, deadline or assignee.
    status: Annotated[str, StringConstraints(max_length=200)] | None = None
    deadline: date | datetime | None = None
    assignee: Author | None = None
    # Anything else a source wants kept with the event.
    extra: dict[str, Any] | None = None

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        """The instant in UTC (`datetime.UTC`), whatever offset it was written with.

        The same instant, and the raw text keeps the offset as sent; but
        two instants of pydantic's own time zones are compared through a
        call to each one's offset, some twenty times slower than two of the
        same zone, and the engine compares and stamps every event's instant
        many times (sorting, order keys, clocks, rollups).
        """
        utc = _utc_inside(value)
        if utc is None:
            raise ValueError(_OUTSIDE)
        return utc

    @field_validator("deadline")
    @classmethod
    def _within_window(cls, value: date | datetime | None) -> date | datetime | None:
        if value is None:
            return None
        if not _deadline_inside(value):
            raise ValueError(_OUTSIDE)
        return value

    @model_validator(mode="after")
    def _kind_needs(self) -> EventIn:
        problem = _kind_problem(self.kind, self.author, self.assignee)
        if problem is not None:
            raise ValueError(problem)
        return self


def _unnamed(person: Author) -> bool:
    return not person.name and not person.email


def _utc_inside(value: datetime) -> datetime | None:
    """The instant in UTC, or None when it is outside the accepted instants."""
    # The offset is checked first: 0001-01-01T00:00+14:00 has no UTC instant.
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        return None
    return utc if EARLIEST <= utc <= LATEST else None


def _deadline_inside(value: date | datetime) -> bool:
    if isinstance(value, datetime):
        return _utc_within(value)
    return EARLIEST.date() <= value <= LATEST.date()


# Read once: an enum's member read through its class costs a call each time.
_MESSAGE, _NO_REPLY_NEEDED, _ASSIGNEE = (
    EventKind.MESSAGE,
    EventKind.NO_REPLY_NEEDED,
    EventKind.ASSIGNEE,
)


def _kind_problem(kind: EventKind, author: Author | None, assignee: Author | None) -> str | None:
    """Why an event of `kind` cannot have these people, or None if it can."""
    if kind is _MESSAGE or kind is _NO_REPLY_NEEDED:
        if author is None:
            return f"a {kind.value} event needs an author"
        if kind is _NO_REPLY_NEEDED and author.role != "staff":
            return "only staff can decide that no reply is needed"
    elif kind is _ASSIGNEE and assignee and assignee.role != "staff":
        return "assignee: only staff can be assigned"
    return None


def _utc_within(value: datetime) -> bool:
    if value.tzinfo is None:  # a deadline may be a local date and time
        return EARLIEST.replace(tzinfo=None) <= value <= LATEST.replace(tzinfo=None)
    try:
        return EARLIEST <= value.astimezone(UTC) <= LATEST
    except OverflowError:
        return False


class Rejected(Exception):
    """An input that is not a valid event; `reason` is one readable line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_event(item: str | bytes | dict[str, Any]) -> tuple[EventIn, str]:
    """Validate one event; return it with the raw text to keep.

    Raises Rejected with a one-line reason naming the field at fault.
    """
    try:
        if isinstance(item, dict):
            event = EventIn.model_validate(item)
            # allow_nan=False: NaN or Infinity in a dict would be kept as text that is not JSON.
            return event, json.dumps(item, ensure_ascii=False, allow_nan=False)
        if isinstance(item, bytes):
            # Decoded first, for the reason of bytes that are not UTF-8; the
            # model reads the bytes themselves (text it would encode again).
            raw = item.decode("utf-8")
            return _from_text(raw, item), raw
        return _from_text(item), item
    except UnicodeDecodeError as error:
        raise Rejected(f"not UTF-8 text (byte {error.start})") from None
    except jsontext.JsonRefused as error:
        raise Rejected(error.reason) from None
    except ValidationError as error:
        raise Rejected(describe(error)) from None
    except ValueError as error:  # json.dumps of a dict holding NaN or Infinity
        raise Rejected(f"not JSON: {error}") from None


# The validators written in Python above, as pydantic calls them after the
# fields are read; the quick validator below leaves them out and `_settled`
# does their work in one call, without pydantic's call of each (a third of
# the validation's time).
_CHECKED_IN_PYTHON = {
    EventIn._kind_needs,
    EventIn._in_utc,
    EventIn._within_window,
    Author._identified,
}


def _without_validators(node: Any, left_out: list[Any]) -> Any:
    """A copy of the core schema `node` without its after-validators (in `left_out`)."""
    if isinstance(node, dict):
        if node.get("type") == "function-after":
            left_out.append(node["function"]["function"])
            inner = dict(node["schema"])
            if "ref" in node:  # other parts of the schema point at the validator's node
                inner["ref"] = node["ref"]
            return _without_validators(inner, left_out)
        return {key: _without_validators(value, left_out) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_validators(value, left_out) for value in node]
    return node


def _quick_validator() -> SchemaValidator | None:
    """EventIn's validation without its Python validators, or None if any is unknown here.

    What it accepts is a superset of what EventIn accepts: an after-validator
    only refuses or changes a value read. A schema with a validator that
    `_settled` does not know of (one added to the models) has no quick path.
    """
    left_out: list[Any] = []
    schema = _without_validators(EventIn.__pydantic_core_schema__, left_out)
    if len(left_out) != len(_CHECKED_IN_PYTHON) or set(left_out) != _CHECKED_IN_PYTHON:
        return None
    return SchemaValidator(schema)


_QUICK = _quick_validator()


def _settled(event: EventIn) -> bool:
    """Do the Python validators' work on an event of the quick validator.

    True: the event is now what EventIn's own validation gives (the instant
    in UTC). False: a validator would refuse it; the caller validates again
    in full for pydantic's own error.
    """
    fields = event.__dict__
    utc = _utc_inside(fields["occurred_at"])
    if utc is None:
        return False
    deadline = fields["deadline"]
    if deadline is not None and not _deadline_inside(deadline):
        return False
    author = fields["author"]
    assignee = fields["assignee"]
    if (author is not None and _unnamed(author)) or (assignee is not None and _unnamed(assignee)):
        return False
    if _kind_problem(fields["kind"], author, assignee) is not None:
        return False
    # Frozen models refuse setattr; pydantic's own validator stores it the same way.
    fields["occurred_at"] = utc
    return True


def _validated_json(data: str | bytes) -> EventIn:
    """EventIn.model_validate_json(data), the common event through the quick validator."""
    if _QUICK is not None:
        try:
            event = _QUICK.validate_json(data)
        except ValidationError:
            pass  # validated again in full below, for pydantic's own error
        else:
            if _settled(event):
                return event  # type: ignore[no-any-return]
    return EventIn.model_validate_json(data)


def _from_text(raw: str, encoded: bytes | None = None) -> EventIn:
    """The event of a JSON text, within core.base.jsontext's limits.

    pydantic's parser is the fast path, but it reads `NaN`, `Infinity` and
    `1e400` as numbers, which then become the text "nan" or "inf", and lets
    `extra` nest deeper than the limit. So the text goes through the strict
    parser only when the event shows a trace of those (a value that reads
    like a non-finite number or a long integer, an `extra` past the limits),
    or when pydantic finds it malformed, for the strict parser's reason.

    Every event pays for the search of those traces, so it starts with the
    cheapest: the strict parser can only refuse what pydantic read if the
    text shows `NaN`, `Infinity`, a large exponent, a long run of digits or
    many brackets (`_beyond_json`, a few byte searches); only then are the
    values looked at. `encoded` is `raw` in UTF-8, when the caller has it.
    """
    try:
        event = _validated_json(raw if encoded is None else encoded)
    except ValidationError as error:
        if any(problem["type"] == "json_invalid" for problem in error.errors()):
            jsontext.loads(raw)  # raises JsonRefused, with a reason of its limits
        raise
    if encoded is None:
        encoded = raw.encode("utf-8", "surrogatepass")  # what _beyond_json looks for is ASCII
    if _beyond_json(encoded) and _may_hold_numbers_json_cannot(event):
        jsontext.loads(raw)
    return event


def _shape_table() -> bytes:
    """For bytes.translate: every digit becomes 0, E e, Infinity's I NaN's N,
    { [, and any other byte that cannot belong to a number a space."""
    table = bytearray(b" " * 256)
    table[ord("0") : ord("9") + 1] = b"0" * 10
    for byte, shape in zip(b"eE+NI[{", b"ee+NN[[", strict=True):
        table[byte] = shape
    return bytes(table)


_SHAPE = _shape_table()
_LONG_DIGITS = "0" * (jsontext.MAX_INT_DIGITS + 1)


def _beyond_json(encoded: bytes) -> bool:
    """False only if the JSON text `encoded`, read by pydantic, keeps to jsontext's limits.

    What jsontext refuses in a text pydantic reads: the constants NaN and
    Infinity, an integer of more than MAX_INT_DIGITS digits, a float out of
    range, nesting deeper than MAX_DEPTH (as many brackets at least); a lone
    surrogate pydantic refuses itself. A float out of range has an exponent
    of three digits or more, or a run of more than MAX_INT_DIGITS digits: two
    runs of 100 digits and an exponent of two make less than 1e200. The
    shapes are looked for in the whole text, strings included: a false alarm
    ("In", "550e8400") costs the full check.
    """
    shape = encoded.translate(_SHAPE)
    if ord("N") in shape:
        return True
    text = shape.decode("ascii")
    return (
        "0e000" in text
        or "0e+000" in text
        or _LONG_DIGITS in text
        or text.count("[") >= jsontext.MAX_DEPTH
    )


_NON_FINITE = frozenset(["inf", "-inf", "nan", "infinity", "-infinity"])


def _may_hold_numbers_json_cannot(event: EventIn) -> bool:
    people = [person for person in (event.author, event.assignee) if person is not None]
    texts = [
        event.id,
        event.source,
        event.client,
        event.project,
        event.text,
        event.status,
        event.task.id,
        event.task.title,
        event.task.url,
        *(value for person in people for value in (person.id, person.name, person.email)),
    ]
    if any(value is not None and _number_like(value) for value in texts):
        return True
    # An event is one level and `extra` a second: its values may nest two fewer.
    return event.extra is not None and not jsontext.within_limits(event.extra, depth=2)


def _number_like(value: str) -> bool:
    """Text a non-finite number or a long integer becomes (numbers are coerced to text)."""
    if len(value) <= 9:
        return value.lower() in _NON_FINITE
    return len(value) > jsontext.MAX_INT_DIGITS and value.lstrip("-").isdigit()


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field missing",
    "timezone_aware": "timestamp has no UTC offset (write it like 2026-11-23T09:00:00+01:00)",
    "string_too_long": "too long",
}


def describe(error: ValidationError) -> str:
    problems = []
    for problem in error.errors(include_url=False):
        if problem["type"] == "json_invalid":
            return f"malformed JSON: {problem['ctx'].get('error', problem['msg'])}"
        if problem["type"] == "model_type" and not problem["loc"]:
            return "not a JSON object"
        location = ".".join(str(part) for part in problem["loc"])
        message = _MESSAGES.get(problem["type"], problem["msg"].removeprefix("Value error, "))
        if problem["type"] == "string_too_long":
            limit = problem.get("ctx", {}).get("max_length")
            message = f"too long (more than {limit} characters)"
        elif problem["type"] == "enum" and location == "kind":
            message = f"unknown kind {problem['input']!r} (expected one of: {_kinds()})"
        problems.append(f"{location}: {message}" if location else message)
    return "; ".join(problems)


def _kinds() -> str:
    return ", ".join(kind.value for kind in EventKind)
