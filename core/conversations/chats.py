"""Client Telegram groups: which client a group belongs to, and its messages as events.

A group is linked to one client (`link_chat`, by a staff member in the bot
or on the command line). Its messages then become events of source
"telegram" on one chat thread per group, whose task id is the chat id:
`chat_event` builds them for the Ingestor. A staff member writing in the
group answers the client like a reply sent from pmdesk (it stops the
clock); a reply sent from pmdesk on such a thread is queued for delivery
on the "telegram" channel, the thread's source (see core.conversations.actions.reply).
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, delete, insert, select, update

from core.base.kinds import EventKind, ThreadKind
from core.conversations.clients import UnknownClient
from core.conversations.people import StaffView
from core.sla import rollups
from core.store.db import write
from core.store.models.system import table
from core.store.models.threads import ChatLink, Client, Thread, ThreadRef

LINKS, CLIENTS, THREADS, REFS = table(ChatLink), table(Client), table(Thread), table(ThreadRef)
SOURCE = "telegram"
# Supergroups' ids are -100 followed by the id their t.me/c/ links use.
_SUPERGROUP = "-100"


class LinkedClient(NamedTuple):
    client_id: int
    name: str


def link_chat(
    engine: Engine,
    chat_id: int,
    client_name: str,
    staff_id: int | None,
    now: datetime,
    title: str = "",
) -> LinkedClient:
    """Make group `chat_id` the client's; a group linked to another client moves.

    The client is named exactly or in any case; an unknown name raises
    UnknownClient with the closest known names. When the group's thread
    exists already, it moves to the client too. `staff_id`: who linked it.
    """
    with write(engine) as connection:
        names = dict(connection.execute(select(CLIENTS.c.name, CLIENTS.c.id)).all())
        client = _match(names, client_name)
        values = {
            "client_id": client.client_id,
            "linked_by": staff_id,
            "linked_at": now,
            "title": title,
        }
        known = connection.execute(select(LINKS.c.chat_id).where(LINKS.c.chat_id == chat_id))
        if known.first() is None:
            connection.execute(insert(LINKS).values(chat_id=chat_id, **values))
        else:
            connection.execute(update(LINKS).where(LINKS.c.chat_id == chat_id).values(**values))
        threads = connection.execute(
            select(REFS.c.thread_id).where(
                REFS.c.source == SOURCE, REFS.c.external_id == str(chat_id)
            )
        ).scalars()
        moved = dict.fromkeys(threads, client.client_id)
        rollups.move_threads(connection, moved)
        connection.execute(
            update(THREADS).where(THREADS.c.id.in_(list(moved))).values(client_id=client.client_id)
        )
    return client


def unlink_chat(engine: Engine, chat_id: int) -> bool:
    """Stop taking the group's messages as a client's; False if it was not linked.

    Its thread and events stay.
    """
    with write(engine) as connection:
        removed = connection.execute(delete(LINKS).where(LINKS.c.chat_id == chat_id)).rowcount
    return bool(removed)


def client_for_chat(engine: Engine, chat_id: int) -> LinkedClient | None:
    """The client a group is linked to; None for a group pmdesk does not follow."""
    query = (
        select(CLIENTS.c.id, CLIENTS.c.name)
        .join(LINKS, LINKS.c.client_id == CLIENTS.c.id)
        .where(LINKS.c.chat_id == chat_id)
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return None if row is None else LinkedClient(row.id, row.name)


def chat_event(
    chat_id: int,
    message_id: int,
    date: datetime,
    client: str,
    author_id: int,
    author_name: str,
    text: str,
    *,
    title: str | None = None,
    staff: StaffView | None = None,
) -> dict[str, Any]:
    """A message in a client's group as the event the Ingestor takes.

    `client`: the linked client's name (`client_for_chat`); `date`: the
    message's instant, aware; `title`: the group's title. The author is the
    client's person unless `staff` is given (the sender's Telegram account
    is bound to that staff member), in which case the message is a public
    staff reply. The event id is unique per group and message, so a message
    seen twice is stored once.
    """
    if date.utcoffset() is None:
        raise ValueError("date: a Telegram message's instant must be aware (UTC)")
    author: dict[str, Any]
    if staff is not None:
        author = {"name": staff.name, "role": "staff"}
        if staff.emails:
            author["email"] = staff.emails[0]  # how ingestion recognises staff
    else:
        author = {"name": author_name, "id": str(author_id), "role": "client"}
    task: dict[str, Any] = {"id": str(chat_id), "kind": ThreadKind.CHAT.value}
    if title:
        task["title"] = title
    url = chat_url(chat_id)
    if url is not None:
        task["url"] = url
    return {
        "id": f"{chat_id}:{message_id}",
        "source": SOURCE,
        "kind": EventKind.MESSAGE.value,
        "occurred_at": date.isoformat(),
        "client": client,
        "task": task,
        "author": author,
        "text": text,
    }


def chat_url(chat_id: int) -> str | None:
    """The t.me link of a supergroup (members only); None for basic groups, which have none."""
    text = str(chat_id)
    if not text.startswith(_SUPERGROUP):
        return None
    return f"https://t.me/c/{text.removeprefix(_SUPERGROUP)}"


def _match(names: dict[str, int], wanted: str) -> LinkedClient:
    if wanted in names:
        return LinkedClient(names[wanted], wanted)
    folded = {name.casefold(): name for name in names}
    name = folded.get(wanted.strip().casefold())
    if name is not None:
        return LinkedClient(names[name], name)
    close = difflib.get_close_matches(wanted.strip().casefold(), list(folded), n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(folded[match] for match in close)}?)" if close else ""
    raise UnknownClient(f"no client {wanted!r}{hint}")
