"""The Factur-X e-invoice: the CII XML (profile EN 16931) built from an issued document.

`cii_xml` writes the UN/CEFACT CrossIndustryInvoice of an `IssuedDocument`:
type code 380 (invoice) or 381 (credit note), the seller's and the buyer's
SIREN (scheme 0002) and VAT numbers, the lines with their service period,
the VAT breakdown per rate (category S, or Z at 0 %), the payment means (58
SEPA credit transfer to the seller's IBAN, 59 SEPA direct debit with the
mandate reference, the debited IBAN and the creditor identifier), the due
date and the totals. A credit note's lines, negative in the model, are
written positive: its type code carries the sign.

`factur_x_pdf` checks the XML against the library's EN 16931 XSD and embeds
it in the PDF of core.billing.pdf with `facturx.generate_from_binary`
(PDF/A-3 with factur-x.xml attached, XMP metadata of the Factur-X profile).
The library stamps the current time in the metadata; it is given the day of
issue instead, so that the same document gives the same bytes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from core.billing.model import DocumentKind, IssuedDocument, Party, PaymentMethod
from core.billing.pdf import DocumentProblem, check, render_pdf

LEVEL = "en16931"
FLAVOR = "factur-x"
GUIDELINE = "urn:cen.eu:en16931:2017"
TYPE_CODES = {DocumentKind.INVOICE: "380", DocumentKind.CREDIT_NOTE: "381"}
PAYMENT_MEANS = {PaymentMethod.TRANSFER: "58", PaymentMethod.SEPA_DEBIT: "59"}
# UN/ECE recommendation 20 codes for the units the contracts use; any other is "C62" (one).
UNIT_CODES = {"hour": "HUR", "h": "HUR", "day": "DAY", "month": "MON", "year": "ANN"}
NAMESPACES = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
_TIMESTAMP_LOCK = threading.Lock()


def cii_xml(document: IssuedDocument) -> bytes:
    """The document's CII XML, UTF-8, checked against the Factur-X EN 16931 XSD."""
    check(document)
    xml = _build(document)
    validate(xml)
    return xml


def validate(xml: bytes) -> None:
    """Refuse an XML that the library's XSD for the EN 16931 profile rejects."""
    from facturx import xml_check_xsd

    try:
        xml_check_xsd(xml, flavor=FLAVOR, level=LEVEL)
    except Exception as error:  # the library raises a bare Exception with the XSD's reason
        raise DocumentProblem(f"the Factur-X XML is not valid: {error}") from None


def factur_x_pdf(document: IssuedDocument) -> bytes:
    """The document's PDF with its CII XML embedded: a Factur-X EN 16931 file."""
    from facturx import generate_from_binary

    xml = cii_xml(document)
    pdf = render_pdf(document)
    issued = datetime.combine(document.issued_on, time(), tzinfo=UTC)
    metadata = {
        "author": document.seller.name,
        "keywords": "Factur-X",
        "title": f"{document.seller.name}: {document.number}",
        "subject": f"{document.number} ({document.buyer.name})",
        "creation_datetime": issued,
        "modification_datetime": issued,
    }
    with _fixed_time(issued):
        result = generate_from_binary(
            pdf,
            xml,
            flavor=FLAVOR,
            level=LEVEL,
            check_xsd=False,  # cii_xml has just checked it
            pdf_metadata=metadata,
            lang=document.language,
        )
    return _fixed_identifier(bytes(result))


def _fixed_identifier(pdf: bytes) -> bytes:
    """The trailer's /ID, random in the library's writer, made a digest of the file.

    The two identifiers are replaced in place by hex strings of the same
    length, so the cross-reference offsets stay right.
    """
    import hashlib
    import re

    found = list(re.finditer(rb"/ID \[ <([0-9a-f]{32})> <([0-9a-f]{32})> \]", pdf))
    if not found:
        return pdf
    last = found[-1]
    blank = pdf[: last.start()] + b"/ID [ <" + b"0" * 32 + b"> <" + b"0" * 32 + b"> ]"
    digest = hashlib.md5(blank + pdf[last.end() :], usedforsecurity=False).hexdigest().encode()
    return pdf[: last.start()] + b"/ID [ <" + digest + b"> <" + digest + b"> ]" + pdf[last.end() :]


