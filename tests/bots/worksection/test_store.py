"""What the Worksection connector keeps, with no network: inbox, cache, snapshots, echoes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select

from bots.worksection.store import (
    EVENTS_POLL,
    TaskInfo,
    cached_tasks,
    claim_echo,
    finish_inbox,
    inbox_counts,
    last_success,
    pending_inbox,
    poll_lag,
    record_success,
    remember_tasks,
    reply_author_email,
    save_tags,
    staff_emails,
    store_inbox,
    tag_states,
)
from core.config.settings import Settings, WorksectionConfig, settings_from
from core.conversations.actions import reply
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.notify.drain import due_deliveries
from core.store.models.outbox import Delivery
from core.store.models.system import table
from core.store.models.threads import ThreadRef
from tests.support import MovableClock, make_event

DELIVERY = table(Delivery)


def test_inbox_rows_wait_in_order_until_settled(engine: Engine, clock: MovableClock) -> None:
    first = store_inbox(engine, ['{"a": 1}', '{"b": 2}'], clock())
    store_inbox(engine, ["not json"], clock(), error="malformed JSON")
    assert [item.body for item in pending_inbox(engine)] == ['{"a": 1}', '{"b": 2}']

    finish_inbox(
        engine, [(first[0], "done", None), (first[1], "ignored", "project change")], clock()
    )
    assert pending_inbox(engine) == []
    assert inbox_counts(engine) == {"done": 1, "ignored": 1, "failed": 1}
    assert store_inbox(engine, [], clock()) == []


def test_the_task_cache_keeps_titles_and_tags_apart(engine: Engine, clock: MovableClock) -> None:
    task = TaskInfo("42", "Logo", "/project/7/42/", "7", "Acme site")
    save_tags(engine, [(task, ["b", "a"], 0)], clock())
    remember_tasks(engine, [TaskInfo("42", "Logo v2", "/project/7/42/", "7", "Acme site")], clock())

    assert cached_tasks(engine, ["42", "43"]) == {
        "42": TaskInfo("42", "Logo v2", "/project/7/42/", "7", "Acme site")
    }
    state = tag_states(engine)["42"]
    assert (state.tags, state.version) == (("a", "b"), 0)  # a title refresh keeps the tags
    remember_tasks(engine, [TaskInfo("43", "Never tag-polled")], clock())
    assert tag_states(engine)["43"].tags is None


def test_the_poll_cursor_says_how_far_behind_the_poller_is(
    engine: Engine, clock: MovableClock
) -> None:
    assert poll_lag(engine, clock()) is None
    record_success(engine, EVENTS_POLL, clock())
    clock.advance(seconds=90)
    assert poll_lag(engine, clock()) == 90.0
    record_success(engine, EVENTS_POLL, clock())
    assert last_success(engine, EVENTS_POLL) == clock()


def _worksection_thread(ingestor: Ingestor) -> int:
    """A thread opened by a client comment on Worksection task 4211; its id."""
    result = ingestor.ingest_one(make_event("comment:1", 0, task="4211", source="worksection"))
    assert result.status == "created"
    refs = table(ThreadRef)
    with ingestor.engine.connect() as connection:
        found: int = connection.execute(
            select(refs.c.thread_id).where(refs.c.source == "worksection")
        ).scalar_one()
    return found


def test_an_echo_is_known_by_its_comment_id_or_else_by_author_and_text(
    engine: Engine, ingestor: Ingestor, clock: MovableClock
) -> None:
    sam = add_staff(engine, "Sam Staff", "pm", ["Sam@Agency.example"], clock())
    thread = _worksection_thread(ingestor)
    sent = reply(ingestor, thread, sam, "  On it  ", clock=clock).event_id
    assert sent is not None
    assert reply_author_email(engine, sent) == "sam@agency.example"
    assert [view.event_id for view in due_deliveries(engine, clock(), channel="worksection")] == [
        sent
    ]
    assert due_deliveries(engine, clock(), channel="telegram") == []

    # Posted, but the process stopped before recording it: the echo settles it.
    assert claim_echo(engine, "4211", "c-1", "On it", "SAM@agency.example", clock()) == sent
    with engine.connect() as connection:
        delivery = connection.execute(select(DELIVERY)).one()
    assert (delivery.status, delivery.channel_message_id) == ("delivered", "c-1")
    assert due_deliveries(engine, clock(), channel="worksection") == []
    assert claim_echo(engine, "4211", "c-1", "edited since", None, clock()) == sent

    # A comment by the same person with other words, or on another task, is not ours.
    assert (
        claim_echo(engine, "4211", "c-2", "Something else", "sam@agency.example", clock()) is None
    )
    assert claim_echo(engine, "9999", "c-3", "On it", "sam@agency.example", clock()) is None


def test_staff_emails_are_the_registered_addresses(engine: Engine, clock: MovableClock) -> None:
    add_staff(engine, "Ana", "assistant", ["ana@agency.example", "ana@gmail.example"], clock())
    assert staff_emails(engine) == {"ana@agency.example", "ana@gmail.example"}


# -- configuration -------------------------------------------------------------


def test_the_worksection_table_is_read_and_variables_override_it() -> None:
    settings = settings_from(
        {"worksection": {"account": "atelier", "timezone": "Europe/Kyiv"}},
        {
            "PMDESK_WORKSECTION__API_KEY": "k-123",
            "PMDESK_WORKSECTION__STAFF_DOMAINS": '["@Agency.example"]',
        },
    )
    config = settings.worksection
    assert config is not None
    assert (config.api_key, config.timezone) == ("k-123", "Europe/Kyiv")
    assert config.staff_domains == ["agency.example"]
    assert config.url == "https://atelier.worksection.com"
    assert Settings().worksection is None


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"api_key": "k"}, "set account (or base_url)"),
        ({"account": "atelier"}, "set api_key (or the oauth_* settings)"),
        (
            {"account": "atelier", "oauth_token": "t"},
            "lasts 24 hours and cannot be renewed without oauth_client_id, "
            "oauth_client_secret, oauth_refresh_token; set them, or use the admin api_key",
        ),
        (
            {"account": "atelier", "oauth_refresh_token": "r", "oauth_client_id": "c"},
            "cannot be renewed without oauth_client_secret;",
        ),
        ({"account": "atelier", "api_key": "k", "timezone": "Mars/Base"}, "unknown time zone"),
        ({"account": "a b", "api_key": "k"}, "String should match pattern"),
        ({"account": "atelier", "api_key": "k", "poll": 3}, "Extra inputs"),
    ],
)
def test_a_bad_worksection_table_is_one_clear_error(values: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as error:
        WorksectionConfig(**values)
    assert problem in str(error.value)


def test_a_base_url_replaces_the_account_address() -> None:
    config = WorksectionConfig(base_url="http://127.0.0.1:9/", api_key="k")
    assert config.url == "http://127.0.0.1:9"
    assert timedelta(seconds=config.poll_interval) == timedelta(minutes=1)
