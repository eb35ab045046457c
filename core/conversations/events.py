"""The event: what every source turns its input into.

`POST /v1/events`, `pmdesk ingest`, the Worksection connector, the Telegram
bot and the demo simulator all hand pmdesk events of this one shape. The
schema is strict: an unknown field is refused rather than dropped, because a
misspelt `ocurred_at` silently ignored would cost a client their clock.

The schema is written once, as pydantic models (`EventSchema`): what they
accept is the rule, and their errors are the reasons senders read. What the
program holds is the same event as plain frozen structs (`EventIn`), read
straight from the common event's JSON by msgspec, four times faster than
the models validate it (docs/benchmarks.md, ingest round 24); a text the
structs' decoder cannot vouch for goes through the models and is turned
into the same structs.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec.structs import force_setattr
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

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


class AuthorSchema(Strict):
    name: Name | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True)] | None = None
    role: Literal["client", "staff"]
    id: ExternalId | None = None

    @model_validator(mode="after")
    def _identified(self) -> AuthorSchema:
        if _unnamed(self):
            raise ValueError("an author needs a name or an email")
        return self


class TaskSchema(Strict):
    id: ExternalId
    title: Annotated[str, StringConstraints(max_length=1000)] | None = None
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    # A tracker task, or a client chat (a Telegram group) when the thread is a chat.
    kind: ThreadKind = ThreadKind.TASK


class EventSchema(Strict):
    id: ExternalId
    source: Source
    kind: EventKind
    occurred_at: AwareDatetime
    task: TaskSchema
    client: Name | None = None
    project: Name | None = None
    author: AuthorSchema | None = None
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT)] = ""
    internal: bool = False
    # Values that go with some kinds: the new status, deadline or assignee.
    status: Annotated[str, StringConstraints(max_length=200)] | None = None
    deadline: date | datetime | None = None
    assignee: AuthorSchema | None = None
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
    def _kind_needs(self) -> EventSchema:
        problem = _kind_problem(self.kind, self.author, self.assignee)
        if problem is not None:
            raise ValueError(problem)
        return self


# -- the event as the program holds it -----------------------------------------------
#
# The same fields as the schema's, with the constraints msgspec checks as it
# reads (lengths, the source's pattern, the kinds); what it cannot check the
# same way (text stripped of spaces, an email in lower case, the instants'
# window, who may do what) `_settled` checks after. Frozen, as the models
# are; out of the cycle collector's sight, since an event holds no cycle.

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID)]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
# \Z rather than $: Python's $ also matches before a final newline, pydantic's does not.
_Source = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}\Z")]


class Author(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    name: _Name | None = None
    email: str | None = None
    role: Literal["client", "staff"]
    id: _Id | None = None

    @property
    def key(self) -> str:
        """What identifies the person across events: the email, else the name."""
        return self.email or (self.name or "").casefold()

    @property
    def display_name(self) -> str:
        return self.name or (self.email or "").split("@")[0]


class Task(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    id: _Id
    title: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    url: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    kind: ThreadKind = ThreadKind.TASK


class EventIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A valid event, as EventSchema validates it (the instant in UTC)."""

    id: _Id
    source: _Source
    kind: EventKind
    occurred_at: Annotated[datetime, msgspec.Meta(tz=True)]
    task: Task
    client: _Name | None = None
    project: _Name | None = None
    author: Author | None = None
    text: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)] = ""
    internal: bool = False
    status: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    # A date, or a date and time (a datetime is a date); the decoder reads
    # dates alone, and leaves the rest to the schema (msgspec cannot read a
    # union of the two).
    deadline: date | None = None
    assignee: Author | None = None
    extra: dict[str, Any] | None = None


def _unnamed(person: Author | AuthorSchema) -> bool:
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


def _kind_problem(
    kind: EventKind,
    author: Author | AuthorSchema | None,
    assignee: Author | AuthorSchema | None,
) -> str | None:
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
            event = _as_event(EventSchema.model_validate(item))
            # allow_nan=False: NaN or Infinity in a dict would be kept as text that is not JSON.
            return event, json.dumps(item, ensure_ascii=False, allow_nan=False)
        if isinstance(item, bytes):
            # Decoded first, for the reason of bytes that are not UTF-8; the
            # decoders read the bytes themselves (text they would encode again).
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


