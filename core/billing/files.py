"""Issued documents written to a folder: `<number>.pdf`, each a Factur-X file.

Every document is checked before any file is written, so a batch with one
bad document writes nothing. A file is written to a temporary name in the
same folder, then renamed over its final name: a crash leaves no half file.
An issued document never changes: when `<number>.pdf` exists with other
bytes, the document is refused, never overwritten (the same bytes are left
as they are).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.base.paths import write_atomically
from core.billing.einvoice import factur_x_pdf
from core.billing.model import IssuedDocument
from core.billing.pdf import DocumentProblem, check

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Written:
    """What `write_documents` did: the files written and those already there, the same."""

    written: tuple[Path, ...]
    unchanged: tuple[Path, ...]


def file_name(document: IssuedDocument) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in document.number)
    return f"{safe}.pdf"


def write_documents(
    documents: Iterable[IssuedDocument],
    folder: Path,
    progress: Progress | None = None,
) -> Written:
    """Write each document's Factur-X PDF in `folder`; `progress(done, total)` after each."""
    batch = list(documents)
    numbers = [document.number for document in batch]
    repeated = sorted({number for number in numbers if numbers.count(number) > 1})
    if repeated:
        raise DocumentProblem(f"the same number twice in one batch: {', '.join(repeated)}")
    for document in batch:
        check(document)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    unchanged: list[Path] = []
    for done, document in enumerate(batch, start=1):
        content = factur_x_pdf(document)
        path = folder / file_name(document)
        if path.exists():
            if path.read_bytes() != content:
                raise DocumentProblem(
                    f"{document.number}: {path.name} exists with other content; "
                    "an issued document is never rewritten"
                )
            unchanged.append(path)
        else:
            write_atomically(path, content)
            written.append(path)
        if progress is not None:
            progress(done, len(batch))
    return Written(tuple(written), tuple(unchanged))
