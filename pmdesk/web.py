"""`pmdesk web`: the dashboard in a browser, for whoever has a personal link.

See pmdesk.webserve for the server and its sessions, docs/deploy.md for a
reverse proxy with TLS in front of it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pmdesk.app import app
from pmdesk.context import Failure, command, context
from pmdesk.webserve import DEFAULT_PORT


@app.command()
@command
def web(
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep 127.0.0.1 behind a reverse proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = DEFAULT_PORT,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="The address people open, behind a reverse proxy (https://pm.example.com); "
            "the page's websocket and files are named from it.",
        ),
    ] = None,
) -> None:
    """Serve the dashboard in a browser, one dashboard per person, until Ctrl-C.

    Nothing is served without a personal link (pmdesk staff web-link NAME):
    each link opens a session once, as its person, and everything done
    there is recorded in their name.
    """
    from core.store.health import check_writable
    from pmdesk.webserve import WebServer

    if public_url is not None and not public_url.startswith(("http://", "https://")):
        raise Failure(f"--public-url {public_url!r}: give an http:// or https:// address")
    if public_url is None and host in ("0.0.0.0", "::", ""):
        raise Failure(
            f"--host {host!r} listens everywhere: give --public-url, the address people open"
        )
    ctx = context()
    check_writable(ctx.engine)
    server = WebServer(
        ctx.engine, ctx.settings.db, host=host, port=port, public_url=public_url, clock=ctx.clock
    )
    server.serve()
