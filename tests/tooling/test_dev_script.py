"""dev.py installs once, and the package lists every data folder it ships."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_dev_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, list[list[str]]]:
    """dev.py on a copy of the project's metadata, recording the installs it would run."""
    module = load_dev_script()
    for name in ("pyproject.toml", "requirements.lock"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    installs: list[list[str]] = []
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "VENV", venv)
    monkeypatch.setattr(module, "PYTHON", venv / "bin" / "python")
    monkeypatch.setattr(module, "STAMP", venv / ".pmdesk-installed")
    monkeypatch.setattr(module, "install", installs.append)
    return module, installs


def targets(installs: list[list[str]]) -> list[str]:
    return [command[-1] for command in installs if "-e" in command]


def test_switching_between_test_and_demo_installs_only_once(
    dev: tuple[ModuleType, list[list[str]]],
) -> None:
    module, installs = dev

    module.ensure_environment("test")
    module.ensure_environment("")
    module.ensure_environment("test")
    module.ensure_environment("")

    assert targets(installs) == [".[test]"]


def test_demo_first_then_test_installs_the_test_tools_once(
    dev: tuple[ModuleType, list[list[str]]],
) -> None:
    module, installs = dev

    module.ensure_environment("")
    module.ensure_environment("test")
    module.ensure_environment("")
    module.ensure_environment("test")

    assert targets(installs) == [".", ".[test]"]


def test_a_change_to_the_dependencies_installs_again(
    dev: tuple[ModuleType, list[list[str]]],
) -> None:
    module, installs = dev
    module.ensure_environment("test")

    lock = module.ROOT / "requirements.lock"
    lock.write_text(lock.read_text() + "\n# pinned again\n")
    module.ensure_environment("")

    # What was installed before (the test tools) stays installed.
    assert targets(installs) == [".[test]", ".[test]"]


def test_every_data_folder_is_a_listed_package_with_its_files() -> None:
    """Otherwise setuptools warns at every install, and a wheel may leave files out."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages, package_data = set(config["packages"]), config["package-data"]
    data = ROOT / "data"
    for folder in [data, *sorted(path for path in data.rglob("*") if path.is_dir())]:
        if folder.name == "__pycache__":
            continue
        name = ".".join(["pmdesk", "data", *folder.relative_to(data).parts])
        assert name in packages, f"{name} is not listed in [tool.setuptools] packages"
        for file in folder.iterdir():
            if file.is_file() and file.suffix not in (".py", ".pyc"):
                patterns = package_data.get(name, [])
                assert any(fnmatch(file.name, pattern) for pattern in patterns), (
                    f"{file.relative_to(ROOT)} is not in package-data of {name}"
                )


def test_a_failed_install_shows_pips_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_dev_script()
    monkeypatch.setattr(module, "ROOT", tmp_path)
    fails = [sys.executable, "-c", "import sys; print('pip said why'); sys.exit(3)"]
    works = [sys.executable, "-c", "print('a page of notices')"]

    module.install(works)
    with pytest.raises(SystemExit) as exit_:
        module.install(fails)

    assert exit_.value.code == 3
    assert capsys.readouterr().err.strip() == "pip said why"


@pytest.mark.parametrize(("ci", "here", "installed"), [("true", False, True), ("", False, False),
                                                       ("true", True, False)])  # fmt: skip
def test_the_test_command_installs_postgresql_in_ci_only_when_missing(
    monkeypatch: pytest.MonkeyPatch, ci: str, here: bool, installed: bool
) -> None:
    module = load_dev_script()
    installs: list[list[str]] = []

    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(module, "found", lambda command: command != "initdb" or here)
    monkeypatch.setattr(module.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(module.subprocess, "run", lambda *_, **__: None)
    monkeypatch.setattr(module, "install", installs.append)

    module.ensure_system_packages()

    assert (["apt-get", "install", "-y", "-qq", "postgresql"] in installs) is installed
