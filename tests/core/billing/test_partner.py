"""The partner's usage report: read with its bad rows refused alone, compared with the billing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from core.billing.audit import BilledItem
from core.billing.model import Line
from core.billing.partner import (
    PartnerFileError,
    PartnerProfile,
    compare_partner,
    read_partner_file,
)

NOV = date(2026, 11, 1)
NOV_END = date(2026, 11, 30)
CLIENTS = {"Acme": 1, "Bigco": 2}


def line(description: str, quantity: str, price: int) -> Line:
    return Line(description, Decimal(quantity), price, Decimal(20), NOV, NOV_END)


BILLED = [
    BilledItem(10, NOV, NOV_END, 1, "Acme", "F-2026-0101", (
        line("Retainer", "1", 50000), line("Mailboxes", "8", 400),
    )),
    BilledItem(20, NOV, NOV_END, 2, "Bigco", "F-2026-0102", (
        line("Retainer", "1", 30000), line("Storage (GB)", "120", 10),
    )),
]  # fmt: skip

# The partner bills Acme 10 mailboxes (8 billed: under-billed), Bigco 100 GB
# (120 billed: over-billed), and a client the agency does not know.
REPORT = (
    "client;service;quantity;period\n"
    "Acme;Mailboxes;10;2026-11\n"
    "ACME ;Retainer;1;11/2026\n"
    "Bigco;Storage GB;100,0;01/11/2026\n"
    "Zulu Ltd;Mailboxes;4;2026-11\n"
    "Acme;Mailboxes;9;2026-10\n"
)


def write(tmp_path: Path, text: str, name: str = "partner.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_two_discrepancies_and_an_unknown_client(tmp_path: Path) -> None:
    rows, refused = read_partner_file(write(tmp_path, REPORT))
    assert refused == []

    result = compare_partner(rows, BILLED, NOV, CLIENTS, file="partner.csv")

    assert [
        (item.client, item.service, item.line, item.billed, item.measured, item.difference,
         item.amount_cents, item.direction)
        for item in result.differences
    ] == [
        ("Acme", "Mailboxes", "Mailboxes", Decimal(8), Decimal(10), Decimal(2), 800, "under"),
        ("Bigco", "Storage GB", "Storage (GB)", Decimal(120), Decimal("100.0"), Decimal(-20),
         -200, "over"),
    ]  # fmt: skip
    [unknown] = result.unknown_clients
    assert (unknown.client, unknown.services, unknown.lines) == ("Zulu Ltd", ("Mailboxes",), (5,))
    assert result.other_months == 1
    assert result.as_dict()["differences"][1]["difference"] == "-20.0"


def test_a_mapping_names_the_line_that_bills_a_service(tmp_path: Path) -> None:
    text = "client,service,quantity,period\nAcme,MBX-365,8,2026-11\n"
    rows, _refused = read_partner_file(write(tmp_path, text))

    unmapped = compare_partner(rows, BILLED, NOV, CLIENTS)
    mapped = compare_partner(rows, BILLED, NOV, CLIENTS, {"MBX-365": "Mailboxes"})

    assert [(item.line, item.billed) for item in unmapped.differences] == [(None, Decimal(0))]
    assert mapped.differences == []


def test_bad_rows_are_refused_alone_with_their_reasons(tmp_path: Path) -> None:
    text = (
        "client;service;quantity;period\n"
        "Acme;Mailboxes;-3;2026-11\n"
        "Acme;Mailboxes;3;November\n"
        "Acme;Mailboxes;3\n"
        "Acme;;3;2026-11\n"
        "Acme;Mailboxes;lots;2026-11\n"
        "Bigco;Storage (GB);120;2026-11\n"
    )
    rows, refused = read_partner_file(write(tmp_path, text))

    assert [(row.client, row.quantity) for row in rows] == [("Bigco", Decimal(120))]
    assert [(row.line, row.reason) for row in refused] == [
        (2, "quantity '-3' is negative"),
        (3, "period 'November' is not a month (YYYY-MM, MM/YYYY, or a day: ISO or "
            "%d/%m/%Y, %d.%m.%Y)"),
        (4, "3 fields, the header has 4 (no period)"),
        (5, "service is empty"),
        (6, "quantity 'lots' is not a number"),
    ]  # fmt: skip
    result = compare_partner(rows, BILLED, NOV, CLIENTS, refused=refused)
    assert (result.differences, len(result.refused)) == ([], 5)


def test_a_file_without_a_column_is_refused_whole(tmp_path: Path) -> None:
    with pytest.raises(PartnerFileError, match="missing column 'period'"):
        read_partner_file(write(tmp_path, "client;service;quantity\nAcme;Mailboxes;3\n"))


def test_a_file_not_in_utf8_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(
        "client;service;quantity;period\nSociété;Mailboxes;3;2026-11\n".encode("latin-1")
    )

    with pytest.raises(PartnerFileError, match="not UTF-8"):
        read_partner_file(path)


def test_a_profile_names_the_partners_columns(tmp_path: Path) -> None:
    text = "Customer\tProduct\tQty\tBilling month\nAcme\tMailboxes\t8\t30.11.2026\n"
    profile = PartnerProfile("Customer", "Product", "Qty", "Billing month")

    rows, refused = read_partner_file(write(tmp_path, text), profile)

    assert refused == []
    assert [(row.client, row.service, row.quantity, row.period) for row in rows] == [
        ("Acme", "Mailboxes", Decimal(8), NOV)
    ]
