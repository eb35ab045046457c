"""OFX statements (1.x SGML and 2.x XML), read leniently.

Banks write OFX loosely: elements left open (SGML), empty `<NAME>` or
`<BALAMT>`, a closing tag missing, unknown languages, blank lines in the
header, no sign-on block, several statements in one response, empty
self-closed tags. A strict reader refuses such files for fields matching
never uses, so this one reads the tags itself and takes from each
transaction what matching needs: date, amount, FITID, payee, memo,
reference, and from its statement the account and currency. A transaction
whose date or amount does not read refuses the file, naming it.

What is not a bank or card statement is said plainly: an investment
statement is refused (nothing to match), a statement with balances only
imports as no line with a note, and an error the bank reports (sign-on or
statement status) is refused with the bank's own message.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from core.receivables.statements.records import (
    StatementError,
    StatementLine,
    clean,
    creditor_reference,
    to_cents,
)

# Tags that hold other tags; any other is an element holding a value.
_AGGREGATES = {
    "OFX", "SIGNONMSGSRSV1", "SIGNONMSGSRSV2", "SONRS", "STATUS", "FI", "BANKMSGSRSV1",
    "BANKMSGSRSV2", "STMTTRNRS", "STMTRS", "BANKACCTFROM", "BANKACCTTO", "CCACCTFROM",
    "CCACCTTO", "BANKTRANLIST", "STMTTRN", "PAYEE", "CURRENCY", "ORIGCURRENCY", "LEDGERBAL",
    "AVAILBAL", "BALLIST", "BAL", "CREDITCARDMSGSRSV1", "CREDITCARDMSGSRSV2", "CCSTMTTRNRS",
    "CCSTMTRS", "INVSTMTMSGSRSV1", "INVSTMTTRNRS", "INVSTMTRS", "INVACCTFROM", "INVTRANLIST",
    "INVPOSLIST", "INVBAL", "INVBANKTRAN", "BUYSTOCK", "SELLSTOCK", "INVBUY", "INVSELL",
    "INVTRAN", "SECID", "INCOME", "MKTGINFO",
}  # fmt: skip
# Elements read here: never taken for an aggregate, even when left empty.
_ELEMENTS = {
    "CODE", "SEVERITY", "MESSAGE", "DTSERVER", "LANGUAGE", "TRNUID", "CURDEF", "BANKID",
    "BRANCHID", "ACCTID", "ACCTTYPE", "ACCTKEY", "DTSTART", "DTEND", "TRNTYPE", "DTPOSTED",
    "DTUSER", "DTAVAIL", "TRNAMT", "FITID", "CORRECTFITID", "CHECKNUM", "REFNUM", "SIC",
    "PAYEEID", "NAME", "MEMO", "CURSYM", "CURRATE", "BALAMT", "DTASOF",
}  # fmt: skip
_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9._]*)[^<>]*?(/?)>|([^<]+)")
_STATEMENTS = ("STMTRS", "CCSTMTRS")


@dataclass
class _Node:
    tag: str
    text: str = ""
    children: list[_Node] = field(default_factory=list)

    def child(self, tag: str) -> _Node | None:
        for node in self.children:
            if node.tag == tag:
                return node
        return None

    def value(self, *path: str) -> str:
        """The text of the element at `path` under this node ('' if absent)."""
        node: _Node | None = self
        for tag in path:
            node = node.child(tag) if node is not None else None
        return clean(node.text) if node is not None else ""

    def iter(self, *tags: str) -> Iterator[_Node]:
        """Descendants with one of the tags, in document order (not inside one another)."""
        for node in self.children:
            if node.tag in tags:
                yield node
            else:
                yield from node.iter(*tags)


def read_ofx(path: Path, content: str, notes: list[str]) -> Iterator[StatementLine]:
    """The transactions of every bank or card statement in the response, in file order."""
    name = path.name
    start = content.upper().find("<OFX")
    if start < 0:
        raise StatementError(f"{name}: no <OFX> element: not an OFX statement")
    root = _tree(content[start:])
    for failed in _refuse_errors(name, root):
        notes.append(f"a statement left out: the bank reported an error: {failed}")
    statements = list(root.iter(*_STATEMENTS))
    investments = sum(1 for _ in root.iter("INVSTMTRS"))
    if not statements:
        if investments:
            raise StatementError(f"{name}: an investment statement: nothing to match")
        raise StatementError(f"{name}: no bank or card statement (STMTRS) in this OFX file")
    if investments:
        notes.append(f"{investments} investment statement(s) left out: nothing to match")
    position = 0
    balances_only = 0
    for number, statement in enumerate(statements, start=1):
        account = statement.value("BANKACCTFROM", "ACCTID") or statement.value(
            "CCACCTFROM", "ACCTID"
        )
        currency = statement.value("CURDEF")
        transactions = list(statement.iter("STMTTRN"))
        if not transactions:
            balances_only += 1
        for index, transaction in enumerate(transactions, start=1):
            where = f"OFX/{statement.tag}[{number}]/BANKTRANLIST/STMTTRN[{index}]"
            position += 1
            yield _line(name, where, transaction, account, currency, position)
    if balances_only:
        which = "the statement" if len(statements) == 1 else f"{balances_only} statement(s)"
        notes.append(f"{which} gives balances only, no transactions")


def _tree(body: str) -> _Node:
    """The element tree, with SGML's open elements and a bank's missing closing tags mended."""
    closed = {tag.upper() for tag in re.findall(r"</([A-Za-z][A-Za-z0-9._]*)", body)}
    root = _Node("")
    stack = [root]
    leaf: _Node | None = None
    tokens = list(_TOKEN.finditer(body))
    for index, token in enumerate(tokens):
        closing, tag, self_closed, text = token.groups()
        if text is not None:
            if leaf is not None:
                leaf.text += html.unescape(text)
            continue
        tag = tag.upper()
        leaf = None
        if closing:
            if any(node.tag == tag for node in stack[1:]):
                while stack.pop().tag != tag:
                    pass
            continue
        node = _Node(tag)
        if not self_closed and _is_aggregate(tag, tokens, index, closed):
            # One aggregate never holds another of its kind: the first was left open.
            if any(open_node.tag == tag for open_node in stack[1:]):
                while stack.pop().tag != tag:
                    pass
            stack[-1].children.append(node)
            stack.append(node)
            continue
        stack[-1].children.append(node)
        if not self_closed:
            leaf = node
    return root


def _is_aggregate(tag: str, tokens: list[re.Match[str]], index: int, closed: set[str]) -> bool:
    if tag in _AGGREGATES:
        return True
    if tag in _ELEMENTS:
        return False
    # An unknown tag: an aggregate if no value follows it and it is closed somewhere.
    following = tokens[index + 1].group(4) if index + 1 < len(tokens) else None
    return tag in closed and not (following or "").strip()


def _refuse_errors(name: str, root: _Node) -> list[str]:
    """The bank's own error (sign-on, or every statement) refuses the file with its message.

    The errors of some statements only, beside good ones, are returned.
    """
    signon = next(root.iter("SONRS"), None)
    if signon is not None and _failed(signon):
        raise StatementError(f"{name}: the bank refused the sign-on: {_status(signon)}")
    answers = list(root.iter("STMTTRNRS", "CCSTMTTRNRS"))
    failed = [
        answer for answer in answers if _failed(answer) and not any(answer.iter(*_STATEMENTS))
    ]
    if answers and len(failed) == len(answers):
        raise StatementError(f"{name}: the bank reported an error: {_status(failed[0])}")
    return [_status(answer) for answer in failed]


def _failed(node: _Node) -> bool:
    code = node.value("STATUS", "CODE")
    severity = node.value("STATUS", "SEVERITY").upper()
    return severity == "ERROR" or (not severity and code not in ("", "0"))


def _status(node: _Node) -> str:
    code, message = node.value("STATUS", "CODE"), node.value("STATUS", "MESSAGE")
    return f"{message} (code {code})" if message else f"code {code}"


def _line(
    name: str, where: str, tx: _Node, account: str, currency: str, position: int
) -> StatementLine:
    posted = _date(tx.value("DTPOSTED"))
    if posted is None:
        raise StatementError(f"{name}: {where}/DTPOSTED: {tx.value('DTPOSTED')!r} is not a date")
    amount = tx.value("TRNAMT").lstrip("+")
    try:
        # Most banks write 1234.56; some French ones 1234,56.
        cents = to_cents(amount, "," if "," in amount and "." not in amount else ".")
    except ValueError as error:
        raise StatementError(f"{name}: {where}/TRNAMT: {error}") from None
    payee = tx.value("NAME") or tx.value("PAYEE", "NAME")
    memo = tx.value("MEMO")
    reference = tx.value("REFNUM")
    # Some banks leave MEMO empty and write everything in NAME.
    text = memo or payee
    if reference and reference not in text:
        text = f"{text} {reference}".strip()
    return StatementLine(
        booking_date=posted,
        value_date=_date(tx.value("DTUSER")),
        amount_cents=cents,
        currency=tx.value("CURRENCY", "CURSYM") or currency,
        account_iban=account,
        counterparty_name=payee,
        counterparty_account=tx.value("BANKACCTTO", "ACCTID")
        or tx.value("CCACCTTO", "ACCTID")
        or None,
        end_to_end_id=None,
        bank_reference=tx.value("FITID") or None,
        structured_reference=creditor_reference(reference, memo),
        text=text,
        position=position,
    )


def _date(text: str) -> date | None:
    """An OFX date-time (YYYYMMDD[HHMMSS[.XXX]][[-5:EST]]) as its day, or None."""
    digits = text[:8]
    if len(digits) < 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
