"""Opening the database: pragmas, URLs, migrations applied at start."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError

from core.store.db import (
    HEAD_REVISION,
    DatabaseError,
    create_db_engine,
    current_revision,
    database_url,
    migrate,
    open_database,
    write,
    write_on,
)
from core.store.reader import instant


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = open_database(str(tmp_path / "pmdesk.db"))
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 10_000


def test_a_write_that_cannot_begin_fails_as_sqlalchemy_reports_it(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE runs on the driver; a database locked by another writer still fails
    with SQLAlchemy's OperationalError (what the ingestion and the services catch), and the
    connection begins its next transaction as ever."""
    engine = open_database(str(tmp_path / "pmdesk.db"))
    with engine.connect() as holder, engine.connect() as connection:
        for each in (holder, connection):
            # On the driver: through SQLAlchemy the pragma would begin a transaction.
            each.connection.driver_connection.execute("PRAGMA busy_timeout = 0")  # type: ignore[union-attr]
        with write_on(holder):
            with (
                pytest.raises(OperationalError, match="database is locked"),
                write_on(connection),
            ):
                pass
            assert not connection.in_transaction()
        with write_on(connection):
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
        assert not connection.in_transaction()


def test_commits_are_durable_except_in_a_bulk_import(tmp_path: Path) -> None:
    """FULL: a commit answered is on disk even after a power loss; NORMAL (1) could lose it."""
    engine = open_database(str(tmp_path / "pmdesk.db"))
    bulk = open_database(str(tmp_path / "pmdesk.db"), bulk=True)
    with engine.connect() as connection, bulk.connect() as importing:
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2
        assert importing.execute(text("PRAGMA synchronous")).scalar() == 1


def test_the_log_is_folded_back_past_4000_pages_and_past_20000_in_a_bulk_import(
    tmp_path: Path,
) -> None:
    """Not SQLite's 1,000: small commits rewrite the same pages, copied back once per log."""
    engine = open_database(str(tmp_path / "pmdesk.db"))
    bulk = open_database(str(tmp_path / "pmdesk.db"), bulk=True)
    with engine.connect() as connection, bulk.connect() as importing:
        assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 4000
        assert importing.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 20000


def test_a_new_database_gets_the_whole_schema(tmp_path: Path) -> None:
    engine = open_database(str(tmp_path / "sub" / "dir" / "pmdesk.db"))

    tables = set(inspect(engine).get_table_names())
    assert {"event", "thread", "clock", "client", "staff", "alembic_version"} <= tables
    assert current_revision(engine) == HEAD_REVISION


def test_the_migrations_describe_exactly_the_models(new_database: Callable[..., str]) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.store.schema import whole_schema

    # A new database is built from the models (open_database); this one runs
    # every migration instead, and both must end up the same.
    migrated = create_db_engine(new_database("migrated", migrated=False))
    migrate(migrated, HEAD_REVISION)
    fresh = open_database(new_database("fresh", migrated=False))
    for engine in (migrated, fresh):
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, whole_schema(engine.dialect.name)) == []
    assert _schema(migrated) == _schema(fresh)


# Partial indexes, and a word of the condition each holds.
PARTIAL = {
    "ix_event_stops": "no_reply_needed",
    "ix_event_unread": "triage",
    "ix_notification_pending": "status",
    "ix_timerow_own": "comment",
}


def test_the_partial_indexes_are_partial_whether_built_from_the_models_or_migrated(
    new_database: Callable[..., str],
) -> None:
    # The models name SQLite's condition alone; PostgreSQL gets it from
    # whole_schema when a database is built from them.
    migrated = create_db_engine(new_database("migrated", migrated=False))
    migrate(migrated, HEAD_REVISION)
    fresh = open_database(new_database("fresh", migrated=False))
    for engine in (migrated, fresh):
        conditions = _partial_indexes(engine)
        assert conditions.keys() == PARTIAL.keys()
        for name, word in PARTIAL.items():
            assert word in conditions[name]


def _partial_indexes(engine: Engine) -> dict[str, str]:
    """Each partial index of the database, with its definition from WHERE on."""
    if engine.dialect.name == "sqlite":
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    else:
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    with engine.connect() as connection:
        rows = connection.execute(text(query)).all()
    return {name: sql.partition(" WHERE ")[2] for name, sql in rows if " WHERE " in sql}


def _schema(engine: Engine) -> dict[str, tuple[object, ...]]:
    found = inspect(engine)
    return {
        name: (
            sorted(str(column["type"]) + column["name"] for column in found.get_columns(name)),
            sorted(index["name"] or "" for index in found.get_indexes(name)),
            sorted(str(key["referred_table"]) for key in found.get_foreign_keys(name)),
            sorted(str(unique["column_names"]) for unique in found.get_unique_constraints(name)),
        )
        for name in found.get_table_names()
    }


