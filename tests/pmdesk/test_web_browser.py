"""`pmdesk web` in a real headless browser: Chromium, driven over its DevTools protocol.

The server runs as a user starts it (`pmdesk web`, its own process) on a
demo database; Chromium, from the system's packages, opens a personal link
and shows the dashboard in xterm.js. What the terminal in the page receives
is read from the page's websocket frames (the text drawn on its canvas),
what it shows from screenshots. Chromium reaches nothing but loopback.

In CI (CI=true) `python3 dev.py test` installs Chromium from the system's
packages when it is missing; elsewhere these tests are skipped without it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.base.instants import utc_now
from core.conversations.people import find_staff
from core.conversations.web_links import make_link
from core.demo.scenario import demo_settings
from core.demo.seeding import seed_demo
from core.store.db import open_database

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--mute-audio",
    # Any name but loopback's resolves to nothing: the page reaches no other host.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1400,1000",
    "--remote-debugging-port=0",
)
# ANSI control sequences (CSI, OSC and two-character escapes) between the text drawn.
_CONTROL = re.compile(r"\x1b\[[0-9;?<=>!]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")


def _chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)


CHROMIUM = _chromium()
# In CI a missing Chromium is a failure (dev.py installs it there), never a skip.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true",
    reason="no Chromium here (apt-get install chromium; CI installs it)",
)


class DevTools:
    """A connection to Chromium's DevTools protocol: commands, and the events seen so far."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.next_id = 0
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.socket:
            data = json.loads(message.data)
            if "id" in data:
                future = self.waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(RuntimeError(str(data["error"])))
                    else:
                        future.set_result(data.get("result", {}))
            else:
                self.events.append((data["method"], data.get("params", {})))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        await self.socket.send_str(json.dumps(message))
        return await asyncio.wait_for(future, 30)


