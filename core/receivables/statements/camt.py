"""ISO 20022 camt.053 (statement) and camt.054 (debit/credit notification), streamed.

The file is read with lxml's iterparse, one entry (`Ntry`) at a time, and
each entry is cleared once read: a 50 MB statement never sits whole in
memory. Versions 001.02 to 001.12 are read alike (party names moved under
`Pty` in 001.08, both places are looked at). Entries not booked (`Sts`
PDNG or INFO) are left out, and counted in the import's notes. A
transaction's own `CdtDbtInd` (inside `TxDtls`) outranks its entry's; an
entry without `BookgDt` is dated by its `ValDt`, else by the statement's
`CreDtTm`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO

from lxml import etree

from core.receivables.statements.records import (
    StatementError,
    StatementLine,
    clean,
    creditor_reference,
    to_cents,
    transaction_ids,
)

_NAMESPACE = re.compile(rb'xmlns(?::\w+)?="(urn:iso:std:iso:20022:tech:xsd:camt\.05[34][^"]*)"')
_NOT_BOOKED = {"PDNG", "INFO"}


_STATUS_WORDS = {"PDNG": "pending", "INFO": "information only"}


def read_camt(path: Path, stream: IO[bytes], notes: list[str]) -> Iterator[StatementLine]:
    """The booked lines of the file; what was left out, and why, goes to `notes`."""
    head = stream.read(4096)
    stream.seek(0)
    found = _NAMESPACE.search(head)
    if found is None:
        raise StatementError(f"{path.name}: not an ISO 20022 camt.053 or camt.054 document")
    reader = _CamtReader(path.name, found.group(1).decode())
    yield from reader.read(stream)
    kind = "camt.053" if reader.report == "Stmt" else "camt.054"
    if not reader.reports:
        raise StatementError(f"{path.name}: no statement ({reader.report}) in this {kind} file")
    if not reader.entries:
        which = "the statement" if reader.reports == 1 else f"{reader.reports} statements"
        notes.append(f"{which} gives balances only, no entries")
    for status, count in sorted(reader.not_booked.items()):
        entries = "entry" if count == 1 else "entries"
        notes.append(
            f"{count} {entries} {_STATUS_WORDS[status]} (Sts {status}), not booked: left out"
        )


class _CamtReader:
    def __init__(self, name: str, namespace: str) -> None:
        self.name = name
        self.ns = namespace
        self.root = "BkToCstmrStmt" if ".053." in namespace else "BkToCstmrDbtCdtNtfctn"
        self.report = "Stmt" if ".053." in namespace else "Ntfctn"
        self._paths: dict[str, str] = {}
        # Entries left out, by status.
        self.not_booked: dict[str, int] = {}
        # Statements (or notifications) and entries read, booked or not.
        self.reports = self.entries = 0

    def _q(self, path: str) -> str:
        """A path of local names in the document's namespace (made once per path)."""
        found = self._paths.get(path)
        if found is None:
            found = self._paths[path] = "/".join(f"{{{self.ns}}}{part}" for part in path.split("/"))
        return found

    def read(self, stream: IO[bytes]) -> Iterator[StatementLine]:
        account, currency = "", ""
        report = entry = position = 0
        # The statement's own date, else the message's: for entries with no date of their own.
        created: date | None = None
        events = etree.iterparse(
            stream,
            events=("end",),
            tag=(self._q("Acct"), self._q("Ntry"), self._q("CreDtTm")),
            resolve_entities=False,
            no_network=True,
        )
        try:
            for _event, element in events:
                parent = element.getparent()
                local = etree.QName(element).localname
                if local == "CreDtTm":
                    owner = "" if parent is None else etree.QName(parent).localname
                    if owner in (self.report, "GrpHdr"):
                        created = _lenient_date(element.text) or created
                    continue
                if local == "Acct":
                    if parent is None or etree.QName(parent).localname != self.report:
                        continue
                    report += 1
                    self.reports += 1
                    entry = 0
                    account = clean(element.findtext(self._q("Id/IBAN"))) or clean(
                        element.findtext(self._q("Id/Othr/Id"))
                    )
                    currency = clean(element.findtext(self._q("Ccy")))
                    continue
                entry += 1
                self.entries += 1
                where = f"Document/{self.root}/{self.report}[{report}]/Ntry[{entry}]"
                lines = self._entry(element, where, account, currency, created)
                for line in lines:
                    position += 1
                    line.position = position
                    yield line
                # Free what was read: the entry and the siblings before it.
                element.clear(keep_tail=False)
                while element.getprevious() is not None:
                    del parent[0]
        except etree.XMLSyntaxError as error:
            at = error.lineno or "?"
            raise StatementError(
                f"{self.name}: line {at}: not well-formed XML ({error.msg})"
            ) from None

    def _entry(
        self,
        ntry: etree._Element,
        where: str,
        account: str,
        account_currency: str,
        created: date | None,
    ) -> Iterator[StatementLine]:
        # Children by tag, one level at a time: much faster than a path
        # search per field on a hundred thousand entries.
        kids = self._kids(ntry)
        status_element = kids.get(self._q("Sts"))
        if status_element is not None:
            status = clean(status_element.text) or clean(_first_text(status_element))
            if status in _NOT_BOOKED:
                self.not_booked[status] = self.not_booked.get(status, 0) + 1
                return
        amount_element = kids.get(self._q("Amt"))
        if amount_element is None or not (amount_element.text or "").strip():
            raise StatementError(f"{self.name}: {where}/Amt: missing")
        sign = self._sign(kids.get(self._q("CdtDbtInd")), where)
        entry_cents = self._cents(amount_element.text or "", f"{where}/Amt")
        entry_currency = amount_element.get("Ccy") or account_currency
        value = self._date(kids.get(self._q("ValDt")), "ValDt", where, required=False)
        booking = (
            self._date(kids.get(self._q("BookgDt")), "BookgDt", where, required=False)
            or value
            or created
        )
        if booking is None:
            raise StatementError(f"{self.name}: {where}/BookgDt: missing, and no ValDt either")
        entry_ref = _text(kids.get(self._q("AcctSvcrRef"))) or None
        entry_id = _text(kids.get(self._q("NtryRef")))
        entry_info = _text(kids.get(self._q("AddtlNtryInf")))
        found = kids.get(self._q("NtryDtls"))
        details = [] if found is None else found.findall(self._q("TxDtls"))
        if not details:
            line = self._line(
                None, sign, entry_cents, entry_currency, booking, value, account, entry_ref,
                entry_info,
            )  # fmt: skip
            line.entry_ids = transaction_ids(entry_id)
            yield line
            return
        for index, tx in enumerate(details, start=1):
            tx_kids = self._kids(tx)
            amount = tx_kids.get(self._q("Amt"))
            if amount is None:
                amount = tx.find(self._q("AmtDtls/TxAmt/Amt"))
            if len(details) == 1 or amount is None:
                cents, currency = entry_cents, entry_currency
            else:
                tx_where = f"{where}/NtryDtls/TxDtls[{index}]/Amt"
                cents, currency = self._cents(amount.text or "", tx_where), amount.get("Ccy") or ""
            refs = self._kids(tx_kids.get(self._q("Refs")))
            ref = _text(refs.get(self._q("AcctSvcrRef"))) or None
            if ref is None and entry_ref is not None:
                ref = entry_ref if len(details) == 1 else f"{entry_ref}/{index}"
            # A batch may hold transactions of both directions: each says its own.
            own_sign = tx_kids.get(self._q("CdtDbtInd"))
            tx_sign = sign if own_sign is None else self._sign(own_sign, f"{where}/TxDtls[{index}]")
            line = self._line(
                (tx_kids, refs), tx_sign, cents, currency or entry_currency, booking, value,
                account, ref, entry_info,
            )  # fmt: skip
            line.entry_ids = transaction_ids(
                entry_id, _text(refs.get(self._q("InstrId"))), _text(refs.get(self._q("TxId")))
            )
            yield line

    def _kids(self, element: etree._Element | None) -> dict[str, etree._Element]:
        found: dict[str, etree._Element] = {}
        if element is not None:
            for child in element:
                found.setdefault(child.tag, child)
        return found

    def _line(
        self,
        tx: tuple[dict[str, etree._Element], dict[str, etree._Element]] | None,
        sign: int,
        cents: int,
        currency: str,
        booking: date,
        value: date | None,
        account: str,
        ref: str | None,
        entry_info: str,
    ) -> StatementLine:
        name = iban = e2e = structured = None
        texts: list[str] = []
        if tx is not None:
            kids, refs = tx
            party = "Dbtr" if sign > 0 else "Cdtr"
            parties = self._kids(kids.get(self._q("RltdPties")))
            who = self._kids(parties.get(self._q(party)))
            named = who.get(self._q("Nm"))
            if named is None:
                named = self._kids(who.get(self._q("Pty"))).get(self._q("Nm"))
            name = _text(named)
            account_id = self._kids(
                self._kids(parties.get(self._q(f"{party}Acct"))).get(self._q("Id"))
            )
            iban = _text(account_id.get(self._q("IBAN"))) or _text(
                self._kids(account_id.get(self._q("Othr"))).get(self._q("Id"))
            )
            e2e = _text(refs.get(self._q("EndToEndId"))) or None
            remittance = kids.get(self._q("RmtInf"))
            if remittance is not None:
                ustrd = self._q("Ustrd")
                texts = [clean(node.text) for node in remittance if node.tag == ustrd]
                structured = clean(remittance.findtext(self._q("Strd/CdtrRefInf/Ref"))) or None
            extra = _text(kids.get(self._q("AddtlTxInf")))
            if extra:
                texts.append(extra)
            # A returned or rejected direct debit: its reason code (AC04, AM04, MD06, ...).
            returned = self._kids(self._kids(kids.get(self._q("RtrInf"))).get(self._q("Rsn")))
            reason = _text(returned.get(self._q("Cd")))
            if reason:
                texts.append(f"return reason {reason}")
        if entry_info:
            texts.append(entry_info)
        text = " ".join(part for part in texts if part)
        return StatementLine(
            booking_date=booking,
            value_date=value,
            amount_cents=sign * cents,
            currency=currency,
            account_iban=account,
            counterparty_name=name or "",
            counterparty_account=iban or None,
            end_to_end_id=e2e,
            bank_reference=ref,
            structured_reference=structured or creditor_reference(text),
            text=text,
            position=0,
        )

    def _sign(self, element: etree._Element | None, where: str) -> int:
        indicator = _text(element)
        if indicator == "CRDT":
            return 1
        if indicator == "DBIT":
            return -1
        raise StatementError(
            f"{self.name}: {where}/CdtDbtInd: {indicator!r} is neither CRDT nor DBIT"
        )

    def _cents(self, text: str, where: str) -> int:
        try:
            cents = to_cents(text)
        except ValueError as error:
            raise StatementError(f"{self.name}: {where}: {error}") from None
        if cents < 0:
            raise StatementError(f"{self.name}: {where}: negative amount (the sign is CdtDbtInd)")
        return cents

    def _date(
        self, element: etree._Element | None, tag: str, where: str, *, required: bool
    ) -> date | None:
        # Dt or DtTm, whichever the bank wrote.
        text = "" if element is None else clean(_first_text(element))
        if not text:
            if required:
                raise StatementError(f"{self.name}: {where}/{tag}: missing")
            return None
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            raise StatementError(f"{self.name}: {where}/{tag}: {text!r} is not a date") from None


def _text(element: etree._Element | None) -> str:
    return "" if element is None else clean(element.text)


def _first_text(element: etree._Element) -> str | None:
    for child in element:
        return child.text
    return None


def _lenient_date(text: str | None) -> date | None:
    """A creation time read only as a fallback date: unreadable is no date, not an error."""
    try:
        return date.fromisoformat(clean(text)[:10])
    except ValueError:
        return None
