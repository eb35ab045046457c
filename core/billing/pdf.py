"""An issued invoice or credit note as a PDF, with the mentions a French B2B invoice carries.

The words come from data/billing/<language>/invoice.txt.j2 (French and
English; another language gets the English one), read through the shared
template loader. The template writes one element per line, `kind|text`
(title, seller, buyer, p, head, row, note, total, strong); `_Layout` lays
them out on A4 pages. Amounts, quantities, rates and dates are formatted by
babel in the document's locale (fr_FR, en_GB).

The PDF is asked of fpdf2 as PDF/A-3B: its font is DejaVu Sans, a TrueType
font embedded (subset) in the file, with the sRGB output intent fpdf2 adds.
Its creation date is the day of issue, and so are the XMP modification
dates fpdf2 would take from the clock (`_dated`), so the same document gives
the same bytes. `check` refuses a document that cannot be a lawful invoice before
anything is written.
"""

from __future__ import annotations

import functools
import importlib.resources
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.base.templates import RESOURCES, template_environment
from core.billing.model import DocumentKind, IssuedDocument, Line, Party, PaymentMethod

LANGUAGES = ("en", "fr")
FALLBACK = "en"
LOCALES = {"fr": "fr_FR", "en": "en_GB"}
TEMPLATE = "invoice.txt.j2"
# The TrueType fonts shipped in data/fonts/: DejaVu Sans cut to the Latin,
# Greek and Cyrillic alphabets, punctuation and currency signs. Shipped so
# that invoices look the same on every system, and cut because fpdf2 reads
# a font whole for every document: the full fonts (1.4 MB) took half of each
# document's time (docs/benchmarks.md, invoice documents).
FONTS = "fonts"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}


class DocumentProblem(ValueError):
    """A document that cannot be written: the message names the document and what is wrong."""


def check(document: IssuedDocument) -> None:
    """Refuse a document missing a mention a French invoice must carry, or with a wrong id."""
    from stdnum.eu import vat
    from stdnum.fr import siren

    problems: list[str] = []
    seller = document.seller
    if not seller.name.strip():
        problems.append("the seller has no name")
    if not seller.address or not seller.postcode or not seller.city:
        problems.append("the seller has no full address")
    if not siren.is_valid(seller.siren):
        problems.append(f"the seller's SIREN {seller.siren!r} is not valid")
    if not vat.is_valid(seller.vat_number):
        problems.append(f"the seller's VAT number {seller.vat_number!r} is not valid")
    buyer = document.buyer
    if not buyer.name.strip():
        problems.append("the buyer has no name")
    if buyer.siren and not siren.is_valid(buyer.siren):
        problems.append(f"the buyer's SIREN {buyer.siren!r} is not valid")
    if buyer.vat_number and not vat.is_valid(buyer.vat_number):
        problems.append(f"the buyer's VAT number {buyer.vat_number!r} is not valid")
    if not document.number.strip():
        problems.append("it has no number")
    if not document.lines:
        problems.append("it has no line")
    if document.due_on < document.issued_on:
        problems.append("its due date is before its date of issue")
    if document.kind == DocumentKind.CREDIT_NOTE and not document.corrects:
        problems.append("a credit note must name the invoice it corrects")
    if document.payment_method == PaymentMethod.SEPA_DEBIT:
        if document.mandate is None or document.debit_on is None or not document.creditor_id:
            problems.append("a direct debit needs the mandate, the debit date and the creditor id")
    elif not document.seller_iban:
        problems.append("a transfer needs the seller's IBAN")
    if problems:
        raise DocumentProblem(f"{document.number or '(no number)'}: {'; '.join(problems)}")


def language(document: IssuedDocument) -> str:
    return document.language if document.language in LANGUAGES else FALLBACK


