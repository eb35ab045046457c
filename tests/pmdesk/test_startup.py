"""Start-up speed: the command line loads none of the heavy libraries until a command needs them.

`pmdesk --help`, `pmdesk clocks` and the others start in a fraction of a
second because the database layer (SQLAlchemy, SQLModel), the settings'
validation (pydantic) and the dashboard (Textual) are imported inside the
commands that use them. A fresh interpreter imports the module and reports
what it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "textual", "telegram")

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted({{name.partition(".")[0] for name in sys.modules}})))
"""


def loaded_by(module: str) -> set[str]:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(completed.stdout))


@pytest.mark.parametrize("module", ["pmdesk.cli", "pmdesk.dashboard"])
def test_the_command_line_imports_no_heavy_library(module: str) -> None:
    assert loaded_by(module) & set(HEAVY) == set()


def test_the_probe_sees_a_heavy_import() -> None:
    # The check above would pass on a probe that saw nothing: a table's
    # model does load SQLAlchemy and pydantic.
    assert {"sqlalchemy", "pydantic"} <= loaded_by("core.store.models.threads")


RUN_PROBE = """
import json, sys
sys.argv = ["pmdesk", *{arguments!r}]
from pmdesk.cli import register
register(sys.argv[1:])
print(json.dumps(sorted(sys.modules)))
"""


