"""The Factur-X e-invoice: the CII XML checked by the factur-x library, embedded in the PDF."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from core.billing.einvoice import NAMESPACES, cii_xml, factur_x_pdf, validate
from core.billing.files import write_documents
from core.billing.pdf import DocumentProblem
from tests.core.billing.samples import credit_note, direct_debit, invoice


def values(xml: bytes, path: str) -> list[str]:
    return [str(node.text) for node in etree.fromstring(xml).xpath(path, namespaces=NAMESPACES)]


def value(xml: bytes, path: str) -> str:
    found = values(xml, path)
    assert len(found) == 1, (path, found)
    return found[0]


SETTLEMENT = "//ram:ApplicableHeaderTradeSettlement"
SUMMATION = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"


def test_the_pdf_carries_the_xml_the_library_validates() -> None:
    from facturx import get_facturx_xml_from_pdf, get_level, xml_check_xsd

    filename, xml = get_facturx_xml_from_pdf(factur_x_pdf(invoice()), check_xsd=True)

    assert filename == "factur-x.xml"
    assert xml == cii_xml(invoice())
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert get_level(etree.fromstring(xml)) == "en16931"


def test_an_invoice_with_its_parties_vat_and_totals() -> None:
    xml = cii_xml(invoice())

    assert value(xml, "//rsm:ExchangedDocument/ram:TypeCode") == "380"
    assert value(xml, "//rsm:ExchangedDocument/ram:ID") == "F-2026-0042"
    seller = "//ram:SellerTradeParty"
    assert value(xml, f"{seller}/ram:SpecifiedLegalOrganization/ram:ID") == "732829320"
    assert value(xml, f"{seller}/ram:SpecifiedTaxRegistration/ram:ID") == "FR44732829320"
    assert value(xml, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == (
        "FR82542065479"
    )
    assert value(xml, f"{SETTLEMENT}/ram:PaymentReference") == "RF18F2026004200"
    means = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementPaymentMeans"
    assert value(xml, f"{means}/ram:TypeCode") == "58"
    assert value(xml, f"{means}/ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == (
        "FR7630006000011234567890189"
    )
    assert value(xml, f"{SETTLEMENT}/ram:SpecifiedTradePaymentTerms//udt:DateTimeString") == (
        "20261231"
    )
    assert values(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:CategoryCode") == ["S", "S"]
    assert values(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:RateApplicablePercent") == [
        "5.50",
        "20.00",
    ]


def test_the_totals_are_the_sums_of_the_lines_and_of_the_vat_per_rate() -> None:
    xml = cii_xml(invoice())

    lines = [
        Decimal(text)
        for text in values(
            xml,
            "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
        )
    ]
    line_rates = [
        Decimal(text)
        for text in values(xml, "//ram:IncludedSupplyChainTradeLineItem//ram:RateApplicablePercent")
    ]
    bases = values(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:BasisAmount")
    taxes = values(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:CalculatedAmount")
    rates = values(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:RateApplicablePercent")
    for base, tax, rate in zip(bases, taxes, rates, strict=True):
        of_rate = sum(
            (amount for amount, r in zip(lines, line_rates, strict=True) if r == Decimal(rate)),
            Decimal(0),
        )
        assert Decimal(base) == of_rate
        assert Decimal(tax) == (of_rate * Decimal(rate) / 100).quantize(Decimal("0.01"))
    net = Decimal(value(xml, f"{SUMMATION}/ram:LineTotalAmount"))
    vat = Decimal(value(xml, f"{SUMMATION}/ram:TaxTotalAmount"))
    assert net == sum(lines) == Decimal("666.00")
    assert vat == sum(Decimal(tax) for tax in taxes) == Decimal("104.20")
    assert Decimal(value(xml, f"{SUMMATION}/ram:GrandTotalAmount")) == net + vat
    assert Decimal(value(xml, f"{SUMMATION}/ram:DuePayableAmount")) == net + vat


def test_a_credit_note_is_type_381_with_positive_amounts_and_the_corrected_invoice() -> None:
    xml = cii_xml(credit_note())

    assert value(xml, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert value(xml, f"{SETTLEMENT}/ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == (
        "F-2026-0042"
    )
    assert value(xml, f"{SUMMATION}/ram:GrandTotalAmount") == "19.20"


def test_a_direct_debit_names_the_mandate_the_debtor_account_and_the_creditor() -> None:
    xml = cii_xml(direct_debit())

    means = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementPaymentMeans"
    assert value(xml, f"{means}/ram:TypeCode") == "59"
    assert value(xml, f"{means}/ram:PayerPartyDebtorFinancialAccount/ram:IBANID") == (
        "DE89370400440532013000"
    )
    assert value(xml, f"{SETTLEMENT}/ram:CreditorReferenceID") == "FR72ZZZ123456"
    assert value(xml, f"{SETTLEMENT}/ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID") == (
        "MDT-0007"
    )


def test_a_zero_rate_is_category_z() -> None:
    document = invoice()
    lines = (document.lines[0].__class__(**{**document.lines[0].__dict__, "vat_rate": Decimal(0)}),)
    xml = cii_xml(invoice(lines=lines))

    assert values(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:CategoryCode") == ["Z"]


def test_an_xml_the_schema_rejects_is_refused() -> None:
    xml = (
        cii_xml(invoice())
        .replace(b"<ram:TypeCode>380", b"<ram:Nonsense>380")
        .replace(b"380</ram:TypeCode>", b"380</ram:Nonsense>", 1)
    )
    with pytest.raises(DocumentProblem, match="not valid"):
        validate(xml)


def test_files_are_deterministic_and_never_rewritten(tmp_path: Path) -> None:
    progress: list[tuple[int, int]] = []
    first = write_documents(
        [invoice(), credit_note()], tmp_path, progress=lambda *p: progress.append(p)
    )
    content = (tmp_path / "F-2026-0042.pdf").read_bytes()

    again = write_documents([invoice()], tmp_path)

    assert [path.name for path in first.written] == ["F-2026-0042.pdf", "AV-2026-0003.pdf"]
    assert progress == [(1, 2), (2, 2)]
    assert again.unchanged == (tmp_path / "F-2026-0042.pdf",)
    assert (tmp_path / "F-2026-0042.pdf").read_bytes() == content == factur_x_pdf(invoice())
    with pytest.raises(DocumentProblem, match="never rewritten"):
        write_documents([invoice(due_on=invoice().due_on.replace(day=30))], tmp_path)
    assert (tmp_path / "F-2026-0042.pdf").read_bytes() == content
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "AV-2026-0003.pdf",
        "F-2026-0042.pdf",
    ]
