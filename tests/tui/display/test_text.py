"""Untrusted text reaches the screen as text: no markup, no escapes, no reordering."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.text import Text

from tui.display.text import as_text, clean, first_line, fit

ESC = "\x1b"


def rendered(text: Text) -> str:
    """What a terminal would be sent for `text`, styles and all."""
    console = Console(force_terminal=True, color_system="truecolor", width=200)
    with console.capture() as capture:
        console.print(text, end="")
    return capture.get()


@pytest.mark.parametrize(
    "hostile",
    [
        "[bold red]URGENT[/]",
        "[link=https://evil.example]click[/link]",
        "[@click=app.quit]x[/]",
        r"\[escaped] and [/] alone",
        ":warning: :smile:",
    ],
)
def test_markup_is_kept_literally(hostile: str) -> None:
    assert clean(hostile) == hostile
    text = as_text(hostile)
    assert text.plain == hostile
    assert text.spans == []
    assert rendered(text) == hostile


def test_as_text_applies_only_the_callers_style() -> None:
    text = as_text("[bold red]x[/]", "green")
    assert text.plain == "[bold red]x[/]"
    assert text.style == "green"
    assert "[bold red]x[/]" in rendered(text)


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("a\x1b[31mred\x1b[0m b", "ared b"),
        ("\x1b[38;2;255;0;0mtruecolour\x1b[m", "truecolour"),
        ("\x1b[2J\x1b[Hcleared", "cleared"),
        ("\x1b]8;;https://evil.example\x07click\x1b]8;;\x07", "click"),
        ("\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"),
        ("\x1b]0;window title\x07after", "after"),
        ("\x1bPq#0;2;0;0;0\x1b\\sixel", "sixel"),
        ("before\x1b]0;never terminated", "before"),
        ("\x1b(Bcharset", "charset"),
        ("\x1b7saved\x1b8", "saved"),
        ("lone\x1b", "lone"),
        ("\x1b[", ""),
    ],
)
def test_escape_sequences_are_removed(hostile: str, shown: str) -> None:
    assert clean(hostile) == shown
    assert ESC not in as_text(hostile).plain


def test_other_controls_stay_visible() -> None:
    assert clean("a\x00b\x07c\x08d\x7fe") == "a␀b␇c␈d␡e"
    # C1: 0x9B would be an 8-bit CSI; replaced, it cannot introduce anything.
    assert clean("x\x9b31my\x92") == "x\ufffd31my\ufffd"


def test_line_ends_become_newlines_and_tabs_spaces() -> None:
    assert clean("a\r\nb\rc\x85d\u2028e\u2029f") == "a\nb\nc\nd\ne\nf"
    assert clean("a\tb\n\tc") == "a   b\n    c"


@pytest.mark.parametrize("control", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e"])
def test_bidi_embeddings_and_overrides_are_removed(control: str) -> None:
    assert clean(f"invoice{control}fdp.exe") == "invoicefdp.exe"


@pytest.mark.parametrize("control", ["\u2066", "\u2067", "\u2068", "\u2069"])
def test_bidi_isolates_are_removed(control: str) -> None:
    assert clean(f"a{control}b") == "ab"


def test_direction_marks_and_right_to_left_text_are_kept() -> None:
    assert clean("שלום\u200f world") == "שלום\u200f world"


def test_everything_hostile_at_once() -> None:
    hostile = (
        "[bold red]URGENT[/] \x1b[31mred\x1b[0m "
        "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\x07 \u202eabc"
    )
    text = as_text(hostile)
    assert text.plain == "[bold red]URGENT[/] red click␇ abc"
    # No style at all: a terminal is sent the characters and nothing else.
    assert rendered(text) == text.plain
    assert "\u202e" not in text.plain


def test_first_line_skips_blank_lines_and_trims() -> None:
    assert first_line("\n   \n  Hello there  \nsecond") == "Hello there"
    assert first_line("") == ""
    assert first_line(" \n\t\n") == ""


def test_first_line_cuts_to_width_with_an_ellipsis() -> None:
    assert first_line("Hello there", 8) == "Hello t…"
    assert first_line("Hello", 5) == "Hello"
    assert first_line("Hello", 1) == "…"
    assert first_line("Hello", 0) == ""


def test_first_line_cleans_before_cutting() -> None:
    assert first_line("\x1b[31m[b]red[/b]\x1b[0m\nmore", 20) == "[b]red[/b]"


def test_fit_counts_cells_not_characters() -> None:
    # Each of these characters takes two cells.
    assert fit("日本語テキスト", 6) == "日本…"
    assert fit("日本語", 6) == "日本語"
    assert fit("anything", None) == "anything"


def test_a_very_long_line_is_cut_in_one_piece() -> None:
    line = "x" * 1_000_000
    assert first_line(line, 80) == "x" * 79 + "…"
