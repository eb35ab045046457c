"""The whole schema: every model module, for the few places that need every table at once.

A model module puts its tables on SQLModel.metadata when it is imported. A
command imports the modules of the tables it uses; building every model of
the schema as well cost a command's start-up a tenth of a second
(docs/benchmarks.md, ingest round 26). Only what needs every table asks
for them here: a new database built from the models, the migrations, a copy
to another database.

A partial index names its condition for SQLite alone: naming PostgreSQL's
in the model loads SQLAlchemy's PostgreSQL dialect in every process that
imports the model, on SQLite too (some 20 ms of a command's start-up). The
condition is SQL both databases read alike, and `whole_schema` hands it to
PostgreSQL when asked for that database's schema; the migrations name both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import MetaData


def whole_schema(dialect: str = "sqlite") -> MetaData:
    """SQLModel's metadata with every table of the schema on it, for `dialect`'s database."""
    from sqlmodel import SQLModel

    import core.store.models.billing
    import core.store.models.contracts
    import core.store.models.debits
    import core.store.models.mail
    import core.store.models.outbox
    import core.store.models.receivables
    import core.store.models.reports
    import core.store.models.staff
    import core.store.models.system
    import core.store.models.templates
    import core.store.models.threads
    import core.store.models.time
    import core.store.models.tracker
    import core.store.models.worksection  # noqa: F401  (each puts its tables on the metadata)

    metadata = SQLModel.metadata
    if dialect == "postgresql":
        _partial_on_postgresql(metadata)
    return metadata


def _partial_on_postgresql(metadata: MetaData) -> None:
    for table in metadata.tables.values():
        for index in table.indexes:
            where = index.dialect_options["sqlite"]["where"]
            if where is not None:
                index.dialect_options["postgresql"]["where"] = where
