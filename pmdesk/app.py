"""The `pmdesk` command and its groups, on which every command module registers."""

from __future__ import annotations

import typer

# Only light modules at the top: the read commands must answer in well under
# a second, and the ORM and the settings model are imported when needed.
from core.base import i18n
from core.base.paths import (
    ConfigError,
    configured,
)

app = typer.Typer(
    name="pmdesk",
    help="The console of the PM's assistant: task feed, response clocks, receivables.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
report_app = typer.Typer(help="Reports over a period.", no_args_is_help=True)
config_app = typer.Typer(help="Look at the configuration.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(config_app, name="config")


def _speak_the_configured_language() -> None:
    """Words and durations in the language of the agency's `locale`, as on the dashboard."""
    try:
        i18n.activate(configured("locale", "fr_FR"))
    except (ConfigError, OSError):
        # A broken configuration is the command's to report, in English; so is
        # a misspelt locale, when the command formats a date or an amount.
        i18n.activate("en_US")
