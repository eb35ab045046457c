"""Alembic environment: pmdesk hands it an open connection (see core.store.db.migrate)."""

from alembic import context

from core.store.schema import whole_schema

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=whole_schema(connection.dialect.name),
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
