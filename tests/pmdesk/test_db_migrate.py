"""`pmdesk db migrate-to URL`: a demo database to PostgreSQL and back, every table equal;
and what it refuses, leaving the target as it found it.

A real PostgreSQL server (tests/pg.py) and real SQLite files.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from core.base.kinds import StaffRole
from core.conversations.people import add_staff, list_staff
from core.demo.scenario import demo_settings
from core.demo.seeding import seed_demo
from core.store.db import create_db_engine, open_database
from core.store.lease import acquire, release
from core.store.migrate_to import MigrateError, migrate_to, table_digests, tables
from tests.pg import Server
from tests.pmdesk.test_staff_commands import run

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


@pytest.fixture
def server(postgres_server: Server) -> Server:
    return postgres_server


@pytest.fixture
def empty_postgres(server: Server) -> str:
    """An empty PostgreSQL database (no schema at all)."""
    return server.url(server.new_database(migrated=False))


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo database seeded as `pmdesk demo` seeds it (made once; the tests copy it)."""
    folder = tmp_path_factory.mktemp("demo")
    settings = demo_settings().model_copy(update={"db": str(folder / "demo.db")})
    engine = open_database(settings.db)
    seed_demo(engine, settings, NOW, folder=folder)
    engine.dispose()
    return folder / "demo.db"


def _copy_of(demo_file: Path, tmp_path: Path) -> Engine:
    target = tmp_path / "source.db"
    target.write_bytes(demo_file.read_bytes())
    return open_database(str(target))


def _rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return sum(
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in tables()
        )


def test_a_demo_database_goes_to_postgresql_and_back_every_table_equal(
    demo_file: Path, tmp_path: Path, empty_postgres: str
) -> None:
    source = _copy_of(demo_file, tmp_path)
    before = table_digests(source)
    assert sum(rows for rows, _ in before.values()) > 500  # the demo fills many tables
    seen: list[tuple[str, int, int]] = []

    there = migrate_to(source, empty_postgres, NOW, progress=lambda *step: seen.append(step))
    assert there.rows == sum(rows for rows, _ in before.values())
    assert {name for name, _, _ in seen} == set(before)
    postgres = create_db_engine(empty_postgres)
    assert table_digests(postgres) == before

    back = tmp_path / "back.db"
    migrate_to(postgres, str(back), NOW, batch=37)
    returned = create_db_engine(str(back))
    assert table_digests(returned) == before
    # The digest sees a changed value: it is not blind to content.
    with returned.begin() as connection:
        connection.execute(text("UPDATE staff SET name = name || 'x' WHERE id = 1"))
    assert table_digests(returned)["staff"] != before["staff"]
    for engine in (source, postgres, returned):
        engine.dispose()


def test_postgresql_sequences_continue_after_the_copied_ids(
    tmp_path: Path, empty_postgres: str
) -> None:
    source = open_database(str(tmp_path / "small.db"))
    for name in ("Camille Roux", "Thomas Garnier", "Inès Martin"):
        add_staff(source, name, StaffRole.PM, [], NOW)
    migrate_to(source, empty_postgres, NOW)
    postgres = open_database(empty_postgres)
    assert add_staff(postgres, "Léa Petit", StaffRole.PM, [], NOW) == 4
    assert len(list_staff(postgres)) == 4
    source.dispose()
    postgres.dispose()


def test_a_target_with_rows_is_refused_and_left_as_it_was(tmp_path: Path, server: Server) -> None:
    source = open_database(str(tmp_path / "small.db"))
    add_staff(source, "Camille Roux", StaffRole.PM, [], NOW)
    url = server.url(server.new_database(migrated=True))
    target = open_database(url)
    add_staff(target, "Someone Else", StaffRole.PM, [], NOW)
    with pytest.raises(MigrateError, match=r"not empty .*staff"):
        migrate_to(source, url, NOW)
    assert [member.name for member in list_staff(target)] == ["Someone Else"]
    target.dispose()
    source.dispose()


def test_a_target_at_another_revision_is_refused(tmp_path: Path, empty_postgres: str) -> None:
    source = open_database(str(tmp_path / "small.db"))
    target = create_db_engine(empty_postgres)
    from core.store.db import migrate

    migrate(target, "0001")
    with pytest.raises(MigrateError, match="target at 0001"):
        migrate_to(source, empty_postgres, NOW)
    target.dispose()
    source.dispose()


def test_a_running_source_is_refused_until_its_lease_is_released(
    tmp_path: Path, empty_postgres: str
) -> None:
    source = open_database(str(tmp_path / "small.db"))
    assert acquire(source, "host:1:serve", {"intake": "running"}, NOW, timedelta(seconds=30))
    with pytest.raises(MigrateError, match="services run on the source"):
        migrate_to(source, empty_postgres, NOW)
    release(source, "host:1:serve")
    migrate_to(source, empty_postgres, NOW)
    source.dispose()


def test_an_unreachable_target_is_one_clear_line(tmp_path: Path, server: Server) -> None:
    source = open_database(str(tmp_path / "small.db"))
    url = server.url("no_such_database")
    with pytest.raises(MigrateError, match="cannot reach") as refused:
        migrate_to(source, url, NOW)
    assert "\n" not in str(refused.value)
    source.dispose()


def test_a_copy_that_fails_midway_leaves_every_table_of_the_target_empty(
    demo_file: Path, tmp_path: Path, empty_postgres: str
) -> None:
    source = _copy_of(demo_file, tmp_path)
    calls = 0

    def fail_late(table: str, done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 40:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        migrate_to(source, empty_postgres, NOW, progress=fail_late)
    target = create_db_engine(empty_postgres)
    assert _rows(target) == 0
    # Then it can be done again into the same target.
    migrate_to(source, empty_postgres, NOW)
    assert table_digests(target) == table_digests(source)
    target.dispose()
    source.dispose()


def test_the_command(env: dict[str, str], tmp_path: Path, empty_postgres: str) -> None:
    assert run("staff", "add", "Camille Roux", "--role", "pm", env=env).returncode == 0
    done = run("db", "migrate-to", empty_postgres, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tables"]["staff"] == 1
    moved = {**env, "PMDESK_DB": empty_postgres}
    staff = json.loads(run("staff", "--json", env=moved).stdout)
    assert [person["name"] for person in staff] == ["Camille Roux"]
    again = run("db", "migrate-to", empty_postgres, env=env)
    assert again.returncode == 2
    assert "not empty" in again.stderr
    assert again.stderr.count("\n") == 1
