"""Start-up work the dashboard leaves out: the stylesheet parsed once, the collector held,
the main screen styled once for its width, modules only later screens need, the
stylesheet's rules and the locale's data not worked out again when the last start kept them.

Measured in docs/benchmarks.md (dashboard rounds 11 and 17); here, that
what is left out stays out and does not change what the screen shows or how
it behaves.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, BinaryIO

import pytest
from sqlalchemy import Engine
from textual._compositor import Compositor
from textual.color import Color
from textual.css.stylesheet import Stylesheet
from textual.dom import DOMNode

from core.base.paths import default_cache_path
from core.config.settings import Settings
from pmdesk.start import hold_collector
from tests.support import MovableClock
from tests.tui.test_dashboard import main_screen, make_app, until
from tui.app import Dashboard
from tui.display.themes import THEMES
from tui.panels.feed import IncomingPanel
from tui.screens.main import MainScreen
from tui.sources.backend import Backend
from tui.sources.watch import first_read
from tui.startcache import FILE_NAME as START_CACHE

ROOT = Path(__file__).resolve().parents[2]


def background(name: str) -> Color:
    [theme] = [theme for theme in THEMES if theme.name == name]
    return Color.parse(theme.background or "")


@pytest.fixture
def reparses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per time the app's stylesheet is parsed again from scratch."""
    seen: list[int] = []
    reparse = Stylesheet.reparse

    def counted(stylesheet: Stylesheet) -> None:
        seen.append(1)
        reparse(stylesheet)

    monkeypatch.setattr(Stylesheet, "reparse", counted)
    return seen


