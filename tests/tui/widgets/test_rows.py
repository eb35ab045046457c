"""A list of rows drawn by line: labels kept over the rows, cells justified right."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from tui.widgets.rows import RowList


class Rows(App[None]):
    def __init__(self, labels: list[str] | None) -> None:
        super().__init__()
        self.labels = labels

    def compose(self) -> ComposeResult:
        yield RowList([6, 8, None], self.labels)

    def on_mount(self) -> None:
        rows = [
            (Text(f"F-{index}"), Text(f"{index * 7}.00", justify="right"), Text("next"))
            for index in range(30)
        ]
        rows_list = self.query_one(RowList)
        rows_list.set_rows(rows)
        rows_list.focus()


def lines(rows: RowList) -> list[str]:
    return [rows.render_line(y).text for y in range(rows.scrollable_content_region.height)]


async def test_the_labels_stay_over_the_rows_as_they_scroll() -> None:
    async with Rows(["number", "amount", "step"]).run_test(size=(40, 6)) as pilot:
        rows = pilot.app.query_one(RowList)
        # 38 cells: the scroll bar takes two of the 40.
        assert lines(rows)[:3] == [
            "number  amount    step".ljust(38),
            "F-0         0.00  next".ljust(38),
            "F-1         7.00  next".ljust(38),
        ]
        for _ in range(10):
            await pilot.press("down")
        await pilot.pause()
        assert rows.cursor_row == 10
        shown = lines(rows)
        # The labels first, then the rows up to the cursor's, the last one shown.
        assert shown[0].startswith("number  amount")
        assert shown[-1].startswith("F-10       70.00  next")
        assert len(shown) == 6
        await pilot.press("pageup")
        await pilot.pause()
        # A page is the rows under the labels.
        assert rows.cursor_row == 5
        await pilot.press("home")
        await pilot.pause()
        assert lines(rows)[1].startswith("F-0 ")


async def test_without_labels_the_rows_start_on_the_first_line() -> None:
    async with Rows(None).run_test(size=(40, 6)) as pilot:
        rows = pilot.app.query_one(RowList)
        assert lines(rows)[0] == "F-0         0.00  next".ljust(38)
        await pilot.press("pagedown")
        await pilot.pause()
        assert rows.cursor_row == 6


async def test_new_rows_set_the_scroll_range_and_the_bar_without_a_new_layout() -> None:
    async with Rows(["number", "amount", "step"]).run_test(size=(40, 6)) as pilot:
        rows = pilot.app.query_one(RowList)
        await pilot.pause()
        layouts: list[bool] = []
        screen = pilot.app.screen
        original = screen._refresh_layout

        def counted(size: object = None, scroll: bool = False) -> None:
            layouts.append(scroll)
            original(size, scroll)  # type: ignore[arg-type]

        screen._refresh_layout = counted  # type: ignore[method-assign]
        more = [(Text(f"G-{index}"), Text("1.00"), Text("later")) for index in range(60)]
        rows.set_rows(more)
        await pilot.pause()
        assert rows.max_scroll_y == 61 - rows.scrollable_content_region.height
        await pilot.press("end")
        await pilot.pause()
        assert rows.cursor_row == 59
        assert lines(rows)[-1].startswith("G-59")
        assert False not in layouts  # scrolling only: no layout of the screen
        # Fewer rows than the height: the bar goes, the rows take its two cells.
        rows.set_rows(more[:2])
        await pilot.pause()
        assert not rows.show_vertical_scrollbar
        assert lines(rows)[1] == "G-0     1.00      later".ljust(40)


async def test_rows_drawn_ahead_show_as_drawn_now_and_not_after_new_widths() -> None:
    def made(name: str) -> list[tuple[Text, ...]]:
        return [
            (Text(f"{name}-{index}"), Text(f"{index}.00", justify="right"), Text("later"))
            for index in range(30)
        ]

    async with Rows(["number", "amount", "step"]).run_test(size=(40, 6)) as pilot:
        rows = pilot.app.query_one(RowList)
        ahead = made("G")
        rows.prerender(ahead[:3])
        drawn = rows._made[id(ahead[0])][3]
        rows.set_rows(ahead)
        await pilot.pause()
        assert lines(rows)[1] == "G-0         0.00  later".ljust(38)
        assert rows._lines[0] is drawn  # shown as drawn ahead, not drawn again
        assert id(ahead[0]) not in rows._made
        # Drawn for other columns: drawn again for the list's own.
        other = made("H")
        rows.prerender(other[:3])
        rows.widths = [4, 8, None]
        rows.set_rows(other)
        await pilot.pause()
        assert lines(rows)[1] == "H-0       0.00  later".ljust(38)
