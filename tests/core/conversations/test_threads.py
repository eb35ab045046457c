"""The dashboard's reads (feed, thread, overdue invoices) and the actions taken from it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert, text

from core.conversations.actions import ActionRefused, UnknownStaff, assign, reply, unwatch, watch
from core.conversations.feed import FeedFilter, latest_events, newest_event_id, unread_count
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff, operator
from core.conversations.threads import thread_detail
from core.conversations.triage import mark_handled
from core.receivables.aging import (
    aging_bucket,
    bucket_totals,
    overdue_invoices,
    overdue_summary,
)
from core.sla.views import running_clocks
from core.store.models.receivables import Invoice, Reminder
from core.store.models.system import table
from core.store.models.threads import Client
from core.store.reader import Reader
from tests.support import START, MovableClock, make_event


def rows(engine: Engine, query: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(query))]


def test_the_feed_is_newest_first_and_reads_only_what_is_new(
    ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest([make_event("m1", 0), make_event("r1", 2, role="staff")])
    first = latest_events(reader)
    assert [item.author for item in first] == ["Sam Staff", "Claire Client"]
    assert [item.unread for item in first] == [False, True]  # staff events arrive seen
    assert first[1].from_client and first[1].client == "Acme" and first[1].project == "Website"

    ingestor.ingest([make_event("m2", 5, task="T2", client="Bigco")])

    newer = latest_events(reader, after_id=max(item.id for item in first))
    assert [item.thread for item in newer] == ["Task T2"]
    assert unread_count(reader) == 2
    assert newest_event_id(reader) == newer[0].id


def test_the_feed_filters_by_kind_client_and_assignee(
    engine: Engine, ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest(
        [
            make_event("m1", 0),
            make_event("s1", 1, role="staff", kind="status", status="En cours"),
            make_event("m2", 2, task="T2", client="Bigco"),
            make_event(
                "a2",
                3,
                task="T2",
                client="Bigco",
                role="staff",
                kind="assignee",
                assignee={"name": "Pat PM", "email": "pat@agency.example", "role": "staff"},
            ),
        ]
    )

    def ids(feed: FeedFilter) -> list[str]:
        return [item.text for item in latest_events(reader, feed)]

    assert ids(FeedFilter(kind="status")) == ["text of s1"]
    assert ids(FeedFilter(client="Bigco")) == ["text of a2", "text of m2"]
    assert ids(FeedFilter(assignee="Pat PM")) == ["text of a2", "text of m2"]
    assert ids(FeedFilter(client="Bigco", kind="message")) == ["text of m2"]
    assert ids(FeedFilter(client="Nobody")) == []


def test_a_thread_shows_its_conversation_people_and_clocks(
    engine: Engine, ingestor: Ingestor, reader: Reader, clock: MovableClock
) -> None:
    ingestor.ingest(
        [
            make_event("m1", 0),
            make_event("n1", 1, role="staff", internal=True, text="client is touchy"),
            make_event("r1", 6, role="staff"),
            make_event("m2", 9),
        ]
    )
    thread_id = int(str(rows(engine, "SELECT id FROM thread")[0][0]))

    detail = thread_detail(reader, thread_id)

    assert detail is not None
    assert (detail.title, detail.client, detail.project) == ("Task T1", "Acme", "Website")
    assert detail.url == "https://tracker.example/T1"
    assert [event.text for event in detail.events] == [
        "text of m1",
        "client is touchy",
        "text of r1",
        "text of m2",
    ]
    assert [event.internal for event in detail.events] == [False, True, False, False]
    assert [clock.outcome for clock in detail.clocks] == ["met", "running"]
    assert detail.running_clock is not None and detail.running_clock.kind == "next"
    assert thread_detail(reader, 999) is None


def test_a_reply_stops_the_clock_and_waits_for_delivery(
    engine: Engine, ingestor: Ingestor, reader: Reader, clock: MovableClock
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    ana = add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)
    thread_id = running_clocks(reader)[0].thread_id
    clock.advance(minutes=4)

    result = reply(ingestor, thread_id, ana, "On s'en occupe.", clock=clock)

    assert result.status == "created"
    assert running_clocks(reader) == []
    assert rows(engine, "SELECT outcome, stopped_by_staff FROM clock") == [("met", ana)]
    assert rows(engine, "SELECT event_id, channel, status FROM delivery") == [
        (result.event_id, "webhook", "pending")
    ]
    detail = thread_detail(reader, thread_id)
    assert detail is not None
    assert (detail.events[-1].author, detail.events[-1].delivery) == ("Ana", "pending")


def test_an_internal_note_is_not_delivered_and_does_not_stop_the_clock(
    engine: Engine, ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    ana = add_staff(engine, "Ana", "assistant", [], START)
    thread_id = running_clocks(reader)[0].thread_id

    reply(ingestor, thread_id, ana, "ask Pat", internal=True)

    assert len(running_clocks(reader)) == 1
    assert rows(engine, "SELECT count(*) FROM delivery") == [(0,)]


def test_an_empty_reply_or_an_unknown_author_is_refused_and_writes_nothing(
    engine: Engine, ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    ana = add_staff(engine, "Ana", "assistant", [], START)
    thread_id = running_clocks(reader)[0].thread_id

    with pytest.raises(ActionRefused, match="empty"):
        reply(ingestor, thread_id, ana, "   ")
    with pytest.raises(UnknownStaff):
        reply(ingestor, thread_id, 999, "hello")
    with pytest.raises(ActionRefused, match="no thread"):
        reply(ingestor, 999, ana, "hello")
    assert rows(engine, "SELECT count(*) FROM event") == [(1,)]


def test_assigning_and_tagging_show_in_the_thread(
    engine: Engine, ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    ana = add_staff(engine, "Ana", "assistant", [], START)
    pat = add_staff(engine, "Pat", "pm", ["pat@agency.example"], START)
    thread_id = running_clocks(reader)[0].thread_id

    assign(ingestor, thread_id, ana, pat)
    assert watch(engine, thread_id, ana) is True
    assert watch(engine, thread_id, ana) is False

    detail = thread_detail(reader, thread_id)
    assert detail is not None
    assert (detail.assignees, detail.watchers) == (["Pat"], ["Ana"])
    assert (detail.assignee_ids, detail.watcher_ids) == ((pat,), (ana,))
    assert running_clocks(reader)[0].assignee == "Pat"
    assert {item.assignee for item in latest_events(reader, FeedFilter(assignee="Pat"))} == {"Pat"}


def test_unassigning_leaves_nobody_and_keeps_who_decided_it(
    engine: Engine, ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    ana = add_staff(engine, "Ana", "assistant", [], START)
    pat = add_staff(engine, "Pat", "pm", ["pat@agency.example"], START)
    thread_id = running_clocks(reader)[0].thread_id
    assign(ingestor, thread_id, ana, pat)

    assign(ingestor, thread_id, ana, None)

    detail = thread_detail(reader, thread_id)
    assert detail is not None and detail.assignees == []
    assert running_clocks(reader)[0].assignee is None
    # The decision stays in the thread's history, with who took it.
    assert rows(
        engine, "SELECT author_name, value FROM event WHERE kind = 'assignee' ORDER BY id"
    ) == [("Ana", str(pat)), ("Ana", "")]


def test_marking_a_thread_handled_clears_its_unread_events(
    engine: Engine, ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest([make_event("m1", 0), make_event("m2", 1), make_event("x1", 2, task="T2")])
    ana = add_staff(engine, "Ana", "assistant", [], START)
    thread_id = running_clocks(reader)[0].thread_id

    assert len(mark_handled(engine, thread_id, ana).before) == 2
    assert unread_count(reader) == 1
    assert mark_handled(engine, thread_id, ana).before == ()


def test_the_operator_is_the_configured_person_else_the_first_assistant(engine: Engine) -> None:
    assert operator(engine) is None
    add_staff(engine, "Pat", "pm", ["pat@agency.example"], START)
    assert operator(engine).name == "Pat"  # type: ignore[union-attr]
    add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)
    assert operator(engine).name == "Ana"  # type: ignore[union-attr]
    assert operator(engine, "PAT@agency.example").name == "Pat"  # type: ignore[union-attr]
    assert operator(engine, "nobody") is None


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-3, "current"),
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
        (400, "90+"),
    ],
)
def test_aging_buckets_have_exact_edges(days: int, bucket: str) -> None:
    assert aging_bucket(days) == bucket


def test_overdue_invoices_keep_only_open_balances_past_due(engine: Engine, reader: Reader) -> None:
    today = date(2026, 11, 23)
    with engine.begin() as connection:
        client = connection.execute(
            insert(table(Client))
            .values(name="Acme", created_at=START)
            .returning(table(Client).c.id)
        ).scalar_one()

        def invoice(number: str, due: date, total: int, paid: int = 0, state: str = "open") -> None:
            connection.execute(
                insert(table(Invoice)).values(
                    number=number,
                    client_id=client,
                    issued_on=due - timedelta(days=30),
                    due_on=due,
                    total_cents=total,
                    paid_cents=paid,
                    state=state,
                    created_at=START,
                    updated_at=START,
                )
            )

        invoice("F-1", today - timedelta(days=45), 120_000, paid=20_000)
        invoice("F-2", today - timedelta(days=5), 50_050)
        invoice("F-3", today, 99_900)  # due today: not overdue yet
        invoice("F-4", today - timedelta(days=100), 10_000, paid=10_000)  # paid
        invoice("F-5", today - timedelta(days=100), 10_000, state="written_off")
        invoice("F-6", today - timedelta(days=95), 30_000, state="disputed")

    overdue = overdue_invoices(reader, today)

    assert [(i.number, i.balance, i.days_past_due, i.bucket) for i in overdue] == [
        ("F-6", Decimal("300"), 95, "90+"),
        ("F-1", Decimal("1000"), 45, "31-60"),
        ("F-2", Decimal("500.50"), 5, "1-30"),
    ]
    totals = bucket_totals(overdue)["EUR"]
    assert totals == {
        "current": 0,
        "1-30": Decimal("500.50"),
        "31-60": Decimal("1000"),
        "61-90": 0,
        "90+": Decimal("300"),
    }


def test_the_overdue_summary_lists_the_oldest_and_sums_every_invoice_in_the_database(
    engine: Engine, reader: Reader
) -> None:
    today = date(2026, 11, 23)
    with engine.begin() as connection:
        clients = [
            connection.execute(
                insert(table(Client))
                .values(name=name, created_at=START)
                .returning(table(Client).c.id)
            ).scalar_one()
            for name in ("Acme", "Bolt", "Cato", "Dune")
        ]
        # Every bucket's edges, two currencies, and what is not overdue.
        days = (1, 30, 31, 60, 61, 90, 91, 400, 0, -3)
        rows = [
            {
                "number": f"F-{n:03d}",
                "client_id": clients[n % 3],
                "issued_on": today - timedelta(days=500),
                "due_on": today - timedelta(days=days[n % len(days)]),
                "currency": "CHF" if n % 4 == 0 else "EUR",
                "total_cents": 10_000 + 137 * n,
                "paid_cents": (10_000 + 137 * n) if n % 11 == 0 else 25 * n,
                "state": "written_off" if n % 13 == 0 else ("disputed" if n % 7 == 0 else "open"),
                "created_at": START,
                "updated_at": START,
            }
            for n in range(1, 121)
        ]
        connection.execute(insert(table(Invoice)), rows)
        # Today's reminders: a draft for Acme (many invoices) and for Dune (none
        # overdue, so not counted), one sent to Bolt, and yesterday's draft to Cato.
        for client, status, day in (
            (clients[0], "draft", today),
            (clients[3], "draft", today),
            (clients[1], "sent", today),
            (clients[2], "draft", today - timedelta(days=1)),
        ):
            connection.execute(
                insert(table(Reminder)).values(
                    client_id=client,
                    run_on=day,
                    language="en",
                    text="",
                    status=status,
                    created_at=START,
                )
            )

    everything = overdue_invoices(reader, today)
    summary = overdue_summary(reader, today, 25)

    assert len(everything) > 25
    assert summary.invoices == everything[:25]
    assert summary.counted == len(everything)
    assert summary.totals == bucket_totals(everything)
    assert set(summary.totals) == {"CHF", "EUR"}
    assert (
        summary.drafts
        == 1
        == len({invoice.client for invoice in everything if invoice.reminder_today == "draft"})
    )
    # Read a page at a time, the list is the same to its last invoice.
    for limit in (0, 1, 25, len(everything), len(everything) + 10):
        assert overdue_invoices(reader, today, limit) == everything[:limit]
    assert overdue_summary(reader, today - timedelta(days=600), 25) == (
        [],
        0,
        {},
        0,
    )


def test_the_feed_keeps_unread_or_client_events_and_its_unread_count_follows_the_filter(
    ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest(
        [
            make_event("m1", 0),
            make_event("r1", 1, role="staff"),
            make_event("m2", 2, task="T2", client="Bigco"),
            make_event("m3", 3, task="T3", client="Bigco"),
        ]
    )
    ana = add_staff(ingestor.engine, "Ana", "assistant", ["ana@agency.example"], START)
    mark_handled(ingestor.engine, _thread_of(reader, "Task T3"), ana, lambda: START)

    unread = latest_events(reader, FeedFilter(unread=True))
    assert [item.thread for item in unread] == ["Task T2", "Task T1"]
    clients = latest_events(reader, FeedFilter(from_client=True))
    assert [item.thread for item in clients] == ["Task T3", "Task T2", "Task T1"]
    assert FeedFilter(unread=True).active and FeedFilter(from_client=True).active
    assert unread_count(reader) == 2
    assert unread_count(reader, FeedFilter(client="Bigco")) == 1
    assert unread_count(reader, FeedFilter(client="Bigco", unread=True)) == 1
    assert unread_count(reader, FeedFilter(client="Nobody")) == 0


def _thread_of(reader: Reader, title: str) -> int:
    [(found,)] = reader.rows("SELECT id FROM thread WHERE title = :t", {"t": title})
    return int(found)


def test_the_feed_search_finds_words_in_text_thread_and_client_taken_literally(
    ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest(
        [
            make_event("m1", 0, text="The LOGO is blurry"),
            make_event("m2", 1, task="T2", client="Bigco", text="100% done?"),
            make_event("m3", 2, task="T3", client="Corvid", text="photos"),
            make_event("m4", 3, task="T4", client="Acme", text="nothing_here"),
        ]
    )

    def found(words: str) -> list[str]:
        return [item.thread for item in latest_events(reader, FeedFilter(search=words))]

    assert found("logo") == ["Task T1"]  # any case
    assert found("bigco") == ["Task T2"]  # the client's name
    assert found("task t3") == ["Task T3"]  # the thread's title
    assert found("100%") == ["Task T2"]
    assert found("%") == ["Task T2"]  # a percent sign, not a wildcard
    assert found("g_h") == ["Task T4"]
    assert found("_") == ["Task T4"]
    assert unread_count(reader, FeedFilter(search="photos")) == 1


def test_a_watcher_is_removed_and_the_assignee_stays(
    engine: Engine, ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    ana = add_staff(engine, "Ana", "assistant", [], START)
    pat = add_staff(engine, "Pat", "pm", ["pat@agency.example"], START)
    thread_id = running_clocks(reader)[0].thread_id
    assign(ingestor, thread_id, ana, pat)
    watch(engine, thread_id, pat)
    watch(engine, thread_id, ana)

    assert unwatch(engine, thread_id, pat) is True
    assert unwatch(engine, thread_id, pat) is False

    detail = thread_detail(reader, thread_id)
    assert detail is not None
    assert (detail.assignees, detail.watchers) == (["Pat"], ["Ana"])
