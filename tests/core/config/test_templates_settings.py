"""The `[templates]` settings: roles, tag sets, teams, the calendar, the agency's folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config.settings import Settings


def test_the_defaults_name_the_roles_and_tag_sets_of_the_shipped_templates() -> None:
    settings = Settings()
    assert "pm" in settings.templates.roles and "Phase" in settings.templates.tag_sets
    assert settings.templates.folder is None and settings.templates.teams == {}
    # The templates count the business days of the default policy's calendar.
    assert settings.templates_calendar_name == "office"
    assert settings.templates_timezone == "Europe/Paris"


def test_the_folder_may_start_at_home() -> None:
    settings = Settings(templates={"folder": "~/templates"})
    assert settings.templates.folder == Path.home() / "templates"


@pytest.mark.parametrize(
    ("templates", "message"),
    [
        ({"teams": {"Acme": {"wizard": "Ana"}}}, "templates.teams.Acme.wizard: unknown role"),
        ({"calendar": "nowhere"}, "templates.calendar: unknown calendar 'nowhere'"),
        ({"roles": ["pm", "art director"]}, "is not a role name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_mistakes_are_refused_naming_the_key(templates: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(templates=templates)


def test_a_round_the_clock_policy_makes_every_day_a_business_day() -> None:
    settings = Settings(policies={"default": {"calendar": "24/7"}}, timezone="Europe/Rome")
    assert settings.templates_calendar_name == "24/7"
    assert settings.templates_timezone == "Europe/Rome"
