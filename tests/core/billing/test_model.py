"""Totals of invoice lines: VAT per rate on each rate's base, rounded half up."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.billing.model import Line, cents_of, totals_of

DAY = date(2026, 12, 1)


def line(quantity: str, price: int, rate: str) -> Line:
    return Line("x", Decimal(quantity), price, Decimal(rate), DAY, DAY)


def test_vat_is_computed_per_rate_on_the_base_of_its_lines() -> None:
    # 3 x 0.333... would round three times; per rate it rounds once.
    totals = totals_of([line("1", 1005, "20"), line("1", 1005, "20"), line("2", 250, "5.5")])
    assert [(v.rate, v.base_cents, v.vat_cents) for v in totals.vat] == [
        (Decimal("5.5"), 500, 28),
        (Decimal("20"), 2010, 402),
    ]
    assert (totals.net_cents, totals.vat_cents, totals.gross_cents) == (2510, 430, 2940)


def test_a_line_rounds_half_up_and_a_credit_line_is_negative() -> None:
    assert line("0.5", 101, "20").amount_cents == 51
    assert line("-1", 1000, "20").amount_cents == -1000
    assert cents_of(Decimal("-0.5")) == -1
