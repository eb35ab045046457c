"""Alembic environment: pmdesk hands it an open connection (see core.store.db.migrate)."""

from alembic import context
from sqlmodel import SQLModel

import core.store.models.billing
import core.store.models.outbox
import core.store.models.receivables
import core.store.models.reports
import core.store.models.staff
import core.store.models.system
import core.store.models.templates
import core.store.models.threads
import core.store.models.time
import core.store.models.tracker
import core.store.models.worksection  # noqa: F401  (registers the tables)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
