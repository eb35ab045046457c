"""The quick read of the first screenful's settings agrees with the full validation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from core.base.paths import ConfigError
from core.config.quick import SETTING_NAMES, FirstSettings, quick_settings
from core.config.settings import Settings, load_settings

DEMO_CONFIG = Path(__file__).parents[3] / "data" / "demo" / "config.toml"

SAMPLE = """
agency = "Atelier Nord"
timezone = "America/Montreal"
locale = "en_CA"
operator = "Sam Staff"
db = "sample.db"

[dashboard]
theme = "pmdesk-light"
bell = false
keys = { "main.reply" = "ctrl+r", "thread.undo" = "z,u" }

[calendars.office]
timezone = "America/Montreal"
country = "CA"

[policies.default]
first_response_minutes = 20
next_response_minutes = 45
warn_before_minutes = 5

[policies.vip]
first_response_minutes = 7.5
warn_before_minutes = 2
calendar = "24/7"

[clients."Maison Berthier"]
policy = "vip"
"""


def seen(settings: FirstSettings) -> dict[str, Any]:
    """Every value the first screenful reads, as plain data."""
    return {
        "db": settings.db,
        "agency": settings.agency,
        "timezone": settings.timezone,
        "locale": settings.locale,
        "operator": settings.operator,
        "theme": settings.dashboard.theme,
        "bell": settings.dashboard.bell,
        "keys": dict(settings.dashboard.keys),
        "policies": {
            name: (
                policy.first_response_minutes,
                policy.next_response_minutes,
                policy.target_minutes("first"),
                policy.target_minutes("next"),
            )
            for name, policy in settings.policies.items()
        },
    }


def both(monkeypatch: pytest.MonkeyPatch, config: Path | None, **variables: str) -> tuple[Any, Any]:
    if config is not None:
        monkeypatch.setenv("PMDESK_CONFIG", str(config))
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    quick = quick_settings()
    assert quick is not None
    return seen(quick), seen(load_settings())


def test_the_quick_read_knows_every_setting() -> None:
    assert set(Settings.model_fields) == SETTING_NAMES


def test_both_reads_agree_on_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    quick, full = both(monkeypatch, None)
    assert quick == full
    assert quick["policies"] == {"default": (15, 15, 15, 15)}


def test_both_reads_agree_on_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    quick, full = both(monkeypatch, DEMO_CONFIG)
    assert quick == full
    assert quick["agency"] == "Atelier Lumen" and set(quick["policies"]) == {"default", "vip"}


def test_both_reads_agree_on_a_sample_config_and_its_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "pmdesk.toml"
    config.write_text(SAMPLE, encoding="utf-8")
    quick, full = both(monkeypatch, config)
    assert quick == full
    assert quick["policies"]["vip"] == (7.5, 15, 7.5, 15)
    assert quick["bell"] is False and quick["keys"]["thread.undo"] == "z,u"

    quick, full = both(
        monkeypatch,
        config,
        PMDESK_AGENCY="Atelier Sud",
        PMDESK_DASHBOARD__BELL="yes",
        PMDESK_DASHBOARD__THEME="textual-light",
        PMDESK_POLICIES__VIP__NEXT_RESPONSE_MINUTES="12",
        PMDESK_DB="elsewhere.db",
    )
    assert quick == full
    assert (quick["agency"], quick["bell"], quick["db"]) == ("Atelier Sud", True, "elsewhere.db")
    assert quick["policies"]["vip"] == (7.5, 12, 7.5, 12)


@pytest.mark.parametrize(
    ("text", "variables"),
    [
        ('agncy = "typo"\n', {}),
        ("[dashboard]\nbell = 3\n", {}),
        ('timezone = "Mars/Olympus"\n', {}),
        ("[policies.default]\nfirst_response_minutes = -5\n", {}),
        ("[policies.vip]\nfirst_response_minutes = 5\n", {}),  # no default policy
        ("", {"PMDESK_DASHBOARD__BELL": "perhaps"}),
        ("", {"PMDESK_DASHBOARD__COLOUR": "red"}),
    ],
)
def test_a_value_not_plainly_right_leaves_the_verdict_to_the_full_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, variables: dict[str, str]
) -> None:
    config = tmp_path / "pmdesk.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PMDESK_CONFIG", str(config))
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert quick_settings() is None
    with pytest.raises(ConfigError):
        load_settings()


def test_a_broken_file_or_variable_is_said_by_both_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "pmdesk.toml"
    config.write_text("agency = \n", encoding="utf-8")
    monkeypatch.setenv("PMDESK_CONFIG", str(config))
    with pytest.raises(ConfigError, match=r"pmdesk\.toml"):
        quick_settings()
    with pytest.raises(ConfigError, match=r"pmdesk\.toml"):
        load_settings()
    monkeypatch.delenv("PMDESK_CONFIG")
    monkeypatch.setenv("PMDESK_POLICIES", "{not json")
    with pytest.raises(ConfigError, match="PMDESK_POLICIES: not valid JSON"):
        quick_settings()
    with pytest.raises(ConfigError, match="PMDESK_POLICIES: not valid JSON"):
        load_settings()


def test_the_quick_read_loads_no_pydantic() -> None:
    import subprocess

    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from core.config.quick import quick_settings; quick_settings();"
            " print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[3],
    )
    assert found.stdout.strip() == "[]"