async def test_the_stylesheet_is_parsed_with_the_theme_once_and_again_on_a_theme_change(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, reparses: list[int]
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        # Parsed once, with the dashboard's theme: its colours, no second parse.
        assert reparses == []
        assert pilot.app.theme == "pmdesk-dark"
        assert screen.styles.background == background("pmdesk-dark")
        await pilot.press("t")
        await pilot.pause()
        # A theme changed once running: parsed again and applied.
        assert reparses == [1]
        assert screen.styles.background == background("pmdesk-light")


@pytest.fixture
def collector() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()


async def test_the_collector_held_at_start_runs_again_once_the_first_data_are_shown(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, collector: None
) -> None:
    hold_collector()
    assert not gc.isenabled()
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await until(pilot, gc.isenabled)
    assert gc.isenabled()


FIRST_SCREEN_PROBE = """
import asyncio, json, os, sys
os.environ["PMDESK_DB"] = {db!r}
from core.config.quick import quick_settings
from tui.app import Dashboard
from tui.sources.backend import Backend

async def first_screen():
    settings = quick_settings()
    app = Dashboard(settings, Backend(settings))
    async with app.run_test(size=(200, 50)) as pilot:
        while not (getattr(app, "main", None) and app.main.loaded):
            await pilot.pause(0.02)
        return sorted(sys.modules)

print(json.dumps(asyncio.run(first_screen())))
"""

# Loaded where they are first used, after the first screenful (docs/benchmarks.md,
# dashboard round 17): humanize for the relative times of a thread's events.
LATER = ("humanize",)


@pytest.mark.sqlite_only  # the probe reads the test's database file as `pmdesk` does
def test_the_first_screen_is_shown_without_what_only_later_screens_need(
    agency: Engine, engine_url: str, tmp_path: Path
) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", FIRST_SCREEN_PROBE.format(db=engine_url)],
        cwd=ROOT,
        env={**os.environ, "PMDESK_CONFIG": "", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {name.partition(".")[0] for name in json.loads(completed.stdout.splitlines()[-1])}
    assert "textual" in loaded  # the probe did see the dashboard's own imports
    assert loaded & set(LATER) == set()


@pytest.mark.parametrize(("width", "named"), [(200, "-wide"), (100, "-narrow")])
async def test_the_main_screen_is_styled_for_its_width_before_its_first_resize(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    width: int,
    named: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The class the screen's first Resize gives it was set after its first styling,
    # which restyled every widget of the screen once more before the first frame.
    styled: list[str] = []
    apply = Stylesheet.apply

    def counted(stylesheet: Stylesheet, node: DOMNode, **options: Any) -> None:
        if node.id == "panels":
            styled.append(" ".join(sorted(node.screen.classes)))
        apply(stylesheet, node, **options)

    monkeypatch.setattr(Stylesheet, "apply", counted)
    async with make_app(dashboard_settings, clock).run_test(size=(width, 40)) as pilot:
        screen = await main_screen(pilot)
        assert named in screen.classes
        assert {"-wide", "-narrow"} - {named} & screen.classes == set()
    assert styled and all(named in classes.split() for classes in styled)


def prefetched_app(settings: Settings, clock: MovableClock) -> Dashboard:
    """The app as `pmdesk` opens it: its first read made before the app runs."""
    backend = Backend(settings, clock)
    backend.prefetch(first_read)
    assert backend.prefetched(10.0) is not None  # read by the time the screen mounts
    return Dashboard(settings, backend)


async def test_the_main_screen_is_styled_once_before_its_first_frame(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its widgets are styled at their mount; Textual styled them all again when the
    # screen was first shown (ScreenResume), with nothing changed in between.
    styled: list[str] = []
    apply = Stylesheet.apply

    def counted(stylesheet: Stylesheet, node: DOMNode, **options: Any) -> None:
        if node.id in {"main", "panels", "status"} and not getattr(node.screen, "loaded", False):
            styled.append(str(node.id))
        apply(stylesheet, node, **options)

    monkeypatch.setattr(Stylesheet, "apply", counted)
    app = prefetched_app(dashboard_settings, clock)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await main_screen(pilot)
        assert sorted(styled) == ["main", "panels", "status"]
        # Styled all the same: the stylesheet's colours and the width's layout.
        assert screen.styles.background == background("pmdesk-dark")
        assert screen.query_one("#panels").styles.grid_size_columns == 2


async def test_the_first_read_draws_the_feeds_rows_once_at_the_panels_width(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Shown before the first layout, the rows were drawn at no width, then again
    # at the panel's width on its first Resize, both before the first frame.
    drawn: list[int] = []
    render_rows = IncomingPanel._render_rows

    def counted(panel: IncomingPanel, *args: Any, **options: Any) -> None:
        drawn.append(panel.content_size.width)
        render_rows(panel, *args, **options)

    monkeypatch.setattr(IncomingPanel, "_render_rows", counted)
    app = prefetched_app(dashboard_settings, clock)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await main_screen(pilot)
        panel = screen.query_one(IncomingPanel)
        await until(pilot, lambda: panel.table.row_count > 0)
        assert len(drawn) == 1 and drawn[0] > 0
        assert panel.selected is not None and panel.selected.id == panel.items[0].id


async def test_no_frame_of_the_main_screen_is_drawn_while_textuals_start_up_batch_holds_it(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The app pushes the main screen inside that batch: a frame drawn then was thrown
    # away (App._display writes nothing during a batch) and drawn again after it.
    drawn: list[tuple[bool, bool]] = []
    render_update = Compositor.render_update
    app = prefetched_app(dashboard_settings, clock)

    def counted(compositor: Compositor, *args: Any, **options: Any) -> Any:
        screen = app.screen
        loaded = isinstance(screen, MainScreen) and screen.loaded
        drawn.append((app._batch_count > 0, loaded))
        return render_update(compositor, *args, **options)

    monkeypatch.setattr(Compositor, "render_update", counted)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await main_screen(pilot)
        await until(pilot, lambda: (False, True) in drawn)
        assert [held for held, _loaded in drawn] == [False] * len(drawn)
        # Drawn whole all the same: every line of the screen, the panels' data in it.
        lines = [strip.text for strip in screen._compositor.render_strips()]
        assert len(lines) == 50
        assert any("Incoming" in line for line in lines)


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The places of the stylesheet sources Textual parses, and each locale file Babel reads.

    Babel's own cache of locale data is emptied first, as in a new process, and
    emptied again afterwards: what a test left there does not stand for a file read.
    """
    import textual.css.stylesheet
    from babel import localedata

    seen: list[str] = []
    parse = textual.css.stylesheet.parse

    def parsing(scope: str, css: str, read_from: tuple[str, str], **options: Any) -> Any:
        seen.append(f"css {read_from[1] or Path(read_from[0]).name}")
        return parse(scope, css, read_from, **options)

    def reading(file: BinaryIO) -> Any:
        seen.append(f"locale {Path(file.name).stem}")
        return pickle.load(file)

    monkeypatch.setattr(textual.css.stylesheet, "parse", parsing)
    monkeypatch.setattr(localedata, "pickle", SimpleNamespace(load=reading))
    localedata._cache.clear()
    yield seen
    localedata._cache.clear()


def start_cache_file() -> Path:
    return default_cache_path(START_CACHE)


async def first_screen_lines(app: Dashboard) -> list[str]:
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await main_screen(pilot)
        await until(pilot, lambda: app._jobs_started)  # the start's cache written by now
        assert screen.styles.background == background(app.theme)
        assert screen.query_one("#panels").styles.grid_size_columns == 2
        return [strip.text for strip in screen._compositor.render_strips()]


async def test_a_second_start_parses_no_stylesheet_and_reads_no_locale_data_and_looks_the_same(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    parsed: list[str],
) -> None:
    from babel import localedata

    first = await first_screen_lines(prefetched_app(dashboard_settings, clock))
    assert "css pmdesk.tcss" in parsed and "locale en_US" in parsed  # the first start did
    if os.name == "posix":  # its owner's alone, as the database and the log are
        assert stat.S_IMODE(start_cache_file().stat().st_mode) == 0o600
    parsed.clear()
    localedata._cache.clear()  # as in a new process
    again = await first_screen_lines(prefetched_app(dashboard_settings, clock))
    assert parsed == []
    assert again == first


async def test_a_start_cache_of_another_theme_or_unreadable_is_set_aside_and_written_again(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    parsed: list[str],
) -> None:
    from babel import localedata

    await first_screen_lines(prefetched_app(dashboard_settings, clock))
    light = dashboard_settings.model_copy(
        update={"dashboard": dashboard_settings.dashboard.model_copy(update={"theme": "light"})}
    )
    parsed.clear()
    localedata._cache.clear()
    app = prefetched_app(light, clock)
    await first_screen_lines(app)  # the light theme's colours, not the kept dark ones
    assert app.theme == "pmdesk-light"
    assert "css pmdesk.tcss" in parsed and not any(seen.startswith("locale") for seen in parsed)
    path = start_cache_file()
    path.write_bytes(path.read_bytes()[:1000])  # cut short
    parsed.clear()
    localedata._cache.clear()
    await first_screen_lines(prefetched_app(light, clock))
    assert "css pmdesk.tcss" in parsed and "locale en_US" in parsed
    parsed.clear()
    localedata._cache.clear()
    await first_screen_lines(prefetched_app(light, clock))  # written again whole
    assert parsed == []


def test_the_themes_colours_are_worked_out_once_as_the_app_is_made(
    dashboard_settings: Settings, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Textual worked out its default theme's colours for a stylesheet that the app's
    # own theme replaced before anything was parsed.
    from textual.design import ColorSystem

    generated: list[int] = []
    generate = ColorSystem.generate

    def counted(system: ColorSystem) -> dict[str, str]:
        generated.append(1)
        return generate(system)

    monkeypatch.setattr(ColorSystem, "generate", counted)
    app = make_app(dashboard_settings, clock)
    assert generated == [1]
    assert app.stylesheet._variables == app.theme_variables
    assert app.stylesheet._variables["background"] == str(background("pmdesk-dark").hex)


async def test_a_start_cache_that_cannot_be_written_leaves_the_start_as_it_was(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    parsed: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # no directory can be made in it
    lines = await first_screen_lines(prefetched_app(dashboard_settings, clock))
    assert any("Incoming" in line for line in lines)
    assert not start_cache_file().exists()
    assert list(tmp_path.glob("a-file*")) == [blocked]