@contextlib.contextmanager
def _fixed_time(moment: datetime) -> Iterator[None]:
    """The library's two clocks (PDF dates, XMP dates) read `moment` for the duration."""
    import facturx.facturx as library

    pdf_stamp = moment.strftime("D:%Y%m%d%H%M%S+00'00'")
    meta_stamp = moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    with _TIMESTAMP_LOCK:
        saved = library._get_pdf_timestamp, library._get_metadata_timestamp
        original_pdf_timestamp = saved[0]

        def pdf_timestamp(date: datetime | None = None) -> str:
            return pdf_stamp if date is None else str(original_pdf_timestamp(date))

        library._get_pdf_timestamp = pdf_timestamp
        library._get_metadata_timestamp = lambda: meta_stamp
        try:
            yield
        finally:
            library._get_pdf_timestamp, library._get_metadata_timestamp = saved


def _build(document: IssuedDocument) -> bytes:
    from lxml import etree

    sign = -1 if document.kind == DocumentKind.CREDIT_NOTE else 1

    def element(parent: Any, name: str, text: str | None = None, **attributes: str) -> Any:
        prefix, local = name.split(":")
        node = etree.SubElement(parent, f"{{{NAMESPACES[prefix]}}}{local}", attributes)
        if text is not None:
            node.text = text
        return node

    def day(parent: Any, name: str, value: date) -> None:
        holder = element(parent, name)
        element(holder, "udt:DateTimeString", value.strftime("%Y%m%d"), format="102")

    root = etree.Element(f"{{{NAMESPACES['rsm']}}}CrossIndustryInvoice", nsmap=NAMESPACES)
    context = element(root, "rsm:ExchangedDocumentContext")
    guideline = element(context, "ram:GuidelineSpecifiedDocumentContextParameter")
    element(guideline, "ram:ID", GUIDELINE)

    header = element(root, "rsm:ExchangedDocument")
    element(header, "ram:ID", document.number)
    element(header, "ram:TypeCode", TYPE_CODES[document.kind])
    day(header, "ram:IssueDateTime", document.issued_on)
    for note in document.notes:
        element(element(header, "ram:IncludedNote"), "ram:Content", note)

    transaction = element(root, "rsm:SupplyChainTradeTransaction")
    for number, line in enumerate(document.lines, start=1):
        item = element(transaction, "ram:IncludedSupplyChainTradeLineItem")
        element(element(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(number))
        product = element(item, "ram:SpecifiedTradeProduct")
        element(product, "ram:Name", line.description)
        if line.note:
            element(product, "ram:Description", line.note)
        agreement = element(item, "ram:SpecifiedLineTradeAgreement")
        price = element(agreement, "ram:NetPriceProductTradePrice")
        element(price, "ram:ChargeAmount", _amount(abs(line.unit_price_cents)))
        quantity = line.quantity * sign * (1 if line.unit_price_cents >= 0 else -1)
        delivery = element(item, "ram:SpecifiedLineTradeDelivery")
        element(delivery, "ram:BilledQuantity", _quantity(quantity), unitCode=_unit(line.unit))
        settlement = element(item, "ram:SpecifiedLineTradeSettlement")
        tax = element(settlement, "ram:ApplicableTradeTax")
        element(tax, "ram:TypeCode", "VAT")
        element(tax, "ram:CategoryCode", _category(line.vat_rate))
        element(tax, "ram:RateApplicablePercent", _rate(line.vat_rate))
        period = element(settlement, "ram:BillingSpecifiedPeriod")
        day(period, "ram:StartDateTime", line.service_start)
        day(period, "ram:EndDateTime", line.service_end)
        summation = element(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        element(summation, "ram:LineTotalAmount", _amount(sign * line.amount_cents))

    agreement = element(transaction, "ram:ApplicableHeaderTradeAgreement")
    _party(element, element(agreement, "ram:SellerTradeParty"), document.seller)
    _party(element, element(agreement, "ram:BuyerTradeParty"), document.buyer)

    delivery = element(transaction, "ram:ApplicableHeaderTradeDelivery")
    event = element(delivery, "ram:ActualDeliverySupplyChainEvent")
    day(event, "ram:OccurrenceDateTime", document.service_end)

    settlement = element(transaction, "ram:ApplicableHeaderTradeSettlement")
    if document.payment_method == PaymentMethod.SEPA_DEBIT:
        element(settlement, "ram:CreditorReferenceID", document.creditor_id)
    element(settlement, "ram:PaymentReference", document.creditor_reference)
    element(settlement, "ram:InvoiceCurrencyCode", document.currency)
    means = element(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
    element(means, "ram:TypeCode", PAYMENT_MEANS[document.payment_method])
    if document.payment_method == PaymentMethod.SEPA_DEBIT and document.mandate is not None:
        payer = element(means, "ram:PayerPartyDebtorFinancialAccount")
        element(payer, "ram:IBANID", _compact(document.mandate.iban))
    else:
        payee = element(means, "ram:PayeePartyCreditorFinancialAccount")
        element(payee, "ram:IBANID", _compact(document.seller_iban))
        if document.seller_bic:
            bank = element(means, "ram:PayeeSpecifiedCreditorFinancialInstitution")
            element(bank, "ram:BICID", document.seller_bic)
    totals = document.totals
    for vat in totals.vat:
        tax = element(settlement, "ram:ApplicableTradeTax")
        element(tax, "ram:CalculatedAmount", _amount(sign * vat.vat_cents))
        element(tax, "ram:TypeCode", "VAT")
        element(tax, "ram:BasisAmount", _amount(sign * vat.base_cents))
        element(tax, "ram:CategoryCode", _category(vat.rate))
        element(tax, "ram:RateApplicablePercent", _rate(vat.rate))
    period = element(settlement, "ram:BillingSpecifiedPeriod")
    day(period, "ram:StartDateTime", document.service_start)
    day(period, "ram:EndDateTime", document.service_end)
    terms = element(settlement, "ram:SpecifiedTradePaymentTerms")
    day(terms, "ram:DueDateDateTime", document.due_on)
    if document.payment_method == PaymentMethod.SEPA_DEBIT and document.mandate is not None:
        element(terms, "ram:DirectDebitMandateID", document.mandate.reference)
    summation = element(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    element(summation, "ram:LineTotalAmount", _amount(sign * totals.net_cents))
    element(summation, "ram:TaxBasisTotalAmount", _amount(sign * totals.net_cents))
    element(
        summation,
        "ram:TaxTotalAmount",
        _amount(sign * totals.vat_cents),
        currencyID=document.currency,
    )
    element(summation, "ram:GrandTotalAmount", _amount(sign * totals.gross_cents))
    element(summation, "ram:DuePayableAmount", _amount(sign * totals.gross_cents))
    if document.corrects:
        referenced = element(settlement, "ram:InvoiceReferencedDocument")
        element(referenced, "ram:IssuerAssignedID", document.corrects)

    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _party(element: Any, node: Any, party: Party) -> None:
    element(node, "ram:Name", party.name)
    if party.siren:
        legal = element(node, "ram:SpecifiedLegalOrganization")
        element(legal, "ram:ID", party.siren, schemeID="0002")
    address = element(node, "ram:PostalTradeAddress")
    if party.postcode:
        element(address, "ram:PostcodeCode", party.postcode)
    lines = (
        party.address
        if len(party.address) <= 3
        else (
            *party.address[:2],
            ", ".join(party.address[2:]),
        )
    )
    for name, line in zip(("ram:LineOne", "ram:LineTwo", "ram:LineThree"), lines, strict=False):
        element(address, name, line)
    if party.city:
        element(address, "ram:CityName", party.city)
    element(address, "ram:CountryID", party.country)
    if party.email:
        mail = element(node, "ram:URIUniversalCommunication")
        element(mail, "ram:URIID", party.email, schemeID="EM")
    if party.vat_number:
        registration = element(node, "ram:SpecifiedTaxRegistration")
        element(registration, "ram:ID", _compact(party.vat_number), schemeID="VA")


def _amount(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def _quantity(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text if "." in text else f"{text}.0"


def _rate(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def _category(rate: Decimal) -> str:
    return "S" if rate > 0 else "Z"


def _unit(unit: str) -> str:
    return UNIT_CODES.get(unit.strip().lower(), "C62")


def _compact(identifier: str) -> str:
    return "".join(identifier.split()).upper()
