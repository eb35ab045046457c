"""Importing a statement file: detect its format, parse it, store its new lines.

A file is imported in one database transaction: a malformed entry
anywhere refuses the whole file and nothing of it is stored. Lines already
known (same dedupe key, see records.dedupe_keys, or a row stored by an
earlier version under its earlier key with the same amount and day, see
records.EarlierKeys) are counted and skipped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, select

from core.config.banks import BanksConfig
from core.receivables.statements.records import (
    KEY_PREFIX,
    EarlierKeys,
    StatementError,
    StatementLine,
    checked_iban,
    clean,
    dedupe_keys,
)
from core.store.db import chunks, insert_with_ids, write
from core.store.models.receivables import BankTransaction
from core.store.models.system import table

Format = Literal["camt053", "camt054", "mt940", "ofx", "csv"]
FORMATS: tuple[str, ...] = ("camt053", "camt054", "mt940", "ofx", "csv")
BATCH = 2000
# Called with the bytes read so far, for a progress bar.
Progress = Callable[[int], None]


@dataclass
class ImportResult:
    file: str
    format: str
    new: int = 0
    known: int = 0
    # The ids of the lines this import added, in file order.
    new_ids: list[int] = field(default_factory=list)
    # What the file held that is not a line, in a sentence each ("2 entries
    # pending (Sts PDNG), not booked: left out", "balances only: no transactions").
    notes: list[str] = field(default_factory=list)


# MT940 is known by its fields, wherever the bank's header lines end:
# a statement reference or an account, then a balance or a transaction.
_MT940_FIELDS = re.compile(
    rb"(?m)^(?:\{4:)?:(?:20|25):.*[\r\n]+(?:.*[\r\n]+)*?:(?:28C?|60[FM]|61):"
)


def detect_format(path: Path) -> Format:
    """The format of a statement file, from its first bytes."""
    with path.open("rb") as handle:
        head = handle.read(8192).lstrip(b"\xef\xbb\xbf \t\r\n\x00\x01")
    if head.startswith(b"<") and b"<OFX" not in head.upper():
        if b"camt.054" in head:
            return "camt054"
        if b"camt.053" in head:
            return "camt053"
        raise StatementError(f"{path.name}: XML, but not a camt.053 or camt.054 document")
    if head.upper().startswith(b"OFXHEADER") or b"<OFX" in head.upper():
        return "ofx"
    if head.startswith((b"{1:", b":20:", b":940:")) or _MT940_FIELDS.search(head):
        return "mt940"
    return "csv"


def parse_statement(
    path: Path,
    banks: BanksConfig,
    *,
    fmt: str | None = None,
    profile: str | None = None,
    progress: Progress | None = None,
    notes: list[str] | None = None,
) -> tuple[Format, Iterator[StatementLine]]:
    """The file's format and its lines, in file order (parsed as they are consumed).

    What the file holds besides lines (entries left out, a statement with
    balances only) is said in `notes` once the lines are consumed.
    """
    found: Format = _known_format(fmt) if fmt else detect_format(path)
    said = [] if notes is None else notes
    if found in ("camt053", "camt054"):
        return found, _camt(path, progress, said)
    if found == "mt940":
        from core.receivables.statements.mt940file import read_mt940

        return found, read_mt940(path, _text(path))
    if found == "ofx":
        from core.receivables.statements.ofxfile import read_ofx

        return found, read_ofx(path, _text(path), said)
    from core.receivables.statements.csvfile import read_csv

    name, chosen = _profile(path, banks, profile)
    return found, read_csv(path, chosen, name)


def _known_format(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise StatementError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    return fmt  # type: ignore[return-value]


def _camt(path: Path, progress: Progress | None, notes: list[str]) -> Iterator[StatementLine]:
    from core.receivables.statements.camt import read_camt

    with path.open("rb") as handle:
        for number, line in enumerate(read_camt(path, handle, notes), start=1):
            if progress is not None and number % 1000 == 0:
                progress(handle.tell())
            yield line


def _text(path: Path) -> str:
    raw = path.read_bytes()
    # Windows-1252 before Latin-1: banks' "ANSI" files hold € and curly quotes.
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise StatementError(f"{path.name}: not text")  # latin-1 decodes anything: unreachable


def _profile(path: Path, banks: BanksConfig, name: str | None) -> tuple[str, Any]:
    profiles = banks.csv_profiles
    if name is None:
        if len(profiles) == 1:
            name = next(iter(profiles))
        else:
            known = ", ".join(profiles) or "none configured"
            raise StatementError(
                f"{path.name}: a CSV statement needs --profile (profiles: {known})"
            )
    if name not in profiles:
        known = ", ".join(profiles) or "none configured"
        raise StatementError(f"unknown CSV profile {name!r} (profiles: {known})")
    return name, profiles[name]


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_statement(
    engine: Engine,
    path: Path,
    banks: BanksConfig,
    now: datetime,
    *,
    fmt: str | None = None,
    profile: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Store the file's new lines, all or nothing."""
    if not path.is_file():
        raise StatementError(f"{path}: no such file")
    notes: list[str] = []
    found, lines = parse_statement(
        path, banks, fmt=fmt, profile=profile, progress=progress, notes=notes
    )
    result = ImportResult(file=path.name, format=found, notes=notes)
    digest = file_hash(path)
    with write(engine) as connection, _page_cache(connection):
        earlier = _Earlier(connection)
        batch: list[tuple[StatementLine, str]] = []
        seen: set[str] = set()
        for item in dedupe_keys(lines):
            batch.append(item)
            if len(batch) >= BATCH:
                _store(connection, batch, seen, earlier, result, digest, path.name, now)
                batch = []
        _store(connection, batch, seen, earlier, result, digest, path.name, now)
    return result


