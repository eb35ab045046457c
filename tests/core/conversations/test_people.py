"""Registering staff: roles kept, people recognised by any of their emails."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from core.conversations.ingest import Ingestor
from core.conversations.people import (
    AmbiguousStaff,
    UnknownStaff,
    add_staff,
    edit_staff,
    find_staff,
    invite,
    list_staff,
    mute,
    operator,
    redeem,
    remove_staff,
)
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


def test_staff_are_found_by_id_email_or_name_in_any_case(engine: Engine) -> None:
    sam = add_staff(engine, "Sam Staff", "pm", ["sam@agency.example"], START)

    assert find_staff(engine, sam).id == sam
    assert find_staff(engine, str(sam)).id == sam
    assert find_staff(engine, "  sAM staff ").id == sam
    assert find_staff(engine, "SAM@agency.example").id == sam


def test_an_unknown_name_is_refused_with_close_names(engine: Engine) -> None:
    add_staff(engine, "Samantha", "pm", [], START)

    with pytest.raises(UnknownStaff, match=r"'Samanta' \(did you mean Samantha\?\)"):
        find_staff(engine, "Samanta")
    with pytest.raises(UnknownStaff, match=r"no staff member 'Zoe'$"):
        remove_staff(engine, "Zoe")
    with pytest.raises(UnknownStaff):
        find_staff(engine, 999)


def test_a_shared_name_is_ambiguous_unless_one_is_gone(engine: Engine) -> None:
    first = add_staff(engine, "Alex", "pm", ["alex.m@agency.example"], START)
    second = add_staff(engine, "alex", "specialist", ["alex.r@agency.example"], START)

    with pytest.raises(AmbiguousStaff, match=r"2 staff members are called 'Alex': .*alex\.r@"):
        find_staff(engine, "Alex")

    remove_staff(engine, first)
    assert find_staff(engine, "Alex").id == second


def test_removed_staff_stay_listed_but_never_act(engine: Engine) -> None:
    ana = add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)
    bea = add_staff(engine, "Bea", "assistant", ["bea@agency.example"], START)

    remove_staff(engine, "ana")

    assert [(view.name, view.active) for view in list_staff(engine)] == [
        ("Ana", False),
        ("Bea", True),
    ]
    assert operator(engine) == find_staff(engine, bea)
    assert operator(engine, "ana@agency.example") is None
    assert find_staff(engine, ana).active is False


def test_mute_sets_and_lifts_the_hold(engine: Engine) -> None:
    sam = add_staff(engine, "Sam", "pm", [], START)

    mute(engine, sam, START + timedelta(hours=2))
    assert find_staff(engine, sam).muted_until == START + timedelta(hours=2)
    mute(engine, sam, None)
    assert find_staff(engine, sam).muted_until is None
    with pytest.raises(UnknownStaff):
        mute(engine, 999, None)


def test_edit_changes_only_what_is_given(engine: Engine) -> None:
    ana = add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)

    edited = edit_staff(
        engine,
        "ana",
        name="Ana Lopez",
        role="manager",
        add_emails=["Ana.L@Agency.example"],
        remove_emails=["ana@agency.example"],
    )

    assert edited == find_staff(engine, ana)
    assert (edited.name, edited.role, edited.emails, edited.active) == (
        "Ana Lopez",
        "manager",
        ("ana.l@agency.example",),
        True,
    )


def test_a_removed_member_comes_back_unbound(engine: Engine) -> None:
    ana = add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)
    redeem(engine, invite(engine, ana, START), 4242, START)

    off = edit_staff(engine, ana, active=False)
    back = edit_staff(engine, ana, active=True)

    assert (off.active, off.telegram_id) == (False, None)
    assert (back.active, back.telegram_id) == (True, None)
    assert operator(engine, "ana@agency.example") == back


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"add_emails": ["bea@agency.example"]}, "bea@agency.example is Bea's"),
        ({"remove_emails": ["nope@agency.example"]}, "Ana has no email nope@agency.example"),
        ({"add_emails": ["ana"]}, "'ana' is not an email address"),
        ({"role": "boss"}, "'boss' is not a valid StaffRole"),
        ({"name": "  "}, "a name cannot be empty"),
    ],
)
def test_an_edit_that_cannot_be_done_changes_nothing(
    engine: Engine, changes: dict[str, object], message: str
) -> None:
    ana = add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)
    add_staff(engine, "Bea", "pm", ["bea@agency.example"], START)
    before = find_staff(engine, ana)

    with pytest.raises(ValueError, match=message):
        edit_staff(engine, ana, **{"name": "Other", **changes})  # type: ignore[arg-type]

    assert find_staff(engine, ana) == before
