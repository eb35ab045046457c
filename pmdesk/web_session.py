"""One browser tab's dashboard under `pmdesk web` (pmdesk.webserve starts it).

textual-serve runs it with its web driver and pipes instead of a terminal;
PMDESK_OPERATOR names the session's person and PMDESK_DB the server's
database, so it reads the configuration as `pmdesk` does and acts as them.
It runs no services: `pmdesk serve` does, beside it.
"""

from __future__ import annotations

import sys

from core.base.paths import ConfigError
from core.store.reader import DatabaseError
from pmdesk.exits import EXIT_USAGE


def main() -> None:
    from pmdesk.dashboard import run_dashboard, validated_settings

    try:
        run_dashboard(validated_settings(), services=False)
    except (ConfigError, DatabaseError) as error:
        from core.base.text import clean

        print(f"pmdesk: {clean(str(error))}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