class _Earlier:
    """Rows stored by an earlier version, under its keys: each stands for one line at most."""

    def __init__(self, connection: Connection) -> None:
        transactions = table(BankTransaction)
        query = select(transactions.c.id).where(transactions.c.dedupe_key < KEY_PREFIX).limit(1)
        # Looked up only when the database holds such rows at all (one index probe).
        self.present = connection.execute(query).first() is not None
        self.keys = EarlierKeys()
        self.claimed: set[str] = set()

    def known(
        self, connection: Connection, batch: list[tuple[StatementLine, str]], known: set[str]
    ) -> set[int]:
        """The places in `batch` of lines an earlier version stored already.

        Every line is given its earlier key (its rank counts them all); only
        those whose key is not `known` may stand for an earlier row.
        """
        if not self.present:
            return set()
        transactions = table(BankTransaction)
        wanted = [(index, line, self.keys.key(line)) for index, (line, _key) in enumerate(batch)]
        stored: dict[str, tuple[int, object]] = {}
        for part in chunks([key for _index, _line, key in wanted]):
            query = select(
                transactions.c.dedupe_key, transactions.c.amount_cents, transactions.c.booking_date
            ).where(transactions.c.dedupe_key.in_(part))
            for key, cents, booked in connection.execute(query):
                stored[key] = (cents, booked)
        found: set[int] = set()
        for index, line, key in wanted:
            if (
                batch[index][1] not in known
                and key not in self.claimed
                and stored.get(key) == (line.amount_cents, line.booking_date)
            ):
                self.claimed.add(key)
                found.add(index)
        return found


# SQLite's page cache during an import, in KiB. A statement's dedupe keys
# are hashes, so its rows land all over the unique index: with SQLite's
# 2 MB default, a 100,000-entry statement spends most of its time re-reading
# index pages; this much holds them, and is given back afterwards.
IMPORT_CACHE_KIB = 32 * 1024


@contextmanager
def _page_cache(connection: Connection) -> Iterator[None]:
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")


def _store(
    connection: Connection,
    batch: list[tuple[StatementLine, str]],
    seen: set[str],
    earlier: _Earlier,
    result: ImportResult,
    digest: str,
    name: str,
    now: datetime,
) -> None:
    if not batch:
        return
    transactions = table(BankTransaction)
    keys = [key for _line, key in batch]
    known = set(seen)
    for part in chunks(keys):
        query = select(transactions.c.dedupe_key).where(transactions.c.dedupe_key.in_(part))
        known.update(connection.execute(query).scalars())
    rows = []
    stored_earlier = earlier.known(connection, batch, known)
    for index, (line, key) in enumerate(batch):
        if key in known or index in stored_earlier:
            result.known += 1
            continue
        known.add(key)
        seen.add(key)
        rows.append(_row(line, key, digest, name, now))
    result.new_ids.extend(insert_with_ids(connection, transactions, rows))
    result.new += len(rows)


def _row(line: StatementLine, key: str, digest: str, name: str, now: datetime) -> dict[str, Any]:
    iban, raw = checked_iban(line.counterparty_account)
    account, _ = checked_iban(line.account_iban)
    return {
        "dedupe_key": key,
        "account_iban": account or clean(line.account_iban),
        "booking_date": line.booking_date,
        "value_date": line.value_date,
        "amount_cents": line.amount_cents,
        "currency": line.currency.upper(),
        "counterparty_name": line.counterparty_name,
        "counterparty_iban": iban,
        "counterparty_account_raw": raw,
        "end_to_end_id": line.end_to_end_id,
        "bank_reference": line.bank_reference,
        "structured_reference": line.structured_reference,
        "text": line.text,
        "file_hash": digest,
        "file_name": name,
        "position": line.position,
        "imported_at": now,
        "match_state": "new" if line.amount_cents > 0 else "debit",
        "matched_by": None,
        "matched_at": None,
    }
