"""Where a key of a template file is written: its line, for error messages.

`tomllib` tells where the text stops being TOML, but a file that is good
TOML and a bad template (an unknown role, a deadline before its start) has
no position left once parsed. `Lines` reads the text again, line by line,
and records where each table header (`[[task]]`, `[[task.subtask]]`) and
each key is written, under the same path the parsed data has:
`("task", 2, "subtask", 0)` for the first subtask of the third task.

It understands what templates are written with: array-of-tables and table
headers, `key = value` lines (bare, quoted or dotted keys), comments and
multi-line strings, whose content is skipped. What it cannot place (a key
inside an inline table) is blamed on the nearest thing it can: the table
holding it, then the key or header of its parent.
"""

from __future__ import annotations

import re

Path = tuple[str | int, ...]

_ARRAY_HEADER = re.compile(r"\s*\[\[\s*(?P<name>[^\[\]]+?)\s*\]\]\s*(?:#.*)?$")
_TABLE_HEADER = re.compile(r"\s*\[\s*(?P<name>[^\[\]]+?)\s*\]\s*(?:#.*)?$")
_NAME = r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'"""
_KEY = re.compile(rf"\s*(?P<key>(?:{_NAME})(?:\s*\.\s*(?:{_NAME}))*)\s*=(?P<value>.*)$")
_DOTTED = re.compile(_NAME)
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")


def dotted(key: str) -> list[str]:
    """The names of a dotted key (`task.subtask`, `"a.b".c`), quotes removed."""
    return [part.strip("\"'") for part in _DOTTED.findall(key)]


class Lines:
    """The line of each table and key of a TOML text (see the module's docstring)."""

    def __init__(self, text: str) -> None:
        self._headers: dict[Path, int] = {}
        self._keys: dict[tuple[Path, str], int] = {}
        self._arrays: dict[Path, int] = {}
        self.count = max(1, text.count("\n") + 1)
        self._scan(text)

    def _resolve(self, names: list[str]) -> Path:
        """The path of a header's table: each array on the way at its latest element."""
        path: Path = ()
        for name in names[:-1]:
            path += (name,)
            if path in self._arrays:
                path += (self._arrays[path] - 1,)
        return (*path, names[-1])

    def _scan(self, text: str) -> None:
        current: Path = ()
        closing: str | None = None  # the delimiter of the multi-line string we are in
        for number, line in enumerate(text.splitlines(), 1):
            if closing is not None:
                if line.count(closing) % 2 == 1:
                    closing = None
                continue
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            found = _ARRAY_HEADER.match(line)
            if found:
                base = self._resolve(dotted(found.group("name")))
                index = self._arrays.get(base, 0)
                self._arrays[base] = index + 1
                current = (*base, index)
                self._headers.setdefault(current, number)
                continue
            found = _TABLE_HEADER.match(line)
            if found:
                current = self._resolve(dotted(found.group("name")))
                self._headers.setdefault(current, number)
                continue
            found = _KEY.match(line)
            if found:
                names = dotted(found.group("key"))
                self._keys.setdefault(((*current, *names[:-1]), names[-1]), number)
                value = found.group("value").strip()
                for delimiter in ('"""', "'''"):
                    if value.startswith(delimiter) and value.count(delimiter) % 2 == 1:
                        closing = delimiter
                        break

    def of(self, path: Path, key: str | None = None) -> int:
        """The line where `key` of the table at `path` is written, or the nearest known place."""
        while True:
            if key is not None:
                if (path, key) in self._keys:
                    return self._keys[(path, key)]
                # A key that is a table of its own: `[[task.subtask]]` for "subtask".
                for table in ((*path, key), (*path, key, 0)):
                    if table in self._headers:
                        return self._headers[table]
            if path in self._headers:
                return self._headers[path]
            if not path:
                return 1
            # Up one level: the array element's table, then the key naming it in its parent.
            if isinstance(path[-1], int):
                path = path[:-1]
            key, path = str(path[-1]), path[:-1]


def toml_error_line(message: str, line_count: int) -> int:
    """The line a `tomllib.TOMLDecodeError` names in its message (the last one at its end)."""
    found = _TOML_POSITION.search(message)
    if found:
        return int(found.group(1))
    return line_count


def toml_error_reason(message: str) -> str:
    """The message of a `tomllib.TOMLDecodeError` without its position."""
    return _TOML_POSITION.sub("", message).replace("(at end of document)", "").strip()
