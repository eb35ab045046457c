"""Pieces of text laid out in a row that wraps between pieces, never inside one.

Rich wraps a Text at any whitespace, the no-break spaces of "5 980,00 €"
included, so a total could be split across two lines in the middle of its
number. A Flow keeps each piece whole: one that does not fit on the line
starts the next (only a piece wider than the whole line is still wrapped).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from rich.console import Console, ConsoleOptions
from rich.measure import Measurement
from rich.text import Text


class Flow:
    def __init__(self, pieces: Iterable[Text], gap: int = 3) -> None:
        self.pieces = [piece for piece in pieces if piece.cell_len]
        self.gap = gap

    def lines(self, width: int) -> list[Text]:
        """The pieces in rows of at most `width` cells, each piece followed by the gap."""
        rows: list[Text] = []
        row = Text()
        for piece in self.pieces:
            # The row so far ends with a gap: the piece fits if its own cells do.
            if row.cell_len and row.cell_len + piece.cell_len > width:
                rows.append(row)
                row = Text()
            row.append_text(piece)
            row.append(" " * self.gap)
        if row.cell_len:
            rows.append(row)
        for line in rows:
            line.truncate(width)  # a gap past the edge
        return rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        yield from self.lines(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max((piece.cell_len for piece in self.pieces), default=0)
        whole = sum(piece.cell_len for piece in self.pieces)
        whole += self.gap * max(len(self.pieces) - 1, 0)
        return Measurement(min(widest, options.max_width), min(whole, options.max_width))
