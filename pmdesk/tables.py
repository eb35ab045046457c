"""Tables that fit the terminal: long text cut with "…", figures never cut."""

from __future__ import annotations

import functools
from typing import Any

from core.base.i18n import gettext
from pmdesk.console import _plain, out
from pmdesk.context import context


def __getattr__(name: str) -> Any:
    # `_WIDE`, the --wide option of the commands that print tables: made when a
    # command module declares it, so that printing a table needs no typer.
    if name == "_WIDE":
        import typer

        return typer.Option("--wide", help="Show every cell whole instead of fitting the terminal.")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _table(title: str, columns: list[str], right: tuple[str, ...] = ()) -> Any:
    """A table that fits the terminal: long text cut with "…" (see PlainTable).

    `right`: columns of figures, aligned right and never cut.
    """
    fit = out.is_terminal and not context().wide
    table = _plain_table()(title=title, title_justify="left")
    for name in columns:
        table.add_column(
            gettext(name),
            justify="right" if name in right else "left",
            overflow="ellipsis" if fit else "fold",
            no_wrap=fit,
        )
    return table


# A text column cut to fit the terminal keeps at least this many cells (or its header's).
MIN_CUT_WIDTH = 6


@functools.cache
def _plain_table() -> Any:
    """rich's Table for the command line's output.

    Cells given as strings are untrusted text: cleaned, and never markup. On
    a terminal each row takes one line: when the table would be wider than
    the terminal, the widest text columns are cut first, their cells ending
    with "…"; figures (the `right` columns) are never cut. `--wide`, and
    output that is not a terminal (a pipe, a file), show every cell whole,
    wrapped in its column.
    """
    from rich.table import Table

    class PlainTable(Table):
        def add_row(self, *cells: Any, **options: Any) -> None:
            super().add_row(*(_plain(cell) for cell in cells), **options)

        def __rich_console__(self, console: Any, options: Any) -> Any:
            if all(column.no_wrap for column in self.columns):
                self._fit(options.max_width)
            yield from super().__rich_console__(console, options)

        def _fit(self, width: int) -> None:
            from rich.text import Text

            def cells(value: Any) -> int:
                return value.cell_len if isinstance(value, Text) else len(str(value))

            widths = [
                max([cells(column.header), *(cells(cell) for cell in column.cells)])
                for column in self.columns
            ]
            # Each column takes its padding (a cell either side) and a border.
            excess = sum(widths) + 3 * len(widths) + 1 - width
            floors = [
                width
                if column.justify == "right"
                else min(width, max(cells(column.header), MIN_CUT_WIDTH))
                for column, width in zip(self.columns, widths, strict=True)
            ]
            while excess > 0:
                # The widest column that may still lose a cell.
                cuttable = [i for i in range(len(widths)) if widths[i] > floors[i]]
                if not cuttable:
                    break  # as narrow as allowed: rich cuts the rest
                widths[max(cuttable, key=lambda i: widths[i])] -= 1
                excess -= 1
            for column, fitted in zip(self.columns, widths, strict=True):
                column.width = fitted

    return PlainTable
