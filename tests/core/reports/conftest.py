"""The hand-built week, ingested into the test's database."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from core.conversations.ingest import Ingestor
from core.reports.content import ClientReport, client_report
from core.reports.period import ReportPeriod
from core.store.reader import Reader
from tests.core.reports.week import NOW, build

PARIS = ZoneInfo("Europe/Paris")
W48 = ReportPeriod.week("2026-W48")


@pytest.fixture
def week(ingestor: Ingestor, reader: Reader) -> Reader:
    build(ingestor)
    return reader


def report_of(reader: Reader, client: str, period: ReportPeriod = W48) -> ClientReport:
    return client_report(reader, client, period, PARIS, NOW)