def registered_by(arguments: list[str]) -> set[str]:
    completed = subprocess.run(
        [sys.executable, "-c", RUN_PROBE.format(arguments=arguments)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(completed.stdout))


@pytest.mark.parametrize(
    ("arguments", "module"),
    [
        (["report", "sla", "--json"], "pmdesk.report"),
        (["--db", "clocks", "clocks", "--json"], "pmdesk.clocks"),
    ],
)
def test_a_command_run_imports_its_own_module_alone(arguments: list[str], module: str) -> None:
    loaded = registered_by(arguments)
    commands = {name for name in loaded if name.startswith("pmdesk.")}
    assert module in commands
    assert not commands & {"pmdesk.invoices", "pmdesk.dashboard", "pmdesk.staff", "pmdesk.ingest"}
    assert {name.partition(".")[0] for name in loaded} & set(HEAVY) == set()


def test_help_and_unknown_names_register_every_command() -> None:
    from pmdesk.cli import COMMAND_MODULES, _command_named

    assert _command_named(["--help", "report"]) is None
    assert _command_named(["nosuch"]) is None
    assert _command_named(["--config", "x.toml", "report", "--help"]) == "report"
    listed = subprocess.run(
        [sys.executable, "-m", "pmdesk", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert all(f"  {name} " in listed for name in COMMAND_MODULES)


# -- the read commands run without typer ----------------------------------------------------

# What only the command line's parsing and its help need, and rich, which
# only tables need: a read command asked for JSON loads none of them.
PARSING = ("typer", "click", "rich", "babel")

LOADED_AT_EXIT = """
import json, sys
sys.argv = ["pmdesk", *{arguments!r}]
try:
    from pmdesk.cli import main
    main()
finally:
    sys.stderr.write("\\nLOADED " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def run_and_list_modules(arguments: list[str], env: dict[str, str]) -> set[str]:
    """The packages loaded by a run (their top-level names)."""
    return {name.partition(".")[0] for name in modules_of_a_run(arguments, env)}


def modules_of_a_run(arguments: list[str], env: dict[str, str]) -> set[str]:
    # Only the usual PMDESK_ variables: another one has the settings model
    # (pydantic) look at it, in case it is misspelt (pmdesk.context).
    usual = {name: value for name, value in env.items() if name != "PMDESK_LOCALE"}
    completed = subprocess.run(
        [sys.executable, "-c", LOADED_AT_EXIT.format(arguments=arguments)],
        cwd=ROOT,
        env=usual,
        capture_output=True,
        text=True,
        check=True,
    )
    listed = completed.stderr.rpartition("\nLOADED ")[2]
    return set(json.loads(listed))


def ingested(tmp_path: Path, env: dict[str, str]) -> None:
    from tests.support import make_event

    lines = [make_event("m1", 0), make_event("r1", 4, role="staff"), make_event("m2", 30)]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pmdesk", "ingest", str(source)], env=env, check=True, cwd=ROOT
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ["report", "sla", "--json", "--since", "2026-01-01"],
        ["clocks", "--json"],
        ["--db", "{db}", "clocks", "--limit=2", "--json"],
    ],
)
def test_a_read_command_for_scripts_runs_without_typer_or_rich(
    tmp_path: Path, env: dict[str, str], arguments: list[str]
) -> None:
    ingested(tmp_path, env)
    arguments = [argument.format(db=env["PMDESK_DB"]) for argument in arguments]
    loaded = run_and_list_modules(arguments, env)
    assert loaded & {*PARSING, *HEAVY} == set()


def test_the_report_for_scripts_loads_no_catalog_and_none_of_the_modules_it_can_do_without(
    tmp_path: Path, env: dict[str, str]
) -> None:
    ingested(tmp_path, env)
    loaded = run_and_list_modules(["report", "sla", "--json", "--period", "30d"], env)
    # The words' catalog (nothing to translate), the default database's place
    # (one is configured), dataclasses, decimal, logging: each costs start-up.
    assert loaded & {"gettext", "platformdirs", "dataclasses", "decimal", "logging"} == set()


def test_an_import_loads_only_the_tables_it_writes_and_the_holidays_it_kept(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # The default policy: office hours on French working days.
    env = {name: value for name, value in env.items() if name != "PMDESK_CONFIG"}
    ingested(tmp_path, env)  # meets the year's public holidays, and keeps them
    loaded = modules_of_a_run(["ingest", str(tmp_path / "events.jsonl")], env)
    assert "core.conversations.ingest" in loaded
    assert "sqlalchemy.dialects.postgresql" not in loaded
    assert "holidays" not in loaded
    models = {name for name in loaded if name.startswith("core.store.models.")}
    assert models == {
        f"core.store.models.{name}" for name in ("outbox", "staff", "system", "threads", "tracker")
    }


def test_a_table_needs_rich_but_no_typer(tmp_path: Path, env: dict[str, str]) -> None:
    ingested(tmp_path, env)
    loaded = run_and_list_modules(["report", "sla", "--since", "2026-01-01"], env)
    assert "rich" in loaded
    assert loaded & {"typer", "click", *HEAVY} == set()


def test_help_and_mistakes_are_left_to_typer(tmp_path: Path, env: dict[str, str]) -> None:
    ingested(tmp_path, env)
    assert "typer" in run_and_list_modules(["report", "sla", "--help"], env)
    with pytest.raises(subprocess.CalledProcessError):  # exit status 2: typer's usage error
        run_and_list_modules(["clocks", "--limit", "0"], env)


TYPER_ALONE = """
import sys
sys.argv = ["pmdesk", *sys.argv[1:]]
from pmdesk.cli import register
register(sys.argv[1:])
from pmdesk.app import app
app()
"""


@pytest.mark.parametrize(
    "arguments",
    [
        ["report", "sla", "--since", "2026-11-01", "--until", "2026-11-30"],
        ["report", "sla", "--since", "2026-11-01", "--until", "2026-11-30", "--json", "--wide"],
        ["report", "sla", "--until=2026-11-30", "--period", "2w", "--period", "30d"],
        ["report", "sla", "--since", "2026-11-30", "--until", "2026-11-01"],
        ["report", "sla", "--since", "someday"],
        ["report", "sla", "--since", "", "--until", "2026-11-30", "--json"],
        ["clocks"],
        ["clocks", "--limit", "1"],
        ["--config", "{config}", "--db", "{db}", "clocks", "--wide"],
        ["--db={db}", "report", "sla", "--period", "3d", "--until", "2026-11-24"],
        ["--db", "{missing}", "report", "sla", "--json", "--until", "2026-11-24"],
    ],
)
def test_a_read_command_answers_alike_with_and_without_typer(
    tmp_path: Path, env: dict[str, str], arguments: list[str]
) -> None:
    ingested(tmp_path, env)
    places = {"db": env["PMDESK_DB"], "config": env["PMDESK_CONFIG"]}
    arguments = [
        argument.format(**places, missing=tmp_path / "directory" / "missing.db")
        for argument in arguments
    ]
    from pmdesk.reads import parsed

    assert parsed(arguments) is not None  # this one does run without typer
    quick, typer = (
        subprocess.run(
            [sys.executable, *how, *arguments], env=env, cwd=ROOT, capture_output=True, text=True
        )
        for how in (["-m", "pmdesk"], ["-c", TYPER_ALONE])
    )
    assert (quick.returncode, quick.stdout, quick.stderr) == (
        typer.returncode,
        typer.stdout,
        typer.stderr,
    )


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["--help"],
        ["--version"],
        ["clocks", "--help"],
        ["report"],
        ["report", "other"],
        ["report", "sla", "extra"],
        ["report", "sla", "--since"],
        ["report", "sla", "--since", "--json"],
        ["report", "sla", "--json=yes"],
        ["report", "sla", "--limit", "3"],
        ["report", "--db", "x.db", "sla"],
        ["clocks", "--db", "x.db"],
        ["clocks", "--limit", "0"],
        ["clocks", "--limit", "-1"],
        ["clocks", "--limit", "two"],
        ["clocks", "--limit", "١"],
        ["clocks", "--"],
        ["clocks", "-"],
        ["--db"],
        ["--nosuch", "clocks"],
        ["ingest", "events.jsonl"],
    ],
)
def test_anything_but_a_well_formed_read_command_is_left_to_typer(arguments: list[str]) -> None:
    from pmdesk.reads import parsed

    assert parsed(arguments) is None


def test_well_formed_read_commands_are_read_as_typer_reads_them() -> None:
    from pmdesk.reads import parsed

    assert parsed(["--db=a.db", "--config", "c.toml", "report", "sla", "--json"]) == (
        ("report", "sla"),
        {"db": "a.db", "config": "c.toml"},
        {"as_json": True},
    )
    assert parsed(["clocks", "--limit", "3", "--limit=007", "--wide"]) == (
        ("clocks",),
        {},
        {"limit": 7, "wide": True},
    )
    assert parsed(["report", "sla", "--since=", "--period", "2w"]) == (
        ("report", "sla"),
        {},
        {"since": "", "period": "2w"},
    )


def test_the_read_commands_know_exactly_the_options_typer_declares() -> None:
    from typer.main import get_command

    from pmdesk.cli import app
    from pmdesk.reads import COMMANDS, COUNT, FLAG, OWN_OPTIONS, TEXT

    def declared(command: Any) -> dict[str, tuple[str, str]]:
        found = {}
        for parameter in command.params:
            if parameter.name in ("help", "version"):
                continue
            assert parameter.param_type_name == "option"
            if parameter.is_flag:
                kind = FLAG
            elif type(parameter.type).__name__ == "IntRange":
                assert (parameter.type.min, parameter.type.max) == (1, None)
                kind = COUNT
            else:
                assert type(parameter.type).__name__ == "StringParamType"
                kind = TEXT
            [spelt] = parameter.opts
            assert not parameter.secondary_opts and not parameter.multiple
            assert parameter.envvar is None and parameter.nargs == 1
            found[spelt] = (str(parameter.name), kind)
        return found

    root = get_command(app)
    assert declared(root) == OWN_OPTIONS
    for words, (options, _) in COMMANDS.items():
        command: Any = root
        for word in words:
            command = command.commands[word]
        assert not [parameter for parameter in command.params if parameter.name == "arguments"]
        assert declared(command) == options
