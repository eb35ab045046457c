"""A client report written out: text, HTML or PDF, from the templates of data/reports/.

One renderer, three formats, templates per language in
data/reports/<language>/ (docs/reports.md says how an agency edits them):

- `report.txt.j2`: plain text, for a chat message or a tracker comment;
- `report.html.j2`: a whole HTML document for an email; it includes
  `_body.html.j2`, the report's sections;
- PDF: `_body.html.j2` alone, laid out by fpdf2's HTML support (headings,
  paragraphs, lists, bold and italics) in its core Helvetica font.

A client whose language has no folder gets the English templates. The
core fonts write Windows-1252: every French letter, the euro sign and
typographic quotes and dashes; any other character (an emoji, Cyrillic) is
written "?" in the PDF only.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from core.base.templates import template_environment
from core.reports.content import ClientReport

Format = Literal["text", "html", "pdf"]
FORMATS: tuple[Format, ...] = ("text", "html", "pdf")
LANGUAGES = ("en", "fr")
FALLBACK = "en"
# The PDF's core font writes this code page; fpdf2 refuses anything outside it.
PDF_ENCODING = "windows-1252"
SUFFIXES: dict[Format, str] = {"text": ".txt", "html": ".html", "pdf": ".pdf"}


def render(
    report: ClientReport, form: Format, *, intro: str | None = None, agency: str = ""
) -> str | bytes:
    """The report in `form`: str for text and HTML, bytes for PDF."""
    if form == "text":
        return render_text(report, intro=intro, agency=agency)
    if form == "html":
        return render_html(report, intro=intro, agency=agency)
    if form == "pdf":
        return render_pdf(report, intro=intro, agency=agency)
    raise ValueError(f"unknown format {form!r} (one of {', '.join(FORMATS)})")


def render_text(report: ClientReport, *, intro: str | None = None, agency: str = "") -> str:
    return _render(report, "report.txt.j2", intro, agency)


def render_html(report: ClientReport, *, intro: str | None = None, agency: str = "") -> str:
    return _render(report, "report.html.j2", intro, agency)


def render_pdf(report: ClientReport, *, intro: str | None = None, agency: str = "") -> bytes:
    from fpdf import FPDF

    body = _render(report, "_body.html.j2", intro, agency)
    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = PDF_ENCODING
    pdf.set_title(_title(report, agency))
    pdf.set_creation_date(_creation_date(report))
    pdf.set_font("helvetica", size=11)
    pdf.add_page()
    pdf.write_html(_encodable(body), ul_bullet_char="\u2022")
    return bytes(pdf.output())


def language(report: ClientReport) -> str:
    """The templates' language: the client's, or English when none is shipped for it."""
    return report.language if report.language in LANGUAGES else FALLBACK


def _render(report: ClientReport, name: str, intro: str | None, agency: str) -> str:
    words = language(report)
    template = template_environment("reports").get_template(f"{words}/{name}")
    text: str = template.render(
        report=report,
        agency=agency,
        intro=[part.strip() for part in (intro or "").split("\n\n") if part.strip()],
        day=lambda value: _day(value, words),
        period=_period(report, words),
        percent=lambda share: _percent(share, words),
        duration=_duration,
    )
    return text


def _title(report: ClientReport, agency: str) -> str:
    return _encodable(f"{agency} - {report.client}" if agency else report.client)


def _creation_date(report: ClientReport) -> Any:
    # A fixed date (the period's last day) keeps the file the same for the same report.
    from datetime import UTC, datetime, time

    return datetime.combine(report.period.last, time(), tzinfo=UTC)


def _encodable(text: str) -> str:
    return text.encode(PDF_ENCODING, "replace").decode(PDF_ENCODING)


def _day(value: date, words: str) -> str:
    from babel.dates import format_date

    return str(format_date(value, "EEE d MMM", locale=words))


def _period(report: ClientReport, words: str) -> str:
    from babel.dates import format_date

    first, last = report.period
    week = report.period.iso_week
    span = f"{format_date(first, 'long', locale=words)} – {format_date(last, 'long', locale=words)}"
    if week is None:
        return span
    number = week.split("W")[1].lstrip("0")
    label = f"semaine {number}" if words == "fr" else f"week {number}"
    return f"{label}, {span}"


def _percent(share: float | None, words: str) -> str:
    if share is None:
        return "-"
    return f"{share * 100:.0f} %" if words == "fr" else f"{share * 100:.0f}%"


def _duration(seconds: float | None) -> str:
    """A response time the way a client reads it: 45 s, 4 min, 1 h 05."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d}"
