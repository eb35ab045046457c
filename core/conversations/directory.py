"""What the assistant can jump to by name: clients, threads and open invoices."""

from __future__ import annotations

from core.store.reader import Reader

RECENT_THREADS = 2000

_CLIENTS = "SELECT name FROM client ORDER BY name"
_THREADS = f"""
SELECT t.id, t.title, cl.name FROM thread t LEFT JOIN client cl ON cl.id = t.client_id
 ORDER BY t.id DESC LIMIT {RECENT_THREADS}
"""
_INVOICES = """
SELECT i.number, cl.name FROM invoice i JOIN client cl ON cl.id = i.client_id
 WHERE i.state IN ('open', 'disputed') ORDER BY i.due_on
"""


def jump_targets(reader: Reader) -> list[tuple[str, str, str]]:
    """(kind, label, value): value is a client's name, a thread's id or an invoice's number."""
    targets = [("client", name, name) for (name,) in reader.rows(_CLIENTS)]
    targets += [
        ("thread", f"{title} ({client})" if client else title, str(thread_id))
        for thread_id, title, client in reader.rows(_THREADS)
    ]
    targets += [
        ("invoice", f"{number} ({client})", number) for number, client in reader.rows(_INVOICES)
    ]
    return targets