class Page:
    """One tab, attached; what its terminal received and what it shows."""

    def __init__(self, tools: DevTools, session: str) -> None:
        self.tools, self.session = tools, session

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.tools.send(method, params, self.session)

    async def open(self, url: str) -> int:
        """Go to `url`; the status of the last document it landed on."""
        seen = len(self.tools.events)
        await self.send("Page.navigate", {"url": url})
        await self.wait_for(lambda: self._loaded(seen), "the page to load")
        statuses = [
            params["response"]["status"]
            for method, params in self.tools.events[seen:]
            if method == "Network.responseReceived" and params.get("type") == "Document"
        ]
        return int(statuses[-1])

    def _loaded(self, since: int) -> bool:
        return any(method == "Page.loadEventFired" for method, _ in self.tools.events[since:])

    async def text(self) -> str:
        found = await self.send(
            "Runtime.evaluate", {"expression": "document.body.innerText", "returnByValue": True}
        )
        return str(found["result"].get("value", ""))

    def received(self, since: int = 0) -> str:
        """The text the terminal received over the websocket, control sequences taken out."""
        chunks = []
        for method, params in self.tools.events[since:]:
            if method != "Network.webSocketFrameReceived":
                continue
            response = params["response"]
            payload = response["payloadData"]
            if response["opcode"] == 2:
                payload = base64.b64decode(payload).decode("utf-8", "replace")
            chunks.append(_CONTROL.sub("", payload))
        return "".join(chunks)

    async def screenshot(self) -> bytes:
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        return base64.b64decode(shot["data"])

    async def wait_for(self, condition: Any, what: str, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {seconds:.0f} s for {what}")
            await asyncio.sleep(0.1)

    async def press(self, key: str) -> None:
        """A key typed into the terminal, as a person types it."""
        await self.send(
            "Runtime.evaluate",
            {"expression": "document.querySelector('.xterm-helper-textarea').focus()"},
        )
        await self.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": key, "text": key})
        await self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": key})


def _environments_under(pid: int) -> list[dict[str, str]]:
    """The environments of the processes started by `pid`, at any depth (Linux's /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # "pid (name) state ppid ...": the name may hold spaces and parentheses.
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        for child in frontier:
            with contextlib.suppress(OSError):
                raw = (Path("/proc") / str(child) / "environ").read_bytes()
                pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
                found.append({key.decode(): value.decode() for key, _, value in pairs})
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str, int]]:
    """A demo agency's database; the server's address, a link for its manager, its pid."""
    path = tmp_path / "demo.db"
    settings = demo_settings().model_copy(update={"db": str(path)})
    engine = open_database(str(path))
    now = utc_now()
    seed_demo(engine, settings, now, folder=tmp_path)
    # The manager, not the assistant a dashboard acts as when told nothing.
    sophie = find_staff(engine, "Sophie Marchand")
    code = make_link(engine, sophie.id, now, timedelta(hours=1))
    engine.dispose()
    port = _free_port()
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")},
        "PMDESK_DB": str(path),
        "PMDESK_CONFIG": str(ROOT / "data" / "demo" / "config.toml"),
        "PMDESK_LOCALE": "en_GB",
    }
    log = (tmp_path / "web.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "pmdesk", "web", "--port", str(port)],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert server.poll() is None, (tmp_path / "web.log").read_text()
            assert time.monotonic() < deadline, "pmdesk web did not listen within 30 s"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", code, server.pid
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    assert CHROMIUM is not None, "no Chromium: apt-get install chromium"
    profile = tmp_path / "chromium-profile"
    browser = subprocess.Popen(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and len(active.read_text().splitlines()) >= 2):
            assert browser.poll() is None, "Chromium stopped at start"
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            await asyncio.sleep(0.1)
        port, path = active.read_text().splitlines()[:2]
        async with (
            aiohttp.ClientSession() as client,
            client.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0) as socket_,
        ):
            tools = DevTools(socket_)
            target = await tools.send("Target.createTarget", {"url": "about:blank"})
            attached = await tools.send(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
            )
            tab = Page(tools, attached["sessionId"])
            for domain in ("Page", "Network", "Runtime"):
                await tab.send(f"{domain}.enable")
            await tab.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
            )
            yield tab
            tools.reader.cancel()
    finally:
        browser.terminate()
        try:
            browser.wait(15)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait()


async def test_the_dashboard_in_a_browser(
    demo: tuple[str, str, int], page: Page, tmp_path: Path
) -> None:
    base, code, server = demo
    # Without a link, or with a wrong one: refused, and nothing of the dashboard.
    assert await page.open(base + "/") == 403
    assert await page.open(f"{base}/link/not-a-real-link-at-all-0123456789") == 403
    assert "403" in await page.text()

    # The personal link: the dashboard, as the demo's manager.
    assert await page.open(f"{base}/link/{code}") == 200
    await page.wait_for(lambda: "Clocks" in page.received(), "the dashboard's first screen")
    assert "Incoming" in page.received()
    await page.wait_for(
        lambda: "started for Sophie Marchand" in (tmp_path / "web.log").read_text(),
        "the server to start the dashboard as Sophie Marchand",
    )
    operators = {found.get("PMDESK_OPERATOR") for found in _environments_under(server)}
    assert "sophie.marchand@atelier-lumen.fr" in operators

    # The clocks tick: the screen keeps changing, and so does the canvas showing it.
    await asyncio.sleep(1.0)
    before, since = await page.screenshot(), len(page.tools.events)
    await asyncio.sleep(2.5)
    assert page.received(since).strip(), "nothing drawn for 2.5 s"
    assert await page.screenshot() != before

    # A key press reaches the dashboard: ? opens the help with every key.
    since = len(page.tools.events)
    await page.press("?")
    await page.wait_for(
        lambda: re.search(r"where\s+key\s+does", page.received(since)) is not None,
        "the help screen",
    )

    # The link is used up: a second opening is refused.
    assert await page.open(f"{base}/link/{code}") == 403
    assert "already used" in await page.text()
