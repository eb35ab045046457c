"""The invoice PDF: every mention a French B2B invoice carries, read back with pypdf."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import pytest

from core.billing.files import write_documents
from core.billing.model import Party
from core.billing.pdf import DocumentProblem, render_pdf
from tests.core.billing.samples import BUYER, SELLER, credit_note, direct_debit, invoice


def text_of(content: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    # babel separates thousands and the euro sign with narrow no-break spaces.
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


def test_a_french_invoice_carries_every_mention() -> None:
    text = text_of(render_pdf(invoice()))

    for mention in (
        "Facture n° F-2026-0042",
        "Atelier Durand (SAS au capital de 10 000 €)",
        "12 rue des Lilas",
        "69003 Lyon",
        "SIREN : 732829320",
        "N° TVA : FR44732829320",
        "Client : Boulangerie Martin",
        "3 place du Marché",
        "SIREN : 542065479",
        "N° TVA : FR82542065479",
        "Date d’émission : 1 décembre 2026",
        "du 1 novembre 2026 au 30 novembre 2026",
        "Maintenance du site",
        "prorata 16/30 jours",
        "450,00 €",
        "Base HT à 20 % : 466,00 €",
        "TVA : 93,20 €",
        "Base HT à 5,5 % : 200,00 €",
        "TVA : 11,00 €",
        "Total HT : 666,00 €",
        "Total TVA : 104,20 €",
        "Total TTC : 770,20 €",
        "Date d’échéance : 31 décembre 2026",
        "pénalités",
        "indemnité forfaitaire pour frais de recouvrement de 40 €",
        "RF18F2026004200",
        "IBAN : FR7630006000011234567890189",
        "BIC : AGRIFRPP",
    ):
        assert mention in text, mention


def test_an_english_invoice_in_the_clients_language() -> None:
    text = text_of(render_pdf(invoice(language="en")))

    for mention in (
        "Invoice no. F-2026-0042",
        "Date of issue: 1 December 2026",
        "Total excl. VAT: €666.00",
        "Total incl. VAT: €770.20",
        "Due date: 31 December 2026",
        "fixed recovery indemnity of €40",
        "indemnité forfaitaire pour frais de recouvrement de 40 €",
        "payment reference to quote: RF18F2026004200",
    ):
        assert mention in text, mention


def test_a_direct_debit_invoice_gives_the_pre_notification() -> None:
    text = text_of(render_pdf(direct_debit()))

    assert "prélèvement SEPA le 10 décembre 2026" in text
    assert "référence du mandat : MDT-0007" in text
    assert "identifiant créancier SEPA : FR72ZZZ123456" in text
    assert "IBAN : FR76" not in text


def test_a_credit_note_names_the_invoice_it_corrects() -> None:
    text = text_of(render_pdf(credit_note()))

    assert "Avoir n° AV-2026-0003" in text
    assert "Cet avoir corrige la facture n° F-2026-0042" in text
    assert "Total HT : -16,00 €" in text


def test_the_font_is_embedded() -> None:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(render_pdf(invoice())))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    for font in fonts.values():
        descendant = font.get_object()["/DescendantFonts"][0].get_object()
        assert "/FontFile2" in descendant["/FontDescriptor"]


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (invoice(seller=Party(name="")), "the seller has no name"),
        (
            invoice(seller=Party(**{**SELLER.__dict__, "vat_number": "FR00732829320"})),
            "the seller's VAT number 'FR00732829320' is not valid",
        ),
        (
            invoice(buyer=Party(**{**BUYER.__dict__, "siren": "123456789"})),
            "the buyer's SIREN '123456789' is not valid",
        ),
        (invoice(lines=()), "it has no line"),
        (invoice(seller_iban=""), "a transfer needs the seller's IBAN"),
        (credit_note(corrects=None), "must name the invoice it corrects"),
    ],
)
def test_a_bad_document_is_refused_before_any_file_is_written(
    tmp_path: Path, document: object, reason: str
) -> None:
    folder = tmp_path / "invoices"
    with pytest.raises(DocumentProblem, match=reason.replace("(", r"\(")):
        write_documents([invoice(number="F-2026-0041"), document], folder)  # type: ignore[list-item]

    assert not folder.exists() or list(folder.iterdir()) == []


def test_the_same_document_gives_the_same_bytes() -> None:
    assert render_pdf(invoice()) == render_pdf(invoice())


def test_the_metadata_dates_are_the_day_of_issue_not_the_moment_of_rendering() -> None:
    # fpdf2 stamps its XMP modification date with the clock: two renderings a
    # second apart differed in those dates and in the /ID computed from them.
    document = invoice()
    pdf = render_pdf(document)

    stamp = f"{document.issued_on.isoformat()}T00:00:00+00:00".encode()
    dates = dict(re.findall(rb'xmp:(\w+Date)="([^"]*)"', pdf))
    assert dates == {b"CreateDate": stamp, b"ModifyDate": stamp, b"MetadataDate": stamp}


def test_renderings_at_different_moments_give_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fpdf.output

    def rendered_at(moment: datetime) -> bytes:
        class Clock(datetime):
            @classmethod
            def now(cls, tz: tzinfo | None = None) -> Clock:
                return cls.fromtimestamp(moment.timestamp(), tz)

        monkeypatch.setattr(fpdf.output, "datetime", Clock)
        return render_pdf(invoice())

    assert rendered_at(datetime(2026, 12, 4, 14, 54, 21, tzinfo=UTC)) == rendered_at(
        datetime(2027, 3, 1, 9, 0, 0, tzinfo=UTC)
    )
