"""A throwaway PostgreSQL server for the storage tests, started once per run.

`initdb` makes a cluster in a fresh temporary folder, `pg_ctl` starts it
listening on a unix socket in that folder only (no TCP port to clash with),
the schema is built once into a template database, and every test that asks
for PostgreSQL gets a database of its own: a copy of the template (`CREATE
DATABASE ... TEMPLATE`, far faster than migrating again), or one an earlier
test used, emptied (TRUNCATE, faster still) when that test left its schema as
the template's. The server and its folder are removed at the end of the run.

The binaries are found on PATH or under /usr/lib/postgresql/*/bin. PostgreSQL
refuses to run as root: then the server runs as the `postgres` user (the
system's packages create it), or as a user made for the purpose.

Without PostgreSQL the tests that need it are skipped with one line saying
why, except in CI (CI=true), where a missing server fails them: a CI run never
passes by silently skipping the PostgreSQL half of the storage tests.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TEMPLATE = "migrated"
SUPERUSER = "pmdesk"
# The server's settings for a test run: durability is worth nothing in a
# cluster deleted at the end, and costs most of the time of a small commit.
SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
    "shared_buffers=32MB",
    # A zone far from UTC, with a quarter-hour offset: an instant read or compared in
    # the server's zone rather than UTC shows in the tests.
    "timezone=Pacific/Chatham",
)


# What a test may have changed in a database's schema (tables, columns,
# indexes, functions, triggers, the revision): a database whose shape is the
# template's is emptied and used again.
SHAPE = """
SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace),
       (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relnamespace = 'public'::regnamespace),
       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace),
       (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal),
       (SELECT string_agg(version_num, ',') FROM alembic_version)
"""
TABLES = """
SELECT quote_ident(tablename) FROM pg_tables
 WHERE schemaname = 'public' AND tablename <> 'alembic_version' ORDER BY tablename
"""


class Unavailable(Exception):
    """No server can be started here; the message says why, in one line."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def binaries() -> Path:
    """The folder of initdb and pg_ctl: PATH first, else the newest under /usr/lib/postgresql."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    raise Unavailable("no PostgreSQL server here (initdb not on PATH nor in /usr/lib/postgresql)")


class Server:
    """One running cluster: its folder, socket, and the databases made in it."""

    def __init__(self, folder: Path, bin_dir: Path, port: int, user: str | None) -> None:
        self.folder = folder
        self.bin_dir = bin_dir
        self.port = port
        self.user = user  # the system user the server runs as, when not ourselves
        self._names = itertools.count(1)
        self._free: list[str] = []  # emptied databases with the template's schema
        self._shape: list[Any] = []
        self._truncate = ""

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.folder}&port={self.port}"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        completed = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, cwd=self.folder
        )
        if completed.returncode != 0:
            raise Unavailable(
                f"{Path(command[0]).name} failed: {(completed.stderr or completed.stdout).strip()}"
            )

    def start(self) -> None:
        data = self.folder / "data"
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = " ".join(
            [f"-c {setting}" for setting in SETTINGS]
            + [f"-p {self.port}", "-c listen_addresses=", f"-k {self.folder}"]
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        try:
            self._run(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-m",
                "immediate",
                "stop",
            )
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def admin(self, *statements: str, database: str = "postgres") -> list[Any]:
        """Statements run outside any transaction (CREATE and DROP DATABASE need that);
        the rows of the last one that returned any."""
        import psycopg

        found: list[Any] = []
        with psycopg.connect(
            host=str(self.folder),
            port=self.port,
            user=SUPERUSER,
            dbname=database,
            autocommit=True,
        ) as connection:
            for statement in statements:
                cursor = connection.execute(statement.encode())
                if cursor.description is not None:
                    found = cursor.fetchall()
        return found

    def build_template(self) -> None:
        from core.store.db import open_database

        self.admin(f"CREATE DATABASE {TEMPLATE}")
        engine = open_database(self.url(TEMPLATE))
        engine.dispose()
        self._shape = self.admin(SHAPE, database=TEMPLATE)
        tables = self.admin(TABLES, database=TEMPLATE)
        self._truncate = f"TRUNCATE {', '.join(name for (name,) in tables)} RESTART IDENTITY"

    def new_database(self, *, migrated: bool = True) -> str:
        """A database of its own: the schema at head (a copy of the template), or empty.

        A migrated one may be one an earlier test gave back, emptied (`give_back`).
        """
        if migrated and self._free:
            return self._free.pop()
        name = f"test_{os.getpid()}_{next(self._names)}"
        if migrated:
            self.admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        else:
            self.admin(f"CREATE DATABASE {name}")
        return name

    def give_back(self, name: str, *, migrated: bool) -> None:
        """A test's database, emptied for the next test when its schema is the template's
        (creating and dropping a database cost ten times more); else dropped."""
        import psycopg

        if migrated:
            try:
                shape = self.admin(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    SHAPE,
                    database=name,
                )
                if shape == self._shape:
                    self.admin(self._truncate, database=name)
                    self._free.append(name)
                    return
            except psycopg.Error:
                pass  # dropped below
        self.drop(name)

    def drop(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _server_user() -> str | None:
    """None when we may run the server ourselves; else the user to run it as (made if need be)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pmdesk-test"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    completed = subprocess.run(
        ["useradd", "--system", "--no-create-home", "pmdesk-test"], capture_output=True, text=True
    )
    if completed.returncode != 0:
        raise Unavailable(
            f"running as root and cannot make a user for PostgreSQL: {completed.stderr}"
        )
    return "pmdesk-test"


def start_server() -> Server:
    bin_dir = binaries()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise Unavailable(
            "the psycopg driver is not installed (pip install 'pmdesk[postgres]')"
        ) from None
    user = _server_user()
    folder = Path(tempfile.mkdtemp(prefix="pmdesk-pg-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    from tests.support import free_port

    server = Server(folder, bin_dir, free_port(), user)
    try:
        server.start()
        server.build_template()
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """The run's server; skips (fails in CI) the test asking for it when none can start."""
    try:
        server = start_server()
    except Unavailable as reason:
        if in_ci():
            pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
        pytest.skip(f"PostgreSQL: {reason}")
    try:
        yield server
    finally:
        server.stop()


def a_database(server: Server) -> Iterator[str]:
    """A migrated database of the throwaway server, given back after the test.

    For a test module of PostgreSQL alone: its `engine_url` fixture yields from this.
    """
    name = server.new_database()
    yield server.url(name)
    server.give_back(name, migrated=True)


def two_writers(url: str) -> Iterator[tuple[Any, Any]]:
    """Two engines on one database, as two processes have; disposed after the test."""
    from core.store.db import open_database

    first, second = open_database(url), open_database(url)
    yield first, second
    first.dispose()
    second.dispose()
