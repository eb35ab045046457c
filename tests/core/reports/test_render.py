"""The report written out: the text exactly, the HTML parsed, the PDF read back."""

from __future__ import annotations

import io

import lxml.html
import pytest
from pypdf import PdfReader

from core.reports.content import NEXT_ITEMS, ClientReport, OpenTask
from core.reports.period import ReportPeriod
from core.reports.render import render, render_html, render_pdf, render_text
from core.store.reader import Reader
from tests.core.reports.conftest import report_of

ACME_TEXT = """\
Point d'avancement — Acme
semaine 48, 23 novembre 2026 – 29 novembre 2026

Bonjour,

Voici le point de la semaine.

Réalisé (1)
- Website : Homepage — Sam Staff, mar. 24 nov.

En cours (2)
- Website : Contact form — Ana Dev, échéance mer. 2 déc.
- Website : Logo files — à attribuer

À venir (1)
- Website : Legal page, échéance jeu. 10 déc.

En attente de votre réponse (1)
- Logo files — question de Sam Staff, lun. 23 nov.

Nos délais de réponse
- 50 % de vos messages ont eu une réponse dans le délai convenu (1 sur 2)
- Temps de réponse médian : 20 min

Pixel & Co
"""

BIGCO_TEXT = """\
Progress report — Bigco
week 48, November 23, 2026 – November 29, 2026

Done (1)
- App: Login screen — Ana Dev, Thu 26 Nov

In progress (1)
- App: Dark mode — to be assigned

Coming next (0)
- Nothing planned.

Awaiting your answer (0)
- Nothing: we have every answer we need.

How fast we answered
- None of your messages awaited an answer in the period.
"""

INTRO = "Bonjour,\n\nVoici le point de la semaine.\n"


def test_the_text_of_each_client(week: Reader) -> None:
    acme = report_of(week, "Acme")
    assert render_text(acme, intro=INTRO, agency="Pixel & Co") == ACME_TEXT
    assert render_text(report_of(week, "Bigco")) == BIGCO_TEXT
    assert render_text(report_of(week, "Crumb")) == (
        "Crumb — semaine 48, 23 novembre 2026 – 29 novembre 2026 : "
        "rien à signaler (aucune activité sur la période).\n"
    )


def test_the_html_is_well_formed_with_its_sections(week: Reader) -> None:
    page = render_html(report_of(week, "Acme"), intro="A & B <b>", agency="Pixel & Co")
    tree = lxml.html.document_fromstring(page)
    assert tree.get("lang") == "fr"
    assert tree.findtext(".//title") == "Point d'avancement — Acme"
    sections = {
        section.get("id"): [" ".join(item.text_content().split()) for item in section.iter("li")]
        for section in tree.iter("section")
    }
    assert list(sections) == ["done", "in-progress", "next", "awaiting-client", "responsiveness"]
    assert sections["done"] == ["Website : Homepage — Sam Staff, mar. 24 nov."]
    assert sections["awaiting-client"] == ["Logo files — question de Sam Staff, lun. 23 nov."]
    assert sections["responsiveness"][1] == "Temps de réponse médian : 20 min"
    # The introduction is text, escaped: no element comes out of it.
    (intro,) = tree.find_class("intro")
    assert intro.text_content() == "A & B <b>" and len(intro) == 0
    nothing = lxml.html.document_fromstring(render_html(report_of(week, "Crumb")))
    assert (
        nothing.get_element_by_id("nothing")
        .text_content()
        .endswith("rien à signaler (aucune activité sur la période).")
    )
    assert list(nothing.iter("section")) == []


def pdf_text(data: bytes) -> tuple[int, str]:
    document = PdfReader(io.BytesIO(data))
    return len(document.pages), "\n".join(page.extract_text() for page in document.pages)


def test_the_pdf_parses_with_its_accents(week: Reader) -> None:
    data = render_pdf(report_of(week, "Acme"), intro=INTRO, agency="Pixel & Co")
    assert data.startswith(b"%PDF-")
    pages, text = pdf_text(data)
    assert pages == 1
    for line in (
        "Point d'avancement — Acme",
        "Réalisé (1)",
        "Website : Homepage — Sam Staff, mar. 24 nov.",
        "À venir (1)",
        "Website : Contact form — Ana Dev, échéance mer. 2 déc.",
        "En attente de votre réponse (1)",
        "Temps de réponse médian : 20 min",
        "Pixel & Co",
    ):
        assert line in text
    # The same report gives the same file.
    assert render_pdf(report_of(week, "Acme"), intro=INTRO, agency="Pixel & Co") == data
    english = pdf_text(render_pdf(report_of(week, "Bigco")))[1]
    assert "Login screen — Ana Dev, Thu 26 Nov" in english


def test_a_long_report_runs_onto_more_pages_and_odd_letters_become_question_marks(
    week: Reader,
) -> None:
    report = report_of(week, "Acme")
    many = [OpenTask("Site ✨", f"Tâche n°{n} Ω", None, ["Zoé"], None) for n in range(80)]
    report.in_progress = many
    data = render_pdf(report)
    pages, text = pdf_text(data)
    assert pages >= 2
    # A bullet stays on the page of its line.
    for page in PdfReader(io.BytesIO(data)).pages:
        assert all(
            line.startswith("• ") for line in page.extract_text().splitlines() if "Tâche" in line
        )
    assert "Site ? : Tâche n°79 ? — Zoé" in text
    # Text and HTML keep every letter.
    assert "Site ✨ : Tâche n°79 Ω — Zoé" in render_text(report)


def test_next_lists_ten_and_counts_the_rest(week: Reader) -> None:
    report = report_of(week, "Bigco")
    report.next = [OpenTask(None, f"Task {n}", None, [], None) for n in range(NEXT_ITEMS)]
    report.more_next = 5
    text = render_text(report)
    assert "Coming next (15)" in text and "- … and 5 more" in text


def test_a_language_without_templates_is_written_in_english(week: Reader) -> None:
    report = report_of(week, "Acme")
    german = ClientReport(**{**report.__dict__, "language": "de"})
    assert render_text(german).startswith("Progress report — Acme")


def test_formats(week: Reader) -> None:
    report = report_of(week, "Bigco")
    assert isinstance(render(report, "text"), str)
    assert isinstance(render(report, "pdf"), bytes)
    with pytest.raises(ValueError, match="unknown format 'docx'"):
        render(report, "docx")  # type: ignore[arg-type]
    assert report.period == ReportPeriod.week("2026-W48")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{{ report.nope }}",
            "data/reports/fr/report.txt.j2: 'core.reports.content.ClientReport object' has no",
        ),
        ("{% if %}", "data/reports/fr/report.txt.j2 line 1: Expected an expression"),
    ],
)
def test_a_broken_template_is_named(
    week: Reader, monkeypatch: pytest.MonkeyPatch, source: str, message: str
) -> None:
    import jinja2

    from core.reports import render as module

    broken = jinja2.Environment(
        loader=jinja2.DictLoader({"fr/report.txt.j2": source}), undefined=jinja2.StrictUndefined
    )
    monkeypatch.setattr(module, "template_environment", lambda folder: broken)
    with pytest.raises(module.TemplateProblem) as refused:
        render_text(report_of(week, "Acme"))
    assert str(refused.value).startswith(message)
