"""The connector within the limits Worksection's documentation states.

The fake account enforces each one (tests/fakes/worksection.py): get_events'
three ranges of periods, 8 KB request lines, 10,000 records per answer,
OAuth2 tokens that expire after 24 hours.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from bots.worksection.api import (
    MAX_TEXT_CHARS,
    WorksectionClient,
    WorksectionError,
    event_period,
    form,
)
from bots.worksection.oauth import TokenKeeper
from bots.worksection.poller import WorksectionConnector
from bots.worksection.store import EVENTS_POLL, last_success, load_tokens
from core.config.settings import Settings, WorksectionConfig
from core.conversations.actions import reply
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.sla.policies import PolicyBook
from core.store.models.outbox import Delivery
from core.store.models.system import table
from core.store.models.threads import Event, Thread
from tests.bots.worksection.accounts import fast_client, ws_settings
from tests.fakes.worksection import CLIENT_ID, CLIENT_SECRET, TOKEN, FakeWorksection
from tests.support import MovableClock

TASK = "4211"
EVENT, THREAD, DELIVERY = table(Event), table(Thread), table(Delivery)


@pytest.fixture
def account(clock: MovableClock) -> Iterator[FakeWorksection]:
    # No pacing refusals here: these tests count calls (pacing is test_connector's).
    fake = FakeWorksection(now=clock)
    with fake.running():
        fake.add_task(TASK, "Homepage redesign", tags=["In progress"])
        yield fake


@pytest.fixture
def settings(account: FakeWorksection) -> Settings:
    return ws_settings(account)


def messages(engine: Engine) -> list[Any]:
    query = select(EVENT).where(EVENT.c.kind == "message").order_by(EVENT.c.id)
    with engine.connect() as connection:
        return list(connection.execute(query))


def periods(account: FakeWorksection) -> list[str]:
    return [call.params["period"] for call in account.calls if call.action == "get_events"]


# -- get_events' periods ------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "period"),
    [
        (0, "1m"),
        (1, "1m"),
        (360, "360m"),
        (361, "7h"),
        (420, "7h"),
        (421, "8h"),
        (1439, "24h"),
        (72 * 60, "72h"),
        (72 * 60 + 1, "4d"),
        (73 * 60, "4d"),
        (30 * 1440, "30d"),
        (30 * 1440 + 1, "30d"),
        (90 * 1440, "30d"),
    ],
)
def test_the_period_is_the_smallest_unit_that_covers_the_window(minutes: int, period: str) -> None:
    assert event_period(minutes) == period


@pytest.mark.parametrize("period", ["360m", "1h", "72h", "1d", "30d"])
async def test_the_fake_takes_each_documented_range(account: FakeWorksection, period: str) -> None:
    client = fast_client(account)
    await client.call("get_events", {"period": period})
    await client.aclose()


@pytest.mark.parametrize("period", ["361m", "1439m", "73h", "31d", "0m", "1.5h", "2w"])
async def test_the_fake_refuses_a_period_out_of_the_documented_ranges(
    account: FakeWorksection, period: str
) -> None:
    client = fast_client(account)
    with pytest.raises(WorksectionError) as refused:
        await client.call("get_events", {"period": period})
    assert "Invalid period" in refused.value.message
    await client.aclose()


@pytest.mark.parametrize(
    ("hours_off", "period"),
    [(8, "9h"), (23, "24h"), (62, "63h"), (70, "71h"), (100, "5d")],
)
async def test_a_connector_left_off_catches_up_on_its_own(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    hours_off: int,
    period: str,
) -> None:
    await connector.poll_events()
    clock.advance(minutes=2)
    account.client_comment(TASK, "Friday evening: can you look at it?")
    clock.advance(hours=hours_off, minutes=-2)
    account.client_comment(TASK, "Monday morning: any news?")
    await connector.poll_events()

    assert [e.text for e in messages(engine)] == [
        "Friday evening: can you look at it?",
        "Monday morning: any news?",
    ]
    assert periods(account)[-1] == period
    assert last_success(engine, EVENTS_POLL) == clock()
    assert (await connector.state()).last_error is None


async def test_off_for_just_under_30_days_reads_everything_and_reports_no_gap(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
) -> None:
    await connector.poll_events()
    clock.advance(minutes=1)
    account.client_comment(TASK, "Just after the last poll")
    clock.advance(days=30, minutes=-3)  # with the overlap, past 30 days: the period is capped
    await connector.poll_events()

    assert periods(account)[-1] == "30d"
    assert [e.text for e in messages(engine)] == ["Just after the last poll"]
    assert connector.gap is None
    assert (await connector.state()).last_error is None


async def test_a_log_past_an_answers_records_is_read_project_by_project(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
) -> None:
    account.max_records = 3  # Worksection's 10,000, small enough to fill here
    account.add_task("5100", "Logo", ("78", "Globex"))
    account.add_task("5200", "Flyers", ("79", "Initech"))
    await connector.poll_events()
    clock.advance(hours=1)
    for n in range(2):
        account.client_comment(TASK, f"Acme {n}")
        account.client_comment("5100", f"Globex {n}")
    for n in range(4):
        account.client_comment("5200", f"Initech {n}")  # past the limit on its own
    clock.advance(days=2)
    await connector.poll_events()

    assert sorted(e.text for e in messages(engine)) == ["Acme 0", "Acme 1", "Globex 0", "Globex 1"]
    projects = [c.params.get("id_project") for c in account.calls if c.action == "get_events"]
    assert projects[-4:] == [None, "77", "78", "79"]
    error = (await connector.state()).last_error
    assert error is not None and "project 79" in error and "not all read" in error


async def test_off_for_more_than_30_days_reads_30_days_and_reports_the_rest(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
) -> None:
    await connector.poll_events()
    before = clock()
    clock.advance(days=2)
    account.client_comment(TASK, "Out of reach")
    clock.advance(days=33)
    account.client_comment(TASK, "Within reach")
    await connector.poll_events()

    assert periods(account)[-1] == "30d"
    assert [e.text for e in messages(engine)] == ["Within reach"]
    assert connector.gap is not None
    assert connector.gap[0] == before
    assert (clock() - connector.gap[1]).days == 30
    error = (await connector.state()).last_error
    assert error is not None and "30 days" in error and "not read" in error
    assert last_success(engine, EVENTS_POLL) == clock()  # it goes on from here


# -- writes in a form body ------------------------------------------------------------

FRENCH = (
    "Bonjour Claire, c'est noté : l'équipe révisera la bannière et les éléments "
    "graphiques évoqués, puis vous enverra la maquette corrigée dès réception. "
)


async def reply_as_sam(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    settings: Settings,
    text: str,
) -> None:
    sam = add_staff(engine, "Sam Staff", "pm", ["sam@agency.example"], clock())
    account.client_comment(TASK, "Où en est la maquette ?")
    await connector.poll_events()
    with engine.connect() as connection:
        thread_id = connection.execute(select(THREAD.c.id)).scalar_one()
    reply(Ingestor(engine, PolicyBook(settings), clock=clock), thread_id, sam, text, clock=clock)


async def test_a_long_accented_reply_reaches_worksection_whole_in_a_signed_form_body(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    settings: Settings,
) -> None:
    text = (FRENCH * 40).strip()  # some 6,000 characters, 8.5 KB once URL-encoded
    assert len(form({"text": text})) > 8 * 1024
    await reply_as_sam(connector, account, engine, clock, settings, text)

    assert await connector.deliver_replies() == 1
    [posted] = [call for call in account.calls if call.action == "post_comment"]
    assert posted.method == "POST"
    assert posted.line_length < 200  # action and hash only
    assert posted.body_length > 8 * 1024
    assert account.comments[-1]["text"] == text
    assert account.refused == []
    with engine.connect() as connection:
        assert connection.execute(select(DELIVERY.c.status)).scalar_one() == "delivered"


async def test_a_reply_longer_than_worksection_keeps_is_refused_to_its_author_not_cut(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    settings: Settings,
) -> None:
    text = "é" * (MAX_TEXT_CHARS + 1)
    await reply_as_sam(connector, account, engine, clock, settings, text)

    assert await connector.deliver_replies() == 0
    assert [call for call in account.calls if call.action == "post_comment"] == []
    with engine.connect() as connection:
        failed = connection.execute(select(DELIVERY)).one()
    assert failed.status == "failed"
    assert "65,537 characters" in failed.error and "65,536 at most" in failed.error


async def test_a_long_checklist_reaches_worksection_whole(account: FakeWorksection) -> None:
    client = fast_client(account)
    items = [f"Étape {n} : vérifier la déclinaison mobile de la page {n}" for n in range(300)]
    assert await client.post_comment(TASK, "", "sam@agency.example", todo=items) is not None
    assert account.comments[-1]["todo"] == items
    [posted] = account.calls
    assert posted.lists["todo[]"] == items
    assert "text" not in posted.params
    await client.aclose()


async def test_oauth_writes_go_in_the_form_body_too(account: FakeWorksection) -> None:
    client = WorksectionClient(account.url, oauth_token=TOKEN, min_interval=0.01)
    text = (FRENCH * 30).strip()
    await client.post_comment(TASK, text, None)
    assert account.comments[-1]["text"] == text
    assert account.calls[-1].line_length < 200
    await client.aclose()


async def test_the_hash_covers_the_form_body(account: FakeWorksection) -> None:
    client = fast_client(account)
    url = client.url("post_comment", {}, {"id_task": TASK, "text": "agreed"})
    await client.aclose()
    async with httpx.AsyncClient() as http:
        tampered = await http.post(url, content=f"id_task={TASK}&text=changed")
        honest = await http.post(url, content=f"id_task={TASK}&text=agreed")
    assert tampered.json()["message"] == "Invalid hash"
    assert honest.json()["status"] == "ok"
    assert [comment["text"] for comment in account.comments] == ["agreed"]


async def test_a_request_line_over_8_kb_is_answered_414_and_not_retried(
    account: FakeWorksection,
) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{account.url}/api/admin/v2/?action=get_task&x={'a' * 8200}")
    assert answer.status_code == 414
    assert account.calls == []

    client = fast_client(account)
    with pytest.raises(WorksectionError) as refused:
        await client.call("get_task", {"id_task": "a" * 8200})
    assert not refused.value.transient and "8 KB" in refused.value.message
    assert account.calls == []  # refused before sending: it would be answered 414
    await client.aclose()


# -- 10,000 records per answer ----------------------------------------------------------


def fill(account: FakeWorksection, projects: int, per_project: int, **options: Any) -> None:
    for p in range(projects):
        for n in range(per_project):
            task = f"{p + 1}{n:06d}"
            account.add_task(task, f"Task {n}", (f"5{p:02d}", f"Client {p}"), ["Todo"], **options)


def tag_values(engine: Engine) -> list[tuple[str, str]]:
    query = select(EVENT.c.external_id, EVENT.c.value).where(EVENT.c.kind == "status")
    with engine.connect() as connection:
        return sorted((row.external_id, row.value) for row in connection.execute(query))


async def test_the_fake_refuses_more_than_10000_tasks_in_one_answer(
    account: FakeWorksection,
) -> None:
    fill(account, 1, 10_000)  # with the fixture's task: 10,001
    client = fast_client(account)
    with pytest.raises(WorksectionError) as refused:
        await client.call("get_all_tasks", {"extra": "tags"})
    assert refused.value.message == "Worksection: Too many tasks (10000 max)"
    assert not refused.value.transient
    assert account.actions() == ["get_all_tasks"]  # not retried: it would fail again
    await client.aclose()


async def test_an_account_with_50000_tasks_keeps_its_tags_in_step(
    connector: WorksectionConnector, account: FakeWorksection, engine: Engine
) -> None:
    fill(account, 10, 5_000)
    assert len(account.tasks) > 50_000

    assert await connector.poll_tags() == 0  # the first sweep only records
    account.set_tags("1000042", ["Review"])
    account.set_tags("7004999", ["Review", "Urgent"])
    account.set_tags(TASK, [])
    assert await connector.poll_tags() == 3

    assert tag_values(engine) == [
        ("tags:1000042:1", "Review"),
        (f"tags:{TASK}:1", ""),
        ("tags:7004999:1", "Review, Urgent"),
    ]
    assert "get_all_tasks" not in account.actions()
    assert account.actions().count("get_tasks") == 2 * 11  # each project, each sweep


async def test_a_project_past_10000_tasks_is_read_by_its_open_tasks(
    connector: WorksectionConnector, account: FakeWorksection, engine: Engine
) -> None:
    fill(account, 1, 10_500, status="done")
    account.add_task("900001", "Still open", ("500", "Client 0"), ["Todo"])
    assert await connector.poll_tags() == 0
    account.set_tags("900001", ["Doing"])
    assert await connector.poll_tags() == 1

    assert tag_values(engine) == [("tags:900001:1", "Doing")]
    filters = [call.params.get("filter") for call in account.calls if call.action == "get_tasks"]
    assert filters.count("active") == 2  # once per sweep, after the project's full list failed


async def test_a_project_worksection_refuses_is_skipped_and_said_not_blocking_the_sweep(
    engine: Engine, clock: MovableClock, account: FakeWorksection
) -> None:
    fill(account, 1, 10_001)  # even its open tasks are too many
    ticks = Ticks()
    settings = ws_settings(account, tags_interval=30)
    client = fast_client(account)
    connector = WorksectionConnector(settings, engine, clock=clock, client=client, monotonic=ticks)
    for _ in range(3):
        await connector.tag_step()
        ticks.now = connector._next_tags
    await client.aclose()

    assert connector._sweep is None  # over, with the other project read
    error = (await connector.state()).last_error
    assert error is not None and "project 500" in error and "Too many tasks" in error


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_sweep_spreads_its_projects_over_the_interval_one_request_at_a_time(
    engine: Engine, clock: MovableClock, account: FakeWorksection
) -> None:
    for p in range(5):
        account.add_task(f"80{p}", "Design", (f"6{p}", f"Client {p}"))
    ticks = Ticks()
    settings = ws_settings(account, tags_interval=60, poll_interval=3600)
    client = fast_client(account)
    connector = WorksectionConnector(settings, engine, clock=clock, client=client, monotonic=ticks)
    seen: list[tuple[float, str]] = []
    while ticks.now < 130:
        before = len(account.calls)
        await connector.turn()
        new = [call.action for call in account.calls[before:] if call.action != "get_events"]
        assert len(new) <= 1  # a tag request at most per turn
        seen.extend((ticks.now, action) for action in new)
        ticks.now += 1
    await client.aclose()

    # Six projects (the fixture's and five): one every 60 / 7 seconds, sweeps 60 s apart.
    times = {
        action: [at for at, name in seen if name == action] for action in {name for _, name in seen}
    }
    assert times["get_projects"] == [0, 60, 120]
    first = times["get_tasks"][:6]
    assert first[-1] < 60
    assert min(b - a for a, b in itertools.pairwise(first)) >= 60 / 7 - 1


# -- OAuth2 tokens last 24 hours ----------------------------------------------------------


def oauth_settings(account: FakeWorksection, access: str | None, refresh: str) -> Settings:
    base = ws_settings(account).worksection
    assert base is not None
    config = WorksectionConfig(
        **{
            **base.model_dump(),
            "api_key": None,
            "oauth_token": access,
            "oauth_client_id": CLIENT_ID,
            "oauth_client_secret": CLIENT_SECRET,
            "oauth_refresh_token": refresh,
            "oauth_token_url": f"{account.url}/oauth2/refresh",
        }
    )
    return ws_settings(account).model_copy(update={"worksection": config})


async def polled(settings: Settings, engine: Engine, clock: MovableClock) -> WorksectionConnector:
    """A connector as the services build it (its own client), after one poll of the log."""
    connector = WorksectionConnector(settings, engine, clock=clock)
    try:
        await connector.poll_events()
    finally:
        await connector.client.aclose()
    return connector


async def test_an_oauth_connection_survives_its_first_nights_and_a_restart(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    access, refresh = account.grant()
    settings = oauth_settings(account, access, refresh)
    connector = WorksectionConnector(settings, engine, clock=clock)
    await connector.poll_events()
    assert account.renewals == []  # the configured token serves while it lasts

    clock.advance(hours=23, minutes=50)
    account.client_comment(TASK, "Bonsoir, une question")
    clock.advance(minutes=11)
    await connector.poll_events()  # its end unknown: used until refused, then renewed
    assert account.refused == ["expired"]
    for night in range(3):
        clock.advance(hours=24)
        account.client_comment(TASK, f"Night {night}")
        await connector.poll_events()
    await connector.client.aclose()

    assert [e.text for e in messages(engine)] == [
        "Bonsoir, une question",
        "Night 0",
        "Night 1",
        "Night 2",
    ]
    assert len(account.renewals) == 4 and "refused" not in account.renewals
    assert account.refused.count("expired") <= 1  # later ones renewed ahead of time
    kept = load_tokens(engine)
    assert kept is not None and kept.access_token == account.renewals[-1]

    clock.advance(hours=23, minutes=55)  # restarted: the configured refresh token is spent,
    account.client_comment(TASK, "After the restart")
    await polled(settings, engine, clock)  # the kept one is not
    assert messages(engine)[-1].text == "After the restart"
    assert len(account.renewals) == 5 and "refused" not in account.renewals


async def test_a_token_refused_before_its_end_is_renewed_and_the_call_made_again(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    _, refresh = account.grant()
    settings = oauth_settings(account, None, refresh)
    connector = await polled(settings, engine, clock)  # no access token given: renewed first
    assert len(account.renewals) == 1
    del account.access_tokens[account.renewals[-1]]  # revoked in Worksection

    account.client_comment(TASK, "Hello?")
    await polled(settings, engine, clock)
    assert [e.text for e in messages(engine)] == ["Hello?"]
    assert account.refused == ["token"]
    assert len(account.renewals) == 2
    assert connector.gap is None


async def test_a_refused_renewal_is_a_clear_error_that_points_to_the_fix(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    access, refresh = account.grant()
    settings = oauth_settings(account, access, refresh)
    clock.advance(days=31)  # the refresh token lasted a month
    connector = WorksectionConnector(settings, engine, clock=clock)
    with pytest.raises(WorksectionError) as refused:
        await connector.poll_events()
    await connector.client.aclose()
    assert not refused.value.transient
    assert "refused to renew the OAuth2 token" in refused.value.message
    assert "Invalid refresh token" in refused.value.message
    assert "authorise pmdesk again" in refused.value.message
    assert last_success(engine, EVENTS_POLL) is None


async def test_a_new_refresh_token_in_the_configuration_wins_over_the_kept_one(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    _, first = account.grant()
    await polled(oauth_settings(account, None, first), engine, clock)
    account.refresh_tokens.clear()  # access revoked; the account authorised again
    _, second = account.grant()
    await polled(oauth_settings(account, None, second), engine, clock)
    assert account.renewals[-1] != "refused" and len(account.renewals) == 2


async def test_a_renewal_that_cannot_reach_worksection_is_tried_again_later(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    _, refresh = account.grant()
    settings = oauth_settings(account, None, refresh)
    config = settings.worksection
    assert config is not None
    unreachable = config.model_copy(update={"oauth_token_url": "http://127.0.0.1:9/oauth2/refresh"})
    tokens = TokenKeeper(unreachable, engine, clock)
    client = fast_client(account, api_key=None, tokens=tokens, attempts=2)
    with pytest.raises(WorksectionError) as failed:
        await client.get_task(TASK)
    await client.aclose()
    assert failed.value.transient and "renewing the OAuth2 token" in failed.value.message
    assert account.calls == [] and account.renewals == []

    connector = await polled(settings, engine, clock)  # reachable again: the token still works
    assert account.renewals != [] and "refused" not in account.renewals
    assert connector.gap is None
