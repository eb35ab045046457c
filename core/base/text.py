"""Untrusted text (client messages, thread titles, names, bank texts) made safe to show.

What clients write reaches a terminal, the dashboard's or the command
line's, only through `clean`, so none of it can drive the terminal (escape
sequences: colours, hyperlinks, window titles, cursor moves) or reorder what
the assistant reads (bidi overrides). The rules, in order:

- Escape sequences are removed entirely: CSI (ESC [ ...), the string commands
  OSC, DCS, SOS, PM and APC up to their terminator (BEL or ST, or the end of
  the line when a sender left them open), two-character escapes (ESC 7,
  ESC ( B ...) and a lone ESC. The 8-bit forms (0x9B, 0x9D ...) are C1
  characters, replaced below: without their introducer the rest is plain text,
  and it is more often mis-decoded Windows-1252 than an attack.
- Line ends are normalised to "\\n": CRLF, CR, NEL, U+2028, U+2029. Callers
  decide what a newline means (first_line keeps the first line).
- Tabs become spaces (tab stops every 4 columns).
- Every other control character stays visible rather than vanishing, so a
  stray byte in a message is noticed: C0 and DEL become their Control Pictures
  symbol (NUL -> "␀", BEL -> "␇", DEL -> "␡"), C1 becomes "\\ufffd".
- Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) are
  removed, so text reads in the order it was stored. The plain direction marks
  (LRM, RLM, ALM) are kept: they cannot reorder a run of text.

Rich markup is the caller's to keep out: show the result as a Rich Text (the
dashboard's `tui.display.text.as_text`, the command line's tables), never as markup.
"""

from __future__ import annotations

import re

from rich.cells import cell_len, set_cell_size

TAB_SIZE = 4
ELLIPSIS = "…"

_STRING_COMMAND = r"\x1b[\]PX^_][^\x07\x1b\x9c\n\r]*(?:\x07|\x1b\\|\x9c)?"
_CSI = r"\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
_SHORT_ESCAPE = r"\x1b[\x20-\x2f]*[\x30-\x7e]"
_ESCAPE = re.compile(f"{_STRING_COMMAND}|{_CSI}|{_SHORT_ESCAPE}|\x1b")
_LINE_END = re.compile("\r\n|[\r\x85\u2028\u2029]")


def _translation() -> dict[int, str | None]:
    table: dict[int, str | None] = {code: chr(0x2400 + code) for code in range(0x20)}
    table[0x7F] = "\u2421"
    table.update(dict.fromkeys(range(0x80, 0xA0), "\ufffd"))
    # Bidi embeddings (LRE RLE PDF LRO RLO) and isolates (LRI RLI FSI PDI).
    table.update(dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
    del table[ord("\n")], table[ord("\t")]
    return table


_TRANSLATION = _translation()


def clean(value: str) -> str:
    """The text with nothing in it that a terminal would act on; see the module's rules."""
    value = _ESCAPE.sub("", value)
    value = _LINE_END.sub("\n", value)
    return value.translate(_TRANSLATION).expandtabs(TAB_SIZE)


def fit(value: str, width: int | None) -> str:
    """`value` cut to `width` terminal cells, an ellipsis marking the cut."""
    if width is None or cell_len(value) <= width:
        return value
    if width <= 0:
        return ""
    # set_cell_size pads with a space where a wide character would be split.
    return set_cell_size(value, width - 1).rstrip() + ELLIPSIS


def clip(value: str, limit: int) -> str:
    """`value` cut to `limit` characters, an ellipsis marking the cut.

    Characters, not terminal cells (that is `fit`): for limits that count
    characters, such as a Telegram message's.
    """
    return value if len(value) <= limit else value[: limit - 1] + ELLIPSIS


def first_line(value: str, width: int | None = None) -> str:
    """The first line with something on it, cleaned and cut to `width` cells."""
    for line in clean(value).split("\n"):
        line = line.strip()
        if line:
            return fit(line, width)
    return ""
