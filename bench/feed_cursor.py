"""The live feed's read on every change, on PostgreSQL: by the newest id alone, and by its cursor.

A throwaway PostgreSQL server (tests/pg.py) holds `--events` events; then,
turn after turn, a second connection commits one event and the feed reads
what is new, the old way (`latest_events(after_id=...)`, which misses an
event committed after a newer one) and the new way (`feed_since`, which
also asks again for the ids passed over), alternated turn by turn so that
the host's noise falls on both alike; unfiltered, and for a feed of what
clients wrote (a filter: the new way reads the ids above the cursor
first). One more column reads with 1,000 ids missing below the cursor, the
most it keeps (ids taken and never committed). Figures are medians of
wall-clock milliseconds per read, and their ratio to the old way's.

    .venv/bin/python bench/feed_cursor.py --events 1000000 --turns 300
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from core.conversations.feed import (
    LATE_SPAN,
    FeedCursor,
    FeedFilter,
    feed_page,
    feed_since,
    latest_events,
)
from core.store.db import open_database
from core.store.reader import EngineReader

FILL = """
INSERT INTO event (source, external_id, thread_id, kind, occurred_at, received_at,
                   author_name, author_role, text, internal, triage)
SELECT 'bench', 'e' || n, (SELECT min(id) FROM thread) + n % :threads, 'message',
       now() - make_interval(secs => :count - n), now(), 'Client',
       CASE WHEN n % 3 = 0 THEN 'staff' ELSE 'client' END,
       'message ' || n, false, CASE WHEN n % 50 = 0 THEN 'new' ELSE 'seen' END
  FROM generate_series(1, :count) AS n
"""
THREADS = 200
ONE = """
INSERT INTO event (source, external_id, thread_id, kind, occurred_at, received_at,
                   author_name, author_role, text, internal, triage)
SELECT 'bench', :name, min(id), 'message', now(), now(), 'Client', 'client', :text, false, 'new'
  FROM thread
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--turns", type=int, default=300)
    args = parser.parse_args()

    import tests.pg

    server = tests.pg.start_server()
    try:
        url = server.url(server.new_database())
        engine = open_database(url)
        started = time.monotonic()
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO client (name, language, created_at) VALUES ('Bench', 'fr', now())"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO thread (kind, channel, title, client_id, closed, created_at)"
                    " SELECT 'task', 'bench', 'Thread ' || n, (SELECT id FROM client), false,"
                    " now() FROM generate_series(1, :threads) AS n"
                ),
                {"threads": THREADS},
            )
            connection.execute(text(FILL), {"count": args.events, "threads": THREADS})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE event"))
        print(f"{args.events:,} events in {time.monotonic() - started:.0f} s")
        reader = EngineReader(engine)
        feed = FeedFilter()
        holed = feed_page(reader, feed, 0.0)[1]  # its first turn finds the ids passed over
        # The most the cursor keeps: ids taken below the newest and never committed.
        with engine.begin() as connection:
            connection.execute(
                text(f"SELECT nextval('event_id_seq') FROM generate_series(1, {LATE_SPAN})")
            )
        # The others start above them, with nothing missing.
        top = int(reader.rows("SELECT last_value FROM event_id_seq")[0][0])
        clients = FeedFilter(from_client=True)
        olds = {"old": top, "old, clients only": top}
        cursors = {"new": FeedCursor(top), "new, 1,000 missing": holed}
        cursors["new, clients only"] = FeedCursor(top)
        filters = {"old": feed, "old, clients only": clients, "new": feed}
        filters |= {"new, 1,000 missing": feed, "new, clients only": clients}
        took: dict[str, list[float]] = {way: [] for way in filters}
        for turn in range(args.turns):
            with engine.begin() as connection:
                connection.execute(text(ONE), {"name": f"turn-{turn}", "text": f"turn {turn}"})
            order = list(filters)
            if turn % 2:
                order.reverse()
            for way in order:
                began = time.perf_counter()
                if way in olds:
                    items = latest_events(reader, filters[way], after_id=olds[way])
                    olds[way] = max([item.id for item in items] + [olds[way]])
                else:
                    _, cursors[way] = feed_since(reader, filters[way], cursors[way], float(turn))
                took[way].append((time.perf_counter() - began) * 1000)
        missing = len(cursors["new, 1,000 missing"].missing)
        print(f"turns: {args.turns}, ids missing below the cursor at the end: {missing}")
        print(f"{'read on each change':<24}{'median ms':>10}{'p90 ms':>9}{'to old':>8}")
        for way, figures in took.items():
            base = statistics.median(took["old, clients only" if "clients" in way else "old"])
            median = statistics.median(figures)
            p90 = statistics.quantiles(figures, n=10)[-1]
            print(f"{way:<24}{median:>10.2f}{p90:>9.2f}{median / base:>8.2f}")
        engine.dispose()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