def _from_text(raw: str, encoded: bytes | None = None) -> EventIn:
    """The event of a JSON text, within core.base.jsontext's limits.

    The structs' decoder reads the common event; anything it refuses or
    cannot vouch for is validated by the schema, whose error is the reason.
    Neither parser keeps to jsontext's limits alone: pydantic reads `NaN`,
    `Infinity` and `1e400` as numbers, which then become the text "nan" or
    "inf", both let `extra` nest deeper than the limit. So the text goes
    through the strict parser only when the event shows a trace of those (a
    value that reads like a non-finite number or a long integer, an `extra`
    past the limits), or when pydantic finds it malformed, for the strict
    parser's reason.

    An event the schema reads pays for the search of those traces, so it
    starts with the cheapest: the strict parser can only refuse what was
    read if the text shows `NaN`, `Infinity`, a large exponent, a long run
    of digits or many brackets (`_beyond_json`, a few byte searches); only
    then are the values looked at. Every event pays for the text's shape
    (one `bytes.translate`), where seven digits in a row keep it from the
    decoder (`_LONG_FRACTION`). `encoded` is `raw` in UTF-8, when the caller
    has it.
    """
    given = raw if encoded is None else encoded
    if encoded is None:
        encoded = raw.encode("utf-8", "surrogatepass")  # what the shapes look for is ASCII
    shape = encoded.translate(_SHAPE)
    if _LONG_FRACTION not in shape and (event := _decoded(encoded)) is not None:
        # The decoder refuses NaN, Infinity, numbers out of range and lone
        # surrogates itself, and reads numbers nowhere but in `extra` (a
        # number where the schema wants text is left to the schema): only
        # there can a decoded event hold what jsontext refuses.
        if event.extra is not None and not jsontext.within_limits(event.extra, depth=2):
            jsontext.loads(raw)
        return event
    event = _as_event(_validated(raw, given))
    if _beyond_json(shape) and _may_hold_numbers_json_cannot(event):
        jsontext.loads(raw)
    return event


_DECODER = msgspec.json.Decoder(EventIn)


def _decoded(encoded: bytes) -> EventIn | None:
    """The event the structs' decoder reads in `encoded`, or None if only the schema can tell."""
    try:
        event = _DECODER.decode(encoded)
    # RecursionError: msgspec's own limit on nesting, which the schema words as jsontext does.
    except (msgspec.MsgspecError, RecursionError):
        return None  # validated again by the schema, for its reason or its reading
    return event if _settled(event) else None


def _settled(event: EventIn) -> bool:
    """Make a decoded event what the schema gives, or say False if the schema must judge.

    The schema strips ids and names and lowers emails; an event that needs
    it (rare: senders write them trimmed) is left to the schema rather than
    trimmed here, because pydantic's notion of a space (Unicode's) is not
    Python's. It refuses instants outside the window and kinds without the
    people they need, which the schema's own validators word.
    """
    utc = _utc_inside(event.occurred_at)
    if utc is None:
        return False
    deadline = event.deadline
    if deadline is not None and not _deadline_inside(deadline):
        return False
    for text in (event.id, event.task.id, event.client, event.project):
        if text is not None and text != text.strip():
            return False
    author, assignee = event.author, event.assignee
    if not (_person_settled(author) and _person_settled(assignee)):
        return False
    if _kind_problem(event.kind, author, assignee) is not None:
        return False
    force_setattr(event, "occurred_at", utc)  # frozen; the schema's validator does the same
    return True


def _person_settled(person: Author | None) -> bool:
    """A decoded author as the schema gives it (email in lower case), or False."""
    if person is None:
        return True
    for text in (person.name, person.id):
        if text is not None and text != text.strip():
            return False
    email = person.email
    if email is not None:
        # ASCII only: there Python's lower case is pydantic's. Every space
        # pydantic strips is one to Python too (the reverse is not so).
        if not email.isascii() or email != email.strip():
            return False
        lowered = email.lower()
        if lowered != email:
            force_setattr(person, "email", lowered)
    return not _unnamed(person)


def _validated(raw: str, given: str | bytes) -> EventSchema:
    """The schema's event of a JSON text, or its error (jsontext's, for malformed JSON)."""
    try:
        return EventSchema.model_validate_json(given)
    except ValidationError as error:
        if any(problem["type"] == "json_invalid" for problem in error.errors()):
            jsontext.loads(raw)  # raises JsonRefused, with a reason of its limits
        raise


def _as_event(model: EventSchema) -> EventIn:
    """The struct of a validated model, field for field."""
    return EventIn(
        id=model.id,
        source=model.source,
        kind=model.kind,
        occurred_at=model.occurred_at,
        task=Task(
            id=model.task.id, title=model.task.title, url=model.task.url, kind=model.task.kind
        ),
        client=model.client,
        project=model.project,
        author=_as_author(model.author),
        text=model.text,
        internal=model.internal,
        status=model.status,
        deadline=model.deadline,
        assignee=_as_author(model.assignee),
        extra=model.extra,
    )


def _as_author(model: AuthorSchema | None) -> Author | None:
    if model is None:
        return None
    return Author(name=model.name, email=model.email, role=model.role, id=model.id)


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
# Seven digits in a row: maybe an instant's fraction past the microsecond,
# which msgspec rounds and pydantic cuts (.1234567 is .123457 to one and
# .123456 to the other); such a text is left to the schema, whose reading
# is the rule. A false alarm (a phone number in a message) costs only that.
_LONG_FRACTION = b"0000000"


def _beyond_json(shape: bytes) -> bool:
    """False only if the JSON text of `shape`, as read, keeps to jsontext's limits.

    `shape` is the text's bytes through `_SHAPE`.

    What jsontext refuses in a text pydantic or msgspec reads: the constants NaN and
    Infinity, an integer of more than MAX_INT_DIGITS digits, a float out of
    range, nesting deeper than MAX_DEPTH (as many brackets at least); a lone
    surrogate pydantic refuses itself. A float out of range has an exponent
    of three digits or more, or a run of more than MAX_INT_DIGITS digits: two
    runs of 100 digits and an exponent of two make less than 1e200. The
    shapes are looked for in the whole text, strings included: a false alarm
    ("In", "550e8400") costs the full check.
    """
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
