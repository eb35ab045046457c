"""`pmdesk billing`: the monthly run, credit notes, direct debit files and the audit.

The group is defined here; each of its parts registers its commands on it
from its own module, imported below once the group exists.
"""

from __future__ import annotations

from importlib import import_module

import typer

billing_app: typer.Typer = typer.Typer(
    help="Billing from the contracts: the monthly run, credit notes, direct debits, the audit.",
    no_args_is_help=True,
)

# The modules that add commands to the group, in the order `--help` lists them.
BILLING_COMMAND_MODULES: tuple[str, ...] = (
    "pmdesk.billing_run",
    "pmdesk.billing_issue",
    "pmdesk.billing_debits",
    "pmdesk.billing_audit",
)

for _name in BILLING_COMMAND_MODULES:
    import_module(_name)
