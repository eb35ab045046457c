"""What the commands print: plain text for people, JSON for scripts.

Nothing printed can carry terminal codes: see `_Console`.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import Any


class _Console:
    """A rich Console made on first use: output for scripts (--json) never needs rich.

    Everything printed is plain text: strings are cleaned of terminal codes
    (core.base.text) and shown as Rich Text, so neither a client's name nor
    anything else can carry escape sequences, bidi overrides, markup or
    emoji codes to the terminal. Tables from `_table` do the same for their
    cells. `--json` output does not come through here: it stays exact.
    """

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, highlight=False, soft_wrap=True)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        options.pop("markup", None)  # never markup: see above
        self.console.print(*(_plain(value) for value in objects), **options)

    def control(self, codes: str) -> None:
        """Write pmdesk's own terminal control (a progress line's carriage return) as is."""
        self.console.file.write(codes)
        self.console.file.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


def _plain(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    from rich.text import Text

    from core.base.text import clean

    return Text(clean(value))


out, err = _Console(), _Console(stderr=True)


def _print_json(value: Any) -> None:
    # Plain and fast: rich's print_json colours and re-indents, which takes
    # seconds for ten thousand clocks, and scripts want the bytes as they are.
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=_json_value))
    sys.stdout.write("\n")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    from decimal import Decimal  # here: the read commands' JSON holds none

    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
