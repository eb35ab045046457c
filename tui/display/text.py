"""Untrusted text (client messages, thread titles, names) shown as text.

What clients write reaches the screen only through here. The cleaning rules
(no escape sequences, no bidi overrides, control characters made visible)
are core.base.text's, shared with the command line; on top of them, Rich markup
is not special: `as_text` builds a Text from the string itself, so
"[bold red]" shows as those eleven characters.
"""

from __future__ import annotations

from rich.text import Text

from core.base.i18n import N_, gettext
from core.base.text import ELLIPSIS, TAB_SIZE, clean, first_line, fit

__all__ = ["ELLIPSIS", "TAB_SIZE", "as_text", "clean", "first_line", "fit"]


def as_text(value: str, style: str = "") -> Text:
    """A Rich Text showing `value` literally: markup characters are just characters."""
    return Text(clean(value), style=style)


# The event kinds as people say them, in the catalogs.
KIND_WORDS = {
    "message": N_("message"),
    "status": N_("status"),
    "deadline": N_("deadline"),
    "assignee": N_("assignee"),
    "task_created": N_("task created"),
    "task_closed": N_("task closed"),
    "task_reopened": N_("task reopened"),
    "no_reply_needed": N_("no reply needed"),
}


def kind_words(kind: str) -> str:
    """An event kind as people say it, in the interface's language: "task_created" is
    "task created" ("tâche créée"); a kind the catalogs do not know keeps its own words."""
    words = KIND_WORDS.get(kind)
    return gettext(words) if words is not None else kind.replace("_", " ")
