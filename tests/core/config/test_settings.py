"""Configuration: file plus PMDESK_* variables, strict, with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config.settings import ConfigError, load_settings


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pmdesk.toml"
    path.write_text(body)
    return path


def test_defaults_without_any_file(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()

    assert settings.db.endswith("pmdesk.db")
    policy = settings.policies["default"]
    assert (policy.first_response_minutes, policy.warn_before_minutes) == (15, 5)
    assert policy.escalate_after_minutes == 30
    assert settings.calendars["office"].timezone == "Europe/Paris"


def test_file_values_and_variables_that_override_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        """
agency = "Pixel & Co"
db = "from-file.db"
[policies.default]
first_response_minutes = 20
[policies.vip]
first_response_minutes = 10
calendar = "24/7"
[clients."Big Client"]
policy = "vip"
""",
    )
    monkeypatch.setenv("PMDESK_CONFIG", str(path))
    monkeypatch.setenv("PMDESK_DB", "from-env.db")

    settings = load_settings()

    assert settings.agency == "Pixel & Co"
    assert settings.db == "from-env.db"
    assert settings.policies["default"].first_response_minutes == 20
    assert settings.clients["Big Client"].policy == "vip"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("agnecy = 'typo'", "agnecy: unknown key"),
        ("[policies.default]\ncalendar = 'moon'", "unknown calendar 'moon'"),
        ("[clients.Acme]\npolicy = 'gold'", "clients.Acme.policy: unknown policy 'gold'"),
        ("[calendars.office]\ntimezone = 'Mars/Olympus'", "unknown time zone 'Mars/Olympus'"),
        ("[calendars.office.shifts]\nmon = ['9h-18h']", "9h-18h"),
        ("[policies.default]\nwarn_before_minutes = 20", "must be shorter than"),
        ("agency = 'x'\nfoo = = 1\ntimezone = 'UTC'", "line 2"),
    ],
)
def test_a_bad_file_names_the_key_at_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, message: str
) -> None:
    monkeypatch.setenv("PMDESK_CONFIG", str(write(tmp_path, body)))

    with pytest.raises(ConfigError) as error:
        load_settings()

    assert message in str(error.value)
    assert str(tmp_path) in str(error.value)


def test_a_missing_file_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMDESK_CONFIG", str(tmp_path / "nope.toml"))

    with pytest.raises(ConfigError, match=r"nope\.toml: no such file"):
        load_settings()


def test_variables_reach_into_tables_and_take_json_for_whole_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PMDESK_DASHBOARD__THEME", "textual-light")
    monkeypatch.setenv("pmdesk_dashboard__bell", "false")
    monkeypatch.setenv("PMDESK_CLIENTS", '{"Acme": {"language": "en"}}')
    monkeypatch.setenv("PMDESK_NOT_A_SETTING", "ignored")

    settings = load_settings()

    assert settings.dashboard.theme == "textual-light"
    assert settings.dashboard.bell is False
    assert settings.clients["Acme"].language == "en"


def test_a_variable_with_broken_json_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMDESK_POLICIES", '{"default": ')

    with pytest.raises(ConfigError, match="PMDESK_POLICIES: not valid JSON"):
        load_settings()


def test_a_bad_variable_names_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMDESK_DASHBOARD__BELL", "loud")

    with pytest.raises(ConfigError, match=r"dashboard\.bell"):
        load_settings()


def test_a_bad_variable_is_blamed_on_the_variable_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PMDESK_CONFIG", str(write(tmp_path, "[policies.default]\ncalendar = '24/7'"))
    )
    monkeypatch.setenv("PMDESK_POLICIES__DEFAULT__FIRST_RESPONSE_MINUTES", "abc")
    monkeypatch.setenv("PMDESK_CLIENTS", '{"Big Co": {"policy": "gold"}}')

    with pytest.raises(ConfigError) as error:
        load_settings()

    message = str(error.value)
    assert "config file" not in message
    assert (
        "PMDESK_POLICIES__DEFAULT__FIRST_RESPONSE_MINUTES "
        "(policies.default.first_response_minutes): Input should be a valid number"
    ) in message


def test_a_bad_variable_next_to_a_bad_file_each_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "agnecy = 'typo'")
    monkeypatch.setenv("PMDESK_CONFIG", str(path))
    monkeypatch.setenv("PMDESK_DASHBOARD__BELL", "loud")

    with pytest.raises(ConfigError) as error:
        load_settings()

    assert str(error.value).splitlines() == [
        f"config file {path}:",
        "  agnecy: unknown key (did you mean agency?)",
        "PMDESK_* variables:",
        "  PMDESK_DASHBOARD__BELL (dashboard.bell): Input should be a valid boolean, "
        "unable to interpret input",
    ]


def test_a_rule_between_keys_names_the_variable_that_broke_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PMDESK_CLIENTS", '{"Big Co": {"policy": "gold"}}')

    with pytest.raises(ConfigError) as error:
        load_settings()

    assert "PMDESK_CLIENTS (clients.Big Co.policy): unknown policy 'gold'" in str(error.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[policies.default]\nfirst_respons_minutes = 3", "first_respons_minutes: unknown key "
         "(did you mean first_response_minutes?)"),
        ("[dashbord]\nbell = false", "dashbord: unknown key (did you mean dashboard?)"),
        ("[receivables]\nrun_time = '09:00'", "run_time: unknown key (did you mean run_at?)"),
        ("[clients.Acme]\nlanguge = 'en'", "clients.Acme.languge: unknown key (did you mean "
         "language?)"),
        ("zzz = 1", "zzz: unknown key\n"),
    ],
)  # fmt: skip
def test_a_misspelt_key_gets_a_did_you_mean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, message: str
) -> None:
    monkeypatch.setenv("PMDESK_CONFIG", str(write(tmp_path, body)))

    with pytest.raises(ConfigError) as error:
        load_settings()

    assert message in str(error.value) + "\n"


def test_variables_that_set_nothing_are_warned_about() -> None:
    from core.config.settings import unknown_variables

    warnings = unknown_variables(
        {
            "PMDESK_TIMEZON": "UTC",
            "PMDESK_CONFIG": "x.toml",
            "PMDESK_DB": "x.db",
            "PMDESK_DASHBOARD__THEME": "textual-light",
            "PMDESK_NOT_A_SETTING": "1",
            "HOME": "/home/ana",
        }
    )

    assert warnings == [
        "PMDESK_NOT_A_SETTING is not a pmdesk setting, ignored",
        "PMDESK_TIMEZON is not a pmdesk setting, ignored (did you mean PMDESK_TIMEZONE?)",
    ]


@pytest.mark.parametrize("name", ["PMDESK_WEBHOOK_SECRET", "PMDESK_TELEGRAM_WEBHOOK_SECRET"])
def test_a_webhook_secret_shorter_than_16_characters_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "short-secret-15")

    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_settings()

    monkeypatch.setenv(name, "long-enough-secret")
    assert load_settings()  # 18 characters are accepted
