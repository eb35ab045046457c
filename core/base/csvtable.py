"""A CSV file of named columns, as accounting tools and partners export them.

The delimiter is the one the header line uses most (`;`, `,` or a tab), the
first line names the columns, blank lines are skipped, and each row keeps
the line it starts on, so a refusal can say where. Whether amounts use a
decimal comma is read from the whole column, since `1,5` alone cannot tell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DELIMITERS = (";", ",", "\t")


class CsvTableError(ValueError):
    """The file cannot be read as a table: the message names the file and the line."""


@dataclass(frozen=True)
class CsvTable:
    header: list[str]
    # (line the row starts on, its cells), blank rows left out.
    rows: list[tuple[int, list[str]]]
    delimiter: str

    def decimal_comma(self, column: str) -> bool:
        """Whether the column's numbers are written with a decimal comma (1 234,50)."""
        at = self.header.index(column)
        return self.delimiter != "," and any(
            "," in cells[at] for _, cells in self.rows if len(cells) > at
        )


def read_csv_table(path: Path, text: str, required: Sequence[str], hint: str = "") -> CsvTable:
    """The table of `text` (the file at `path`), refused whole when a required column is missing.

    `hint` is added to the missing columns' message (where to name them).
    """
    header_line = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise CsvTableError(f"{path}: the file is empty") from None
    except csv.Error as error:
        raise CsvTableError(f"{path}: line {reader.line_num}: {error}") from None
    missing = [name for name in required if name not in header]
    if missing:
        raise CsvTableError(
            f"{path}: line 1: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(name) for name in missing)} (found: {', '.join(header)}"
            f"{'; ' + hint if hint else ''})"
        )
    rows: list[tuple[int, list[str]]] = []
    start = reader.line_num + 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as error:
        raise CsvTableError(f"{path}: line {start}: {error}") from None
    return CsvTable(header, rows, delimiter)
