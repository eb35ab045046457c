"""Texts written from the templates shipped in `pmdesk.data` (data/<folder>/<language>/).

One jinja2 environment per folder for the process, so each template is
compiled once, not per client. Templates whose name ends in `.html.j2` are
escaped as HTML; every other one is plain text, left as written (escaping
would turn a client named "A & B" into "A &amp; B" in a reminder). Names
are paths inside the folder: "fr/friendly.txt.j2".
"""

from __future__ import annotations

import functools
import importlib.resources
from typing import Any

RESOURCES = "pmdesk.data"


@functools.cache
def template_environment(folder: str) -> Any:
    """The environment that loads the templates of data/<folder>/."""
    import jinja2

    root = importlib.resources.files(RESOURCES) / folder

    def load(name: str) -> str | None:
        resource = root.joinpath(*name.split("/"))
        return resource.read_text(encoding="utf-8") if resource.is_file() else None

    def is_html(name: str | None) -> bool:
        return bool(name and name.endswith(".html.j2"))

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        autoescape=is_html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
