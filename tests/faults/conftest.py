"""The fault-injection suite: every test here is marked `faults`.

The normal test command runs it; a quick run can leave it out with
`pytest -m "not faults"`. Each test reports what it checked on the terminal.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def say(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Report a line of what was checked, shown even when output is captured."""
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")

    def write(line: str) -> None:
        text = f"[faults] {request.node.name}: {line}"
        if reporter is None or capture is None:
            print(text)
            return
        # Past pytest's capture of the test's output, so that every run shows it.
        with capture.global_and_fixture_disabled():
            reporter.write_line(text)

    return write
