"""The dashboard in a browser: personal web links and the server that needs them.

The links on a real database with a clock moved by hand; the server is the
real aiohttp application of `pmdesk web`, listening on loopback and asked
over HTTP. The dashboard itself in a browser: tests/pmdesk/test_web_browser.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import Engine, select

from core.base.kinds import StaffRole
from core.conversations.people import add_staff, remove_staff
from core.conversations.web_links import (
    LINKS,
    LinkRefused,
    check_link,
    list_links,
    make_link,
    open_link,
    revoke_links,
)
from pmdesk.webserve import COOKIE, WebServer
from tests.pmdesk.test_staff_commands import run
from tests.support import MovableClock


@pytest.fixture
def camille(engine: Engine, clock: MovableClock) -> int:
    return add_staff(engine, "Camille Roux", StaffRole.ASSISTANT, ["camille@lumen.fr"], clock())


def test_a_link_opens_once_as_its_person(engine: Engine, clock: MovableClock, camille: int) -> None:
    code = make_link(engine, camille, clock())
    check_link(engine, code, clock())  # looking does not use it up
    person = open_link(engine, code, clock.advance(minutes=5))
    assert (person.id, person.name) == (camille, "Camille Roux")
    with pytest.raises(LinkRefused) as refused:
        open_link(engine, code, clock.advance(seconds=1))
    assert refused.value.reason == "used"
    with pytest.raises(LinkRefused):
        check_link(engine, code, clock())


def test_a_link_expires_at_its_time(engine: Engine, clock: MovableClock, camille: int) -> None:
    early = make_link(engine, camille, clock(), timedelta(hours=2))
    late = make_link(engine, camille, clock(), timedelta(hours=2))
    clock.advance(hours=2, seconds=-1)
    assert open_link(engine, early, clock()).id == camille
    clock.advance(seconds=1)
    with pytest.raises(LinkRefused) as refused:
        open_link(engine, late, clock())
    assert refused.value.reason == "expired"
    [second, first] = list_links(engine)
    assert {first.state(clock()), second.state(clock())} == {"used", "expired"}


def test_only_the_hash_is_kept(
    engine: Engine, clock: MovableClock, camille: int, tmp_path: Path
) -> None:
    code = make_link(engine, camille, clock())
    with engine.connect() as connection:
        stored = connection.execute(select(LINKS.c.code_hash)).scalar_one()
    assert stored == hashlib.sha256(code.encode()).hexdigest()
    # The database file and its write-ahead log: the hash is there, the code nowhere.
    everything = b"".join(path.read_bytes() for path in tmp_path.glob("pmdesk.db*"))
    assert code.encode() not in everything
    assert stored.encode() in everything


def test_unknown_revoked_and_removed_are_refused(
    engine: Engine, clock: MovableClock, camille: int
) -> None:
    for bad in ("", "x", "not a code at all!", "A" * 43):
        with pytest.raises(LinkRefused) as refused:
            open_link(engine, bad, clock())
        assert refused.value.reason == "unknown"
    revoked = make_link(engine, camille, clock())
    assert revoke_links(engine, camille, clock()) == 1
    with pytest.raises(LinkRefused) as refused:
        open_link(engine, revoked, clock())
    assert refused.value.reason == "revoked"
    kept = make_link(engine, camille, clock())
    remove_staff(engine, "Camille Roux")
    with pytest.raises(LinkRefused) as refused:
        open_link(engine, kept, clock())
    assert refused.value.reason == "inactive"
    with pytest.raises(ValueError, match="no longer on the team"):
        make_link(engine, camille, clock())


def test_a_shared_name_without_an_email_gets_no_link(
    engine: Engine, clock: MovableClock, camille: int
) -> None:
    # The browser's dashboard finds its person by email, else by name: never the wrong one.
    first = add_staff(engine, "Alex Martin", StaffRole.PM, [], clock())
    add_staff(engine, "alex martin", StaffRole.SPECIALIST, ["alex@lumen.fr"], clock())
    with pytest.raises(ValueError, match="give them an email first"):
        make_link(engine, first, clock())
    assert make_link(engine, camille, clock())


def test_two_openings_at_once_open_one_session(
    engine: Engine, clock: MovableClock, camille: int
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    code = make_link(engine, camille, clock())

    def attempt(_: int) -> str:
        try:
            open_link(engine, code, clock())
        except LinkRefused as refused:
            return refused.reason
        return "opened"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(attempt, range(4)))
    assert outcomes == ["opened", "used", "used", "used"]


# -- the server ------------------------------------------------------------------------


@pytest.fixture
async def served(engine: Engine, clock: MovableClock) -> AsyncIterator[tuple[WebServer, str]]:
    assert engine.url.database
    server = WebServer(engine, engine.url.database, clock=clock, port=0)
    runner = web.AppRunner(await server.make_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.public_url = f"http://127.0.0.1:{port}"
    try:
        yield server, server.public_url
    finally:
        await runner.cleanup()


def _browser() -> aiohttp.ClientSession:
    # unsafe: keep cookies of an IP address (127.0.0.1), as a browser does.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_nothing_is_served_without_a_link(served: tuple[WebServer, str]) -> None:
    _, base = served
    async with _browser() as browser:
        for path in ("/", "/ws", "/static/js/textual.js", "/download/abc", "/link/nope"):
            async with browser.get(base + path) as response:
                assert response.status == 403, path
                assert "personal link" in await response.text()
        # A websocket handshake is refused before any dashboard starts.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await browser.ws_connect(base + "/ws")
        assert refused.value.status == 403
        # A cookie the server never gave opens nothing.
        async with browser.get(base + "/", headers={"Cookie": f"{COOKIE}=forged"}) as response:
            assert response.status == 403


async def test_a_link_opens_a_session_once_and_the_cookie_carries_it(
    served: tuple[WebServer, str], engine: Engine, clock: MovableClock, camille: int
) -> None:
    server, base = served
    code = make_link(engine, camille, clock())
    async with _browser() as browser:
        # Shown (as a chat's link preview would fetch it): not used up.
        async with browser.get(f"{base}/link/{code}") as response:
            assert response.status == 200
            assert f"action='/link/{code}'" in await response.text()
        check_link(engine, code, clock())
        async with browser.post(f"{base}/link/{code}", allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/"
            cookie = response.cookies[COOKIE]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
        async with browser.get(base + "/") as response:
            page = await response.text()
            assert response.status == 200
            assert "textual-terminal" in page and f"{base}/ws" in page.replace("ws:", "http:")
            assert "googleapis" not in page  # nothing fetched from elsewhere
        async with browser.get(base + "/static/js/textual.js") as response:
            assert response.status == 200
        [session] = server.sessions.values()
        assert (session.staff_id, session.operator) == (camille, "camille@lumen.fr")
    async with _browser() as stranger:
        async with stranger.post(f"{base}/link/{code}", allow_redirects=False) as response:
            assert response.status == 403
            assert "already used" in await response.text()
        async with stranger.get(f"{base}/link/{code}") as response:
            assert response.status == 403


async def test_a_session_ends_after_its_hours_and_with_the_person(
    served: tuple[WebServer, str], engine: Engine, clock: MovableClock, camille: int
) -> None:
    _, base = served
    async with _browser() as browser:
        await browser.post(f"{base}/link/{make_link(engine, camille, clock())}")
        async with browser.get(base + "/") as response:
            assert response.status == 200
        clock.advance(hours=12)
        async with browser.get(base + "/") as response:
            assert response.status == 403
        await browser.post(f"{base}/link/{make_link(engine, camille, clock())}")
        async with browser.get(base + "/") as response:
            assert response.status == 200
        remove_staff(engine, "Camille Roux")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await browser.ws_connect(base + "/ws")
        assert refused.value.status == 403


async def test_a_websocket_from_another_site_is_refused(
    served: tuple[WebServer, str], engine: Engine, clock: MovableClock, camille: int
) -> None:
    _, base = served
    async with _browser() as browser:
        await browser.post(f"{base}/link/{make_link(engine, camille, clock())}")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await browser.ws_connect(base + "/ws", origin="https://evil.example")
        assert refused.value.status == 403


# -- the commands ----------------------------------------------------------------------


def test_web_link_command_makes_lists_and_revokes(env: dict[str, str]) -> None:
    added = run("staff", "add", "Camille Roux", "--role", "assistant", "--email", "c@l.fr", env=env)
    assert added.returncode == 0, added.stderr
    made = run(
        "staff", "web-link", "Camille Roux", "--hours", "2", "--url", "https://pm.example.com/",
        "--json", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    link = json.loads(made.stdout)["link"]
    assert link.startswith("https://pm.example.com/link/")
    code = link.rsplit("/", 1)[1]
    database = Path(env["PMDESK_DB"])
    assert code.encode() not in b"".join(p.read_bytes() for p in database.parent.glob("pmdesk.db*"))
    shown = run("staff", "web-links", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "Camille Roux" in shown.stdout and "valid" in shown.stdout
    assert code not in shown.stdout
    revoked = run("staff", "web-link", "c@l.fr", "--revoke", env=env)
    assert "1 web link(s) revoked" in revoked.stdout
    listed = json.loads(run("staff", "web-links", "--json", env=env).stdout)
    assert [entry["state"] for entry in listed] == ["revoked"]
    unknown = run("staff", "web-link", "Nobody", env=env)
    assert unknown.returncode == 2


def test_web_listening_everywhere_needs_the_public_address(env: dict[str, str]) -> None:
    refused = run("web", "--host", "0.0.0.0", env=env)
    assert refused.returncode == 2
    assert "--public-url" in refused.stderr
    wrong = run("web", "--public-url", "pm.example.com", env=env)
    assert wrong.returncode == 2 and "http" in wrong.stderr
