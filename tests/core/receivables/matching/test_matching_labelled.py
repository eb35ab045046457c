"""Matching on a labelled set of statement lines with realistic noise.

The set is the benchmark's (bench/payments_data.py), smaller: clean and RF
references, typos and lost zeros, payer names only, amounts only, partial
and combined payments, bank fees deducted, credits that pay none of ours.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench.matching import load, score
from bench.payments_data import generate
from core.config.banks import BanksConfig
from core.receivables.matching.matcher import match_new_lines
from core.store.db import open_database

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


def test_on_600_labelled_lines_auto_matches_are_right_and_most_lines_match(
    tmp_path: Path,
) -> None:
    data = generate(invoices=2_000, lines=600, seed=5)
    kinds = {line.kind for line in data.lines}
    assert len(data.lines) >= 500
    assert {"typo", "names", "amounts", "partial", "multi", "fees", "none"} <= kinds
    engine = open_database(str(tmp_path / "labelled.db"))
    load(engine, data, NOW)

    summary = match_new_lines(engine, BanksConfig(), NOW, keep_proposals=True)
    engine.dispose()

    decisions = []
    for index in range(len(data.lines)):
        proposals = summary.proposals.get(index + 1, [])
        best = tuple(n - 1 for n in proposals[0].invoice_ids) if proposals else None
        applied = bool(proposals) and bool(proposals[0].rule)
        decisions.append((best, None) if applied else (None, best))
    figures = score("pmdesk", decisions, data)
    assert figures["precision"] >= 0.995
    assert figures["auto rate"] >= 0.85
    # Credits that pay none of our invoices are never applied.
    for line, (applied_to, _) in zip(data.lines, decisions, strict=True):
        if not line.truth:
            assert applied_to is None
