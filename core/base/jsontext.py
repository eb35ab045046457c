"""JSON from outside, parsed with limits: what every route and `pmdesk ingest` accept.

Python's json module takes more than JSON should give a service: nesting as
deep as the interpreter's stack (deeper raises RecursionError), integers of
thousands of digits (past 4,300 a ValueError), `NaN`, `Infinity`, and `1e400`
read as infinity, which then stores as the text "inf" (so 1e400 and 1e500
become the same id) and writes back as `Infinity`, which is not JSON. So
input is refused, with a reason, when it nests deeper than MAX_DEPTH, holds
an integer longer than MAX_INT_DIGITS, a number that is not finite, or a
lone UTF-16 surrogate (`"\\ud800"`, which no UTF-8 column can store).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64
MAX_INT_DIGITS = 100


class JsonRefused(ValueError):
    """Input that is not acceptable JSON; `reason` is one readable line.

    `line` and `column` say where, when the parser knows.
    """

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.line, self.column = reason, line, column


def loads(text: str | bytes) -> Any:
    """The value of `text`, within the limits of this module; raises JsonRefused."""
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except JsonRefused:
        raise
    except json.JSONDecodeError as error:
        raise JsonRefused(
            f"malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}",
            error.lineno,
            error.colno,
        ) from None
    except UnicodeDecodeError as error:
        raise JsonRefused(f"not UTF-8 text (byte {error.start})") from None
    except RecursionError:
        raise JsonRefused(_too_deep()) from None
    _check_nesting(value, surrogates=_may_hold_surrogates(text))
    return value


def within_limits(value: Any, depth: int = 1) -> bool:
    """True when an already parsed `value`, found at `depth`, keeps to the limits.

    Nesting, integers and floats only: for values another parser produced.
    """
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        current, level = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        elif isinstance(current, bool):
            continue
        elif isinstance(current, int):
            # Digits counted only past 332 bits (10**100 has 333); str() of a
            # huge integer is slow, and refused past 4,300 digits.
            bits = abs(current).bit_length()
            if bits > 332 and (bits > 14_000 or len(str(abs(current))) > MAX_INT_DIGITS):
                return False
            continue
        elif isinstance(current, float):
            if not math.isfinite(current):
                return False
            continue
        else:
            continue
        if level > MAX_DEPTH:
            return False
        stack.extend((child, level + 1) for child in children)
    return True


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonRefused(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(digits)


def _float(digits: str) -> float:
    value = float(digits)
    if not math.isfinite(value):
        raise JsonRefused(f"the number {digits[:40]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON number")


def _too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep"


def _check_nesting(value: Any, *, surrogates: bool) -> None:
    """Refuse a value nested deeper than MAX_DEPTH or (if `surrogates`) holding a lone one."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
            if surrogates:
                for key in current:
                    _check_string(key)
        elif isinstance(current, list):
            children = current
        else:
            if surrogates and isinstance(current, str):
                _check_string(current)
            continue
        if depth > MAX_DEPTH:
            raise JsonRefused(_too_deep())
        stack.extend((child, depth + 1) for child in children)


def _check_string(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonRefused("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None


def _may_hold_surrogates(text: str | bytes) -> bool:
    sample = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    return bool(_SURROGATE.search(sample))


# A surrogate escape, as JSON writes it; valid pairs also match, and are then checked.
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