def test_an_older_database_is_upgraded_in_place_keeping_its_rows(
    new_database: Callable[..., str],
) -> None:
    url = new_database("old", migrated=False)
    engine = create_db_engine(url)
    migrate(engine, "base")
    migrate(engine, "0001")  # the first released schema
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO client (name, language, created_at) VALUES ('Acme', 'fr', :at)"),
            {"at": "2026-01-01 00:00:00.000000"},
        )
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    engine.dispose()

    upgraded = open_database(url)

    assert current_revision(upgraded) == HEAD_REVISION
    with upgraded.connect() as connection:
        assert connection.execute(text("SELECT name FROM client")).scalar() == "Acme"
    upgraded.dispose()


def test_the_newest_migration_goes_down_and_up_again(new_database: Callable[..., str]) -> None:
    """A 64-bit Telegram id fits after the upgrade on either engine."""
    url = new_database("updown", migrated=False)
    engine = create_db_engine(url)
    migrate(engine, HEAD_REVISION)
    _downgrade(engine, "0019")
    assert current_revision(engine) == "0019"
    migrate(engine)
    with write(engine) as connection:
        connection.execute(
            text(
                "INSERT INTO staff (name, role, telegram_id, active, created_at)"
                " VALUES ('Ana', 'assistant', 5123456789, true, :at)"
            ),
            {"at": "2026-01-01 00:00:00.000000"},
        )
        assert connection.execute(text("SELECT telegram_id FROM staff")).scalar() == 5123456789
    engine.dispose()