def render_pdf(document: IssuedDocument) -> bytes:
    """The document as a PDF/A-3B (without its XML; core.billing.einvoice adds it)."""
    check(document)
    pdf = _document_class()(format="A4", enforce_compliance="PDFA_3B")
    for style, path in _fonts().items():
        pdf.add_font("dejavu", style, str(path))
    pdf.set_title(_safe(f"{document.seller.name} {document.number}"))
    pdf.set_author(_safe(document.seller.name))
    pdf.set_lang(language(document))
    issued = datetime.combine(document.issued_on, time(), tzinfo=UTC)
    pdf.set_creation_date(issued)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    text = render_text(document)
    pdf.identity = _identity(text, issued)
    _Layout(pdf).elements(text)
    return _dated(bytes(pdf.output()), issued)


def _dated(pdf: bytes, issued: datetime) -> bytes:
    """The XMP dates (fpdf2 takes the modification dates from the clock) made the day of issue.

    Each is ISO 8601 to the second in UTC, the same length as the stamp
    put in, so no cross-reference offset moves; the file's /ID, which fpdf2
    hashes from the bytes, is `_identity` instead.
    """
    import re

    stamp = issued.isoformat(timespec="seconds").encode()

    def same_day(found: re.Match[bytes]) -> bytes:
        value = found.group(2)
        return found.group(1) + (stamp if len(value) == len(stamp) else value) + b'"'

    return re.sub(rb'(xmp:(?:CreateDate|ModifyDate|MetadataDate)=")([^"]*)"', same_day, pdf)


def _identity(text: str, issued: datetime) -> str:
    """The file identifier: a digest of what the document says and its day of issue."""
    import hashlib

    digest = hashlib.md5(text.encode(), usedforsecurity=False)
    digest.update(issued.isoformat().encode())
    return digest.hexdigest().upper()


@functools.cache
def _document_class() -> type[Any]:
    from fpdf import FPDF

    class Document(FPDF):
        """fpdf2's document whose /ID is `identity`, not a hash of the dated bytes."""

        identity = ""

        def file_id(self) -> str:
            return f"<{self.identity}><{self.identity}>"

    return Document


def render_text(document: IssuedDocument) -> str:
    """The template filled in: the `kind|text` lines the layout writes."""
    words = language(document)
    locale = LOCALES[words]
    template = template_environment("billing").get_template(f"{words}/{TEMPLATE}")
    totals = document.totals
    text: str = template.render(
        doc=document,
        seller=_party(document.seller),
        buyer=_party(document.buyer),
        lines=[
            {
                "description": _safe(line.description),
                "note": _safe(line.note),
                "unit": _safe(line.unit),
                "quantity": _quantity(line.quantity, locale),
                "unit_price": money(line.unit_price_cents, document.currency, locale),
                "rate": rate(line.vat_rate, locale),
                "amount": money(line.amount_cents, document.currency, locale),
                "detail": _detail(document, line, locale),
            }
            for line in document.lines
        ],
        totals={
            "vat": [
                {
                    "rate": rate(item.rate, locale),
                    "base": money(item.base_cents, document.currency, locale),
                    "vat": money(item.vat_cents, document.currency, locale),
                }
                for item in totals.vat
            ],
            "net": money(totals.net_cents, document.currency, locale),
            "vat_total": money(totals.vat_cents, document.currency, locale),
            "gross": money(totals.gross_cents, document.currency, locale),
        },
        terms_days=(document.due_on - document.issued_on).days,
        day=lambda value: day(value, locale),
    )
    return text


def money(cents: int, currency: str, locale: str) -> str:
    from babel.numbers import format_currency

    return str(format_currency(Decimal(cents) / 100, currency, locale=locale))


def rate(value: Decimal, locale: str) -> str:
    from babel.numbers import format_percent

    return str(format_percent(value / 100, locale=locale, decimal_quantization=False))


def day(value: date, locale: str) -> str:
    from babel.dates import format_date

    return str(format_date(value, "long", locale=locale))


def _quantity(value: Decimal, locale: str) -> str:
    from babel.numbers import format_decimal

    return str(format_decimal(value, "#,##0.###", locale=locale))


