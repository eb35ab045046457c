"""A hand-built week (2026-W48) of three clients, shared by the reports' tests.

Acme (French): one task done, two in progress (one awaiting the client's
answer), one not started, one closed the week before, two answers (one in
10 minutes, one in 30). Bigco (English): one task done by the owner Ana,
one in progress. Crumb: a task whose only event came the week before:
nothing to report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.conversations.ingest import Ingestor
from tests.support import make_event

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
DAY = 24 * 60
ANA = {"name": "Ana Dev", "email": "ana@agency.example", "role": "staff"}
BIGCO_CLIENT = {"name": "Bob Buyer", "email": "bob@bigco.example", "role": "client"}


def _task(task: str, title: str) -> dict[str, Any]:
    return {"id": task, "title": title, "url": f"https://tracker.example/{task}"}


def events() -> list[dict[str, Any]]:
    def ev(id: str, minute: float, task: str, title: str, client: str = "Acme", **fields: Any):
        event = make_event(id, minute, task=task, client=client, **fields)
        event["task"] = _task(task, title)
        return event

    return [
        # Acme, project Website (make_event's).
        ev("a1", 0, "T1", "Homepage", role="staff", kind="assignee",
           assignee={"name": "Sam Staff", "email": "sam@agency.example", "role": "staff"}),
        ev("a2", DAY + 120, "T1", "Homepage", role="staff", kind="task_closed"),
        ev("a3", 5, "T2", "Contact form", role="staff", kind="assignee", assignee=ANA),
        ev("a4", 5, "T2", "Contact form", role="staff", kind="deadline", deadline="2026-12-02"),
        ev("a5", 100, "T2", "Contact form", text="Can we add a phone field?"),
        ev("a6", 130, "T2", "Contact form", role="staff", author=ANA, text="Done, live tomorrow."),
        ev("a7", 10, "T3", "Legal page", role="staff", kind="task_created"),
        ev("a8", 10, "T3", "Legal page", role="staff", kind="deadline", deadline="2026-12-10"),
        ev("a9", 60, "T4", "Logo files", text="Here is our logo."),
        ev("a10", 70, "T4", "Logo files", role="staff",
           text="Merci ! Pouvez-vous l'envoyer en SVG ?"),
        ev("a11", -13 * DAY, "T5", "Kick-off", role="staff", kind="task_closed"),
        # Bigco (English), project App.
        ev("b1", 0, "B1", "Login screen", client="Bigco", project="App", role="staff",
           kind="assignee", assignee=ANA),
        ev("b2", 3 * DAY, "B1", "Login screen", client="Bigco", project="App", role="staff",
           kind="task_closed"),
        ev("b3", 30, "B2", "Dark mode", client="Bigco", project="App", role="staff",
           author=ANA, internal=True, text="started the palette"),
        # Crumb: last seen the week before.
        ev("c1", -3 * DAY, "C1", "Shop", client="Crumb", project="Shop", text="Hello"),
    ]  # fmt: skip


def build(ingestor: Ingestor) -> None:
    results = ingestor.ingest(events())
    assert all(result.status != "rejected" for result in results), results