def _downgrade(engine: Engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    import core.store.db

    config = Config()
    config.set_main_option(
        "script_location", str(Path(core.store.db.__file__).parent / "migrations")
    )
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        connection.commit()


def test_a_path_or_a_url_is_accepted() -> None:
    assert database_url("/var/lib/pmdesk/x.db") == "sqlite:////var/lib/pmdesk/x.db"
    assert database_url("postgresql://u:p@db/pmdesk") == "postgresql://u:p@db/pmdesk"


def test_a_bad_url_is_one_clear_error() -> None:
    with pytest.raises(DatabaseError, match="not a database URL"):
        database_url("://nonsense")
    with pytest.raises(DatabaseError, match="cannot use database"):
        create_db_engine("nosuchdialect://host/db")


def test_a_file_that_is_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not a database, just some notes\n" * 100)

    with pytest.raises(DatabaseError, match=r"notes\.txt"):
        open_database(str(path))


def test_bulk_inserts_store_exactly_what_sqlalchemy_would(tmp_path: Path) -> None:
    """Rows written by the fast path must read back, sort and compare like the others."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import insert

    from core.store.db import insert_many, write
    from core.store.models.system import table
    from core.store.models.threads import Thread

    threads = table(Thread)
    engine = open_database(str(tmp_path / "pmdesk.db"))
    paris = timezone(timedelta(hours=1))
    row = {"channel": "webhook", "created_at": datetime(2026, 11, 23, 10, 0, 1, 5, tzinfo=paris)}
    with write(engine) as connection:
        connection.execute(insert(threads), [row])
        insert_many(connection, threads, [row])

    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT kind, title, closed, created_at FROM thread ORDER BY id")
        ).all()
    assert stored[0] == stored[1]
    assert stored[1] == ("task", "", 0, "2026-11-23 09:00:01.000005")


def test_instants_kept_by_a_caller_are_written_as_each_row_holds_them(tmp_path: Path) -> None:
    """One `stamps` shared by several inserts and updates: each instant in its own text,
    the same instant written with another offset the same, no instant mistaken for another."""
    from datetime import UTC, datetime, timedelta, timezone

    from core.store.db import insert_many, update_many, write
    from core.store.models.system import table
    from core.store.models.threads import Thread

    threads = table(Thread)
    engine = open_database(str(tmp_path / "pmdesk.db"))
    paris = timezone(timedelta(hours=1))
    first = datetime(2026, 11, 23, 9, 0, 1, 5, tzinfo=UTC)
    stamps: dict[datetime, str] = {}
    rows = [
        {"id": 1, "channel": "webhook", "created_at": first, "last_event_at": None},
        {"id": 2, "channel": "webhook", "created_at": first.astimezone(paris),
         "last_event_at": first},
        {"id": 3, "channel": "webhook", "created_at": first + timedelta(microseconds=1),
         "last_event_at": first + timedelta(days=400)},
    ]  # fmt: skip
    with write(engine) as connection:
        insert_many(connection, threads, rows, stamps=stamps)
        later = datetime(2027, 1, 2, 3, 4, 5, tzinfo=paris)
        update_many(connection, threads, [{"id": 1, "last_event_at": later}], stamps)
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT id, created_at, last_event_at FROM thread ORDER BY id")
        ).all()
    assert stored == [
        (1, "2026-11-23 09:00:01.000005", "2027-01-02 02:04:05.000000"),
        (2, "2026-11-23 09:00:01.000005", "2026-11-23 09:00:01.000005"),
        (3, "2026-11-23 09:00:01.000006", "2027-12-28 09:00:01.000005"),
    ]


def test_a_password_in_a_database_url_is_never_shown() -> None:
    from core.base.paths import shown_database

    with pytest.raises(DatabaseError) as error:
        create_db_engine("nosuchdialect://ana:s3cret-pass@db.example/pmdesk")

    assert "s3cret-pass" not in str(error.value)
    assert "nosuchdialect://ana:***@db.example/pmdesk" in str(error.value)
    assert shown_database("postgresql+psycopg://ana:p%40ss:w@db/pm") == (
        "postgresql+psycopg://ana:***@db/pm"
    )
    assert shown_database("postgresql://db.example/pm") == "postgresql://db.example/pm"
    assert shown_database("/srv/pmdesk/pm:db.db") == "/srv/pmdesk/pm:db.db"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_the_database_and_its_log_files_are_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "pmdesk.db"
    engine = open_database(str(path))
    with write(engine) as connection:
        connection.execute(text("CREATE TABLE scratch (x INTEGER)"))

        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        modes = {file.name: stat.S_IMODE(file.stat().st_mode) for file in files}
    engine.dispose()

    assert modes == {"pmdesk.db": 0o600, "pmdesk.db-wal": 0o600, "pmdesk.db-shm": 0o600}


def test_ids_go_on_after_a_batch_however_it_was_inserted(engine: Engine) -> None:
    """The fast insert hands out ids itself on SQLite; any insert after it takes the next."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from core.store.db import insert_with_ids
    from core.store.models.system import table
    from core.store.models.threads import Thread

    threads = table(Thread)
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    rows = [{"channel": "webhook", "created_at": at} for _ in range(3)]
    with write(engine) as connection:
        first = insert_with_ids(connection, threads, rows)
    with write(engine) as connection:
        after = connection.execute(
            insert(threads).values(channel="webhook", created_at=at).returning(threads.c.id)
        ).scalar_one()
        second = insert_with_ids(connection, threads, rows[:1])
    assert first == [1, 2, 3]
    assert (after, second) == (4, [5])


def test_the_plain_statements_run_on_either_engine(engine: Engine) -> None:
    """The fast paths' statements in SQLite's text (`?` marks) run on PostgreSQL too."""
    from core.store.db import plain_many, plain_rows

    with write(engine) as connection:
        connection.execute(
            text(
                "INSERT INTO client (name, language, created_at) VALUES"
                " ('Acme', 'fr', '2026-01-01 00:00:00'), ('Bigco', 'fr', '2026-01-01 00:00:00')"
            )
        )
        changed = plain_many(
            connection,
            "UPDATE client SET language = ? WHERE name = ?",
            [("en", "Acme"), ("de", "Bigco"), ("it", "Nobody")],
        )
        found = plain_rows(connection, "SELECT name, language FROM client WHERE name IN (?, ?)",
                           ("Acme", "Bigco"))  # fmt: skip
        stored = plain_rows(connection, "SELECT created_at FROM client WHERE name = ?", ("Acme",))
    assert changed == 2
    assert sorted(found) == [("Acme", "en"), ("Bigco", "de")]
    # A naive instant is UTC on either engine, whatever the server's zone.
    assert instant(stored[0][0]) == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "stored",
    [
        "2026-03-13 04:15:52.957821",  # as SQLAlchemy and stamp write it
        "2026-03-13T04:15:52.957821",
        "2026-03-13 04:15:52",
        "2026-03-13 04:15:52.957821Z",
        datetime(2026, 3, 13, 4, 15, 52, 957821),
    ],
)
def test_a_stored_instant_in_any_of_its_text_forms_reads_as_the_same_utc_instant(
    stored: str | datetime,
) -> None:
    expected = datetime(2026, 3, 13, 4, 15, 52, 957821, tzinfo=UTC)
    if isinstance(stored, str) and "." not in stored:
        expected = expected.replace(microsecond=0)

    found = instant(stored)

    assert found == expected
    assert found is not None and found.tzinfo is UTC