def _detail(document: IssuedDocument, line: Line, locale: str) -> str:
    """Under a line: its own service dates when not the document's, and its note."""
    parts = [_safe(line.note)]
    if (line.service_start, line.service_end) != (document.service_start, document.service_end):
        parts.insert(0, f"{day(line.service_start, locale)} – {day(line.service_end, locale)}")
    return " – ".join(part for part in parts if part)


def _party(party: Party) -> dict[str, Any]:
    return {
        "name": _safe(party.name),
        "legal_form": _safe(party.legal_form),
        "address": [_safe(line) for line in party.address],
        "postcode": _safe(party.postcode),
        "city": _safe(party.city),
        "country": _safe(party.country),
        "siren": party.siren,
        "vat_number": party.vat_number,
    }


def _safe(text: str) -> str:
    """A value on one template line: no line break, no field separator."""
    return " ".join(text.replace("|", "/").split())


@functools.cache
def _fonts() -> dict[str, Path]:
    folder = importlib.resources.files(RESOURCES) / FONTS
    return {style: Path(str(folder / name)) for style, name in FONT_FILES.items()}


class _Layout:
    """The template's elements on A4: header blocks, the lines' table, totals, mentions."""

    # Column widths in millimetres (180 in all) and alignment of the lines' table.
    COLUMNS = ((70.0, "L"), (16.0, "R"), (16.0, "L"), (30.0, "R"), (16.0, "R"), (32.0, "R"))

    def __init__(self, pdf: Any) -> None:
        self.pdf = pdf

    def elements(self, text: str) -> None:
        for raw in text.splitlines():
            if not raw.strip():
                continue
            kind, _, rest = raw.partition("|")
            handler = getattr(self, f"_{kind}", None)
            if handler is None:
                raise DocumentProblem(f"data/billing template: unknown element {kind!r}")
            handler(rest)

    def _font(self, size: float, style: str = "") -> None:
        self.pdf.set_font("dejavu", style, size)

    def _title(self, text: str) -> None:
        self._font(16, "B")
        self.pdf.cell(0, 10, text, new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(2)

    def _seller(self, text: str) -> None:
        self._font(9)
        self.pdf.cell(0, 4.5, text, new_x="LMARGIN", new_y="NEXT")

    def _buyer(self, text: str) -> None:
        pdf = self.pdf
        if not getattr(self, "_in_buyer", False):
            self._in_buyer = True
            pdf.ln(3)
        self._font(10)
        pdf.set_x(pdf.l_margin + 95)
        pdf.cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")

    def _p(self, text: str) -> None:
        self._font(9)
        self.pdf.ln(1)
        self.pdf.multi_cell(0, 4.5, text, new_x="LMARGIN", new_y="NEXT")

    def _head(self, text: str) -> None:
        self.pdf.ln(3)
        self._row(text.split("|"), "B", fill=True)

    def _row(self, cells: list[str] | str, style: str = "", fill: bool = False) -> None:
        pdf = self.pdf
        values = cells.split("|") if isinstance(cells, str) else cells
        self._font(8.5, style)
        if fill:
            pdf.set_fill_color(230, 230, 230)
        description = values[0]
        if pdf.get_string_width(description) > self.COLUMNS[0][0] - 2:
            pdf.multi_cell(self.COLUMNS[0][0], 5, description, new_x="LMARGIN", new_y="NEXT")
            description = ""
        for value, (width, align) in zip([description, *values[1:]], self.COLUMNS, strict=True):
            pdf.cell(width, 6, value, align=align, fill=fill)
        pdf.ln(6)

    def _note(self, text: str) -> None:
        self._font(7.5)
        self.pdf.set_x(self.pdf.l_margin + 3)
        self.pdf.multi_cell(self.COLUMNS[0][0] + 60, 4, text, new_x="LMARGIN", new_y="NEXT")

    def _total(self, text: str) -> None:
        self._font(9)
        self.pdf.cell(0, 5, text, align="R", new_x="LMARGIN", new_y="NEXT")

    def _strong(self, text: str) -> None:
        self._font(11, "B")
        self.pdf.cell(0, 7, text, align="R", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(2)
