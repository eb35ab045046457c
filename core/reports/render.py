"""A client report written out: text, HTML or PDF, from the templates of data/reports/.

One renderer, three formats, templates per language in
data/reports/<language>/ (docs/reports.md says how an agency edits them):

- `report.txt.j2`: plain text, for a chat message or a tracker comment;
- `report.html.j2`: a whole HTML document for an email; it includes
  `_body.html.j2`, the report's sections;
- PDF: `_body.html.j2` alone, laid out with fpdf2 in its core Helvetica
  font: headings (h1, h2), paragraphs, list items, bold and italics.

A client whose language has no folder gets the English templates. The
core fonts write Windows-1252: every French letter, the euro sign and
typographic quotes and dashes; any other character (an emoji, Cyrillic) is
written "?" in the PDF only.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

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
    """`_body.html.j2` laid out on A4 pages (see _PdfLayout)."""
    import lxml.html
    from fpdf import FPDF

    body = _render(report, "_body.html.j2", intro, agency)
    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = PDF_ENCODING
    pdf.set_title(_title(report, agency))
    pdf.set_creation_date(_creation_date(report))
    pdf.add_page()
    _PdfLayout(pdf).blocks(lxml.html.fragment_fromstring(body, create_parent="div"))
    return bytes(pdf.output())


class _PdfLayout:
    """The body's headings, paragraphs and list items, one after the other, in Helvetica.

    fpdf2's own HTML layout breaks every line character by character: ten
    times slower than writing a line that fits as it is, which is what
    nearly every line of a report is. A line too long for the page is
    broken by fpdf2 (in the paragraph's plain style).
    """

    # Tag: (font size, line height, space before), in points and millimetres.
    STYLES: ClassVar[dict[str, tuple[int, float, float]]] = {
        "h1": (16, 9.0, 0.0),
        "h2": (13, 7.5, 4.0),
        "p": (11, 6.0, 1.5),
        "li": (11, 6.0, 0.0),
    }
    BULLET_INDENT = 6.0

    def __init__(self, pdf: Any) -> None:
        self.pdf = pdf

    def blocks(self, parent: Any) -> None:
        for element in parent:
            tag = element.tag
            if tag in self.STYLES:
                self.block(element, tag)
            elif isinstance(tag, str):  # section, ul, div: their blocks in order
                self.blocks(element)

    def block(self, element: Any, tag: str) -> None:
        size, height, before = self.STYLES[tag]
        pdf = self.pdf
        runs = _runs(element, bold=tag in ("h1", "h2"), italic=False)
        if not runs:
            return
        pdf.set_y(pdf.get_y() + before)
        left = pdf.l_margin + (self.BULLET_INDENT if tag == "li" else 0.0)
        if tag == "li":
            pdf.set_font("helvetica", "", size)
            pdf.set_x(pdf.l_margin + 1.5)
            pdf.cell(self.BULLET_INDENT - 1.5, height, "\u2022")
        pdf.set_x(left)
        width = pdf.w - pdf.r_margin - left
        widths = []
        for text, style in runs:
            pdf.set_font("helvetica", style, size)
            widths.append(pdf.get_string_width(text))
        if sum(widths) <= width:
            for (text, style), run_width in zip(runs, widths, strict=True):
                pdf.set_font("helvetica", style, size)
                pdf.cell(run_width, height, text)
            pdf.ln(height)
        else:
            pdf.set_font("helvetica", runs[0][1] if len(runs) == 1 else "", size)
            text = "".join(text for text, _ in runs)
            pdf.multi_cell(width, height, text, new_x="LMARGIN", new_y="NEXT")


def _runs(element: Any, *, bold: bool, italic: bool) -> list[tuple[str, str]]:
    """The element's text as (text, style) runs, white space collapsed as HTML does."""
    found: list[tuple[str, str]] = []

    def walk(node: Any, bold: bool, italic: bool) -> None:
        style = ("B" if bold else "") + ("I" if italic else "")
        if node.text:
            found.append((node.text, style))
        for child in node:
            walk(child, bold or child.tag in ("b", "strong"), italic or child.tag in ("i", "em"))
            if child.tail:
                found.append((child.tail, style))

    walk(element, bold, italic)
    runs = [(_encodable(_spaced(text)), style) for text, style in found]
    if runs:
        runs[0] = (runs[0][0].lstrip(), runs[0][1])
        runs[-1] = (runs[-1][0].rstrip(), runs[-1][1])
    return [(text, style) for text, style in runs if text]


def _spaced(text: str) -> str:
    """Runs of white space as one space, kept at either end (it separates two runs)."""
    inner = " ".join(text.split())
    if not inner:
        return " "
    return (" " if text[:1].isspace() else "") + inner + (" " if text[-1:].isspace() else "")


def language(report: ClientReport) -> str:
    """The templates' language: the client's, or English when none is shipped for it."""
    return report.language if report.language in LANGUAGES else FALLBACK


class TemplateProblem(ValueError):
    """A template of data/reports/ that cannot be read or written out; the message names it."""


def _render(report: ClientReport, name: str, intro: str | None, agency: str) -> str:
    import jinja2

    words = language(report)
    path = f"{words}/{name}"
    try:
        return _fill(
            template_environment("reports").get_template(path), report, words, intro, agency
        )
    except jinja2.TemplateError as error:
        where = f" line {error.lineno}" if isinstance(error, jinja2.TemplateSyntaxError) else ""
        raise TemplateProblem(f"data/reports/{path}{where}: {error.message}") from None


def _fill(template: Any, report: ClientReport, words: str, intro: str | None, agency: str) -> str:
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
