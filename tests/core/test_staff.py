"""Registering staff: roles kept, people recognised by any of their emails."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from core.ingest import Ingestor
from core.staff import add_staff, list_staff
from tests.support import START, make_event


def test_registered_staff_keep_their_role_when_they_write(
    engine: Engine, ingestor: Ingestor
) -> None:
    add_staff(
        engine, "Sam Staff", "assistant", ["Sam@Agency.example", "sam.s@agency.example"], START
    )

    ingestor.ingest([make_event("m1", 0), make_event("r1", 2, role="staff")])

    [sam] = list_staff(engine)
    assert (sam.name, sam.role) == ("Sam Staff", "assistant")
    assert sam.emails == ("sam.s@agency.example", "sam@agency.example")


def test_adding_someone_known_by_an_email_keeps_the_first(engine: Engine) -> None:
    first = add_staff(engine, "Sam", "pm", ["sam@agency.example"], START)

    again = add_staff(engine, "Samuel", "manager", ["sam@agency.example"], START)

    assert again == first
    assert [(view.name, view.role) for view in list_staff(engine)] == [("Sam", "pm")]


def test_an_unknown_role_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="'boss' is not a valid StaffRole"):
        add_staff(engine, "Al", "boss", [], START)
    assert list_staff(engine) == []
