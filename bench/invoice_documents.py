"""Benchmark: 500 invoices written as Factur-X PDFs (core.billing.files.write_documents).

500 issued documents (half French, half English; one in three paid by
direct debit, one in ten a credit note; three to six lines each, two VAT
rates) are written, `--runs` times, into a new folder each run with the
progress line shown; side by side in the same run, the peers:

- the plain PDFs of the same pages (core.billing.pdf.render_pdf, fpdf2
  alone, no XML, no Factur-X embedding);
- the CII XML alone, built and checked against the XSD (core.billing.einvoice.cii_xml).

The target: 500 invoices under 60 s.

    .venv/bin/python bench/invoice_documents.py [--runs 3] [--count 500]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import machine

from core.billing.einvoice import cii_xml
from core.billing.files import write_documents
from core.billing.model import IssuedDocument, Party
from core.billing.pdf import render_pdf
from tests.core.billing.samples import BUYER, credit_note, direct_debit, invoice

TARGET_S = 60.0


def documents(count: int) -> list[IssuedDocument]:
    made = []
    for number in range(1, count + 1):
        if number % 10 == 0:
            base = credit_note(number=f"AV-2026-{number:04d}")
        elif number % 3 == 0:
            base = direct_debit(number=f"F-2026-{number:04d}")
        else:
            base = invoice(number=f"F-2026-{number:04d}")
        template = invoice().lines
        lines = tuple(
            dataclasses.replace(
                template[index % len(template)],
                description=f"{template[index % len(template)].description} {index + 1}",
                quantity=template[index % len(template)].quantity
                * (1 if base.lines[0].quantity > 0 else -1),
                unit_price_cents=1000 + 37 * number + index,
            )
            for index in range(3 + number % 4)
        )
        made.append(
            dataclasses.replace(
                base,
                language="fr" if number % 2 else "en",
                issued_on=base.issued_on + timedelta(days=number % 20),
                due_on=base.due_on + timedelta(days=number % 20),
                buyer=Party(**{**BUYER.__dict__, "name": f"Client {number:04d}"}),
                lines=lines,
            )
        )
    return made


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=500)
    arguments = parser.parse_args()
    batch = documents(arguments.count)
    print(f"machine: {machine()}")
    print(f"{len(batch)} documents, {sum(len(d.lines) for d in batch)} lines")
    render_pdf(batch[0])  # the font loaded once, as a long-lived process has it
    results: dict[str, list[float]] = {"factur-x": [], "plain pdf": [], "xml": []}
    for run in range(1, arguments.runs + 1):
        with tempfile.TemporaryDirectory() as folder:

            def progress(done: int, total: int, run: int = run) -> None:
                print(f"\r  run {run}: {done}/{total} written", end="", flush=True)

            seconds = timed(lambda: write_documents(batch, Path(folder), progress))
            size = sum(path.stat().st_size for path in Path(folder).iterdir())
            print(f"  {seconds:.2f} s, {size / len(batch) / 1024:.1f} KiB a file")
        results["factur-x"].append(seconds)
        results["plain pdf"].append(timed(lambda: [render_pdf(d) for d in batch]))
        results["xml"].append(timed(lambda: [cii_xml(d) for d in batch]))
        print(
            f"  run {run}: plain pdf {results['plain pdf'][-1]:.2f} s, "
            f"xml {results['xml'][-1]:.2f} s"
        )
    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"\n{'':10} {'runs (s)':>28} {'median':>8} {'per doc':>9}")
    for name, values in results.items():
        runs = " ".join(f"{value:.2f}" for value in values)
        print(
            f"{name:10} {runs:>28} {medians[name]:8.2f} {medians[name] / len(batch) * 1000:7.1f} ms"
        )
    print(f"ratio factur-x / plain pdf: {medians['factur-x'] / medians['plain pdf']:.2f}")
    verdict = "met" if medians["factur-x"] < TARGET_S else "NOT met"
    median = medians["factur-x"]
    print(f"target {len(batch)} under {TARGET_S:.0f} s: {verdict} (median {median:.2f} s)")


if __name__ == "__main__":
    main()
