"""Matching bank credits to open invoices, and the allocations that follow.

Evidence is weighed strongest first: a creditor reference (RF, ISO 11649)
or an invoice number in the text (tolerant of spaces, dashes, lost leading
zeros, O/0 and I/1 mix-ups, and one typo); the payer's IBAN when it is a
known client's; the payer's name (fuzzy, unique winner only); an amount
equal to an open balance or to the sum of a few of the client's oldest
open balances; the due date within a window of the payment.

A line is applied on its own (auto) only under one of these rules:

- `reference`: an exact reference (RF or invoice number) to invoices of one
  client, and the amount equals their balance, within the fee tolerance,
  unless the payer is known to be another client (then the number is taken
  for a typo of one of the payer's own);
- `reference+payer`: an exact reference, and the payer is that client by
  IBAN or name: a partial payment or an overpayment is applied as paid;
- `typo`: the only invoice within one edit of a number in the text, and the
  amount equals its balance within the fee tolerance (or the payer is its
  client);
- `payer+amount`: the payer is a client by IBAN or name, and exactly one
  of its open invoices, or one set of its oldest open invoices, adds up to
  the amount within the fee tolerance.

Everything else goes to the review queue with its candidates ranked: by
their evidence (a reference, a known payer, a number one typo away with the
exact amount, an amount equal to a balance), then by weaker signs that a
person would weigh too: a payer's name like a client's even when another
client's is alike (no unique winner), an exact amount before one less bank
fees, one invoice before a sum of several, and the due date that fits the
client's usual delay (learned from its payments already matched).
Invoices are indexed by normalised number, by client and by amount, so a
line costs a few dictionary look-ups and never a scan of all invoices.
"""

from __future__ import annotations

import re
from bisect import insort
from collections import defaultdict
from heapq import heappop, heappush, heappushpop

from core.receivables.invoices import creditor_reference

# Letters a scan or a hurried typist writes for digits: read as the digit.
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_GROUP = re.compile(r"[A-Z]+|[0-9]+")


def _groups(value: str) -> list[str]:
    """'INV-2026-00042' as ['1', 'NV', '2026', '42']: digit groups without leading zeros."""
    return _stripped(_GROUP.findall(value.upper().translate(_CONFUSABLE)))


def _stripped(found: list[str]) -> list[str]:
    return [part.lstrip("0") or "0" if part.isdigit() else part for part in found]


def number_keys(number: str) -> set[str]:
    """The keys an invoice number is found by: with and without its leading zeros."""
    found = _GROUP.findall(number.upper().translate(_CONFUSABLE))
    return {"".join(_stripped(found)), "".join(found)}


def _reference_of(number: str) -> str | None:
    """The creditor reference an invoice carries when none was stored with it."""
    try:
        return creditor_reference(number)
    except ValueError:
        return None  # a number with no letter or digit, or too long: no RF can name it


_LEGAL_FORMS = {
    "sa", "sas", "sasu", "sarl", "eurl", "sci", "snc", "gmbh", "ag", "kg", "ltd", "llc",
    "inc", "bv", "nv", "srl", "spa", "sl", "plc", "co", "cie", "et", "and", "the",
}  # fmt: skip


def name_key(name: str) -> str:
    words = re.findall(r"[a-z0-9]+", name.lower())
    return " ".join(word for word in words if word not in _LEGAL_FORMS)


def _deletions(key: str) -> set[str]:
    """The key and every string one deletion from it."""
    return {key, *[key[:at] + key[at + 1 :] for at in range(len(key))]}


def _sorted_words(key: str) -> str:
    return " ".join(sorted(key.split()))


class Delays:
    """How many days after the due date clients pay, learned from payments already matched.

    A client who always pays three weeks late most likely pays, three weeks
    after a due date, the invoice of that due date and not the one due next
    week. A client's own habit counts once it has `CLIENT_MINIMUM` payments;
    before that, the habit of all clients does (from `HOUSE_MINIMUM`
    payments), and with no history at all a payment is expected on the day.
    """

    CLIENT_MINIMUM = 3
    HOUSE_MINIMUM = 20

    def __init__(self) -> None:
        # A client's few delays are kept sorted, so that a median is one look-up.
        self._by_client: dict[int, list[int]] = defaultdict(list)
        # Everyone's, as a running median: the lower half in a max-heap
        # (negated), the upper half in a min-heap, the lower never smaller.
        self._lower: list[int] = []
        self._upper: list[int] = []

    def add(self, client: int, days: int) -> None:
        insort(self._by_client[client], days)
        heappush(self._lower, -heappushpop(self._upper, days))
        if len(self._lower) > len(self._upper) + 1:
            heappush(self._upper, -heappop(self._lower))

    def usual(self, client: int) -> int:
        """The median delay of the client's payments, else of everyone's, else 0."""
        own = self._by_client.get(client, ())
        if len(own) >= self.CLIENT_MINIMUM:
            return own[(len(own) - 1) // 2]
        return self.house()

    def house(self) -> int:
        """The median delay of everyone's payments (the lower one of an even count), else 0."""
        if len(self._lower) + len(self._upper) >= self.HOUSE_MINIMUM:
            return -self._lower[0]
        return 0
