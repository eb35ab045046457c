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

import gc
import json
import re
from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from heapq import heappop, heappush, heappushpop
from itertools import combinations
from typing import Any

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sqlalchemy import Connection, Engine, and_, bindparam, case, func, select, text

from .audit import audit_row, write_audit
from .db import chunks, insert_many, update_many, write
from .invoices import creditor_reference
from .kinds import Actor
from .models import (
    Allocation,
    BankTransaction,
    ClientIban,
    Invoice,
    MatchCandidate,
    table,
)
from .reader import stamp
from .receivables import AWAITING_REVIEW
from .statements.settings import BanksConfig, MatchingConfig
from .timeutil import as_date

# -- invoice numbers, normalised ------------------------------------------------

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


# -- what the matcher works on --------------------------------------------------


@dataclass
class OpenInvoice:
    id: int
    number: str
    client_id: int
    currency: str
    issued_on: date
    due_on: date
    total: int
    balance: int
    # The creditor reference stored with it; None: Book builds it from the number.
    reference: str | None = None
    # The number normalised (see _groups), filled in by Book.
    key: str = ""


@dataclass
class Line:
    id: int
    booking_date: date
    amount: int
    currency: str
    payer: str
    iban: str | None
    reference: str | None
    text: str


@dataclass
class Proposal:
    """What a line may pay: invoices in payment order, how sure, and why."""

    invoice_ids: tuple[int, ...]
    confidence: float
    reasons: list[str]
    rule: str | None = None  # set when the rules allow applying it on its own
    # Days between the payment and the due date: the nearer ranks first among equals.
    distance: int = 0


@dataclass
class Part:
    invoice_id: int | None
    client_id: int | None
    kind: str  # payment, fee, credit
    cents: int


class Book:
    """Open invoices, indexed for matching, with balances kept current as lines are applied."""

    def __init__(
        self,
        invoices: Iterable[OpenInvoice],
        clients: dict[int, str],
        ibans: dict[str, int],
        config: MatchingConfig,
        delays: Delays | None = None,
    ) -> None:
        self.config = config
        self.invoices: dict[int, OpenInvoice] = {}
        self.by_key: dict[str, list[int]] = defaultdict(list)
        # Each invoice's creditor reference, as stored with it (see
        # core.invoices.creditor_reference), which a line's RF must equal.
        self.by_rf: dict[str, int] = {}
        self.by_client: dict[int, list[int]] = defaultdict(list)
        self.by_amount: dict[tuple[str, int], dict[int, None]] = defaultdict(dict)
        self.group_counts: set[int] = set()
        by_key, by_client, by_amount = self.by_key, self.by_client, self.by_amount
        for invoice in sorted(invoices, key=lambda item: (item.due_on, item.id)):
            ident = invoice.id
            self.invoices[ident] = invoice
            found = _GROUP.findall(invoice.number.upper().translate(_CONFUSABLE))
            groups = _stripped(found)
            invoice.key = key = "".join(groups)
            squeezed = "".join(found)
            by_key[key].append(ident)
            if squeezed != key:
                by_key[squeezed].append(ident)
            self.group_counts.add(len(groups))
            reference = invoice.reference or _reference_of(invoice.number)
            if reference:
                self.by_rf.setdefault(reference.replace(" ", "").upper(), ident)
            by_client[invoice.client_id].append(ident)
            by_amount[(invoice.currency, invoice.balance)][ident] = None
        self.clients = clients
        self.ibans = ibans
        self._fuzzy: dict[str, int | list[int]] | None = None
        self._by_due: dict[tuple[str, int], list[tuple[int, int]]] = {}
        self._names: dict[str, list[int]] = defaultdict(list)
        self._name_keys = {client: name_key(name) for client, name in clients.items()}
        for client, key in self._name_keys.items():
            for word in set(key.split()):
                self._names[word].append(client)
        sorted_names = {client: _sorted_words(key) for client, key in self._name_keys.items()}
        # Beside each word's clients, their names in the same order.
        self._word_names = {
            word: [sorted_names[client] for client in clients]
            for word, clients in self._names.items()
        }
        self._payers: dict[str, tuple[int, float] | None] = {}
        self._scores: dict[str, list[tuple[int, float]]] = {}
        self.delays = delays if delays is not None else Delays()

    # -- evidence ------------------------------------------------------------

    def _windows(self, value: str) -> list[str]:
        groups = _groups(value)
        found = []
        for size in self.group_counts:
            for start in range(len(groups) - size + 1):
                window = groups[start : start + size]
                if any(part.isdigit() for part in window):
                    found.append("".join(window))
        return found

    def reference_hits(self, line: Line) -> tuple[list[int], list[str], bool]:
        """Invoices named exactly by the line: (ids, reasons, ambiguous)."""
        hits: dict[int, str] = {}
        ambiguous = False
        if line.reference:
            found = self._referenced(line.reference)
            if found is not None:
                hits[found] = f"creditor reference {line.reference} is invoice {self._no(found)}"
        for window in self._windows(f"{line.text} {line.reference or ''}"):
            ids = [i for i in self.by_key.get(window, ()) if self.invoices[i].balance > 0]
            ambiguous = ambiguous or len(ids) > 1
            for invoice_id in ids:
                hits.setdefault(invoice_id, f"invoice number {self._no(invoice_id)} in the text")
        ordered = [i for i in hits if self.invoices[i].balance > 0]
        ordered.sort(key=lambda i: (self.invoices[i].due_on, i))
        return ordered, [hits[i] for i in ordered], ambiguous

    def _referenced(self, reference: str) -> int | None:
        compact = reference.replace(" ", "").upper()
        found = self.by_rf.get(compact)
        return found if found in self.invoices else None

    def typo_hits(self, line: Line) -> list[int]:
        """Open invoices whose number is one edit (or one swap) away from a number in the text."""
        windows = [window for window in self._windows(line.text) if len(window) >= 6]
        if not windows:
            return []
        index = self._fuzzy_index()
        found: set[int] = set()
        for window in windows:
            candidates: set[int] = set()
            for variant in _deletions(window):
                entry = index.get(variant)
                if entry is not None:
                    candidates.update(entry if isinstance(entry, list) else (entry,))
            for invoice_id in candidates:
                invoice = self.invoices[invoice_id]
                if invoice.balance <= 0:
                    continue
                if OSA.distance(window, invoice.key, score_cutoff=1) <= 1:
                    found.add(invoice_id)
        return sorted(found, key=lambda i: (self.invoices[i].due_on, i))

    def _fuzzy_index(self) -> dict[str, int | list[int]]:
        """Each number and its one-deletion variants: a shared entry means one edit apart.

        Built on first use: most statements never need it. Nearly every
        variant belongs to one invoice, so an entry is an id, and a list
        only when shared (half the time of a list for each).
        """
        if self._fuzzy is None:
            index: dict[str, int | list[int]] = {}
            get = index.get
            for invoice in self.invoices.values():
                if len(invoice.key) < 6:
                    continue
                ident = invoice.id
                for variant in _deletions(invoice.key):
                    known = get(variant)
                    if known is None:
                        index[variant] = ident
                    elif isinstance(known, list):
                        known.append(ident)
                    else:
                        index[variant] = [known, ident]
            self._fuzzy = index
        return self._fuzzy

    def payer(self, line: Line) -> tuple[int | None, str | None]:
        """The client the payer is, by known IBAN or else by name (unique winner), and why."""
        if line.iban and line.iban in self.ibans:
            client = self.ibans[line.iban]
            return client, f"IBAN {line.iban} is {self.clients.get(client, client)}'s"
        if not line.payer:
            return None, None
        if line.payer not in self._payers:
            self._payers[line.payer] = self._name_winner(line.payer)
        found = self._payers[line.payer]
        if found is None:
            return None, None
        client, score = found
        return client, f"payer {line.payer!r} is {self.clients[client]} (name {score:.0f}%)"

    def _name_winner(self, payer: str) -> tuple[int, float] | None:
        scored = self.name_scores(payer)
        if not scored or scored[0][1] < self.config.name_min_score:
            return None
        if len(scored) > 1 and scored[1][1] >= scored[0][1] - 5:
            return None  # two clients alike: no winner
        return scored[0]

    def name_scores(self, payer: str) -> list[tuple[int, float]]:
        """The clients whose name is like the payer's (within 5 points of the floor), best first.

        Even without a unique winner, "LEFEBVRE AGRO PAU" is evidence for
        Lefebvre Agro Pau SA (100 %) over Lefevre Agro Pau (95 %): the
        scores rank the candidates of a line that nothing else settles.
        """
        if not payer:
            return []
        known = self._scores.get(payer)
        if known is not None:
            return known
        key = _sorted_words(name_key(payer))
        words = sorted(set(key.split()), key=lambda word: len(self._names.get(word, ())))[:3]
        # The clients sharing one of the payer's three rarest words, each
        # word's list joined as it is (a client sharing two words comes twice:
        # cheaper than a set, and the duplicates are dropped below).
        ids: list[int] = []
        names: list[str] = []
        for word in words:
            ids += self._names.get(word, ())[:500]
            names += self._word_names.get(word, ())[:500]
        # token_sort_ratio is ratio on the words sorted: the clients' are sorted once.
        scored = process.extract(
            key,
            names,
            scorer=fuzz.ratio,
            limit=3 * len(words),
            score_cutoff=self.config.name_min_score - 5,
        )
        found: list[tuple[int, float]] = []
        for _choice, score, index in scored:
            if len(found) < 3 and all(ids[index] != client for client, _score in found):
                found.append((ids[index], float(score)))
        self._scores[payer] = found
        return found

    def name_likeness(self, line: Line, client: int) -> float:
        """How like the client's name the payer's is (0 when not among the closest)."""
        for candidate, score in self.name_scores(line.payer):
            if candidate == client:
                return score
        return 0.0

    def tolerance(self, balance: int) -> int:
        return min(
            int(balance * self.config.fee_tolerance_percent / 100), self.config.fee_tolerance_cents
        )

    def fits(self, amount: int, balance: int) -> str:
        """exact, fee (short by at most the tolerance), partial or over."""
        if amount == balance:
            return "exact"
        if amount > balance:
            return "over"
        return "fee" if balance - amount <= self.tolerance(balance) else "partial"

    def client_open(self, client: int, currency: str) -> list[int]:
        return [
            i
            for i in self.by_client.get(client, ())
            if self.invoices[i].balance > 0 and self.invoices[i].currency == currency
        ]

    def subsets(self, ids: list[int], amount: int, limit: int = 2) -> list[tuple[int, ...]]:
        """Invoices whose balances the amount pays (fee tolerance allowed), oldest first.

        One invoice among all the client's; several among its oldest
        `subset_max_invoices` only, which keeps the search small.
        """
        found: list[tuple[int, ...]] = [
            (i,) for i in ids if self.fits(amount, self.invoices[i].balance) in ("exact", "fee")
        ]
        if len(found) >= limit:
            return found  # already no single answer: every one of them is a candidate
        pool = ids[: self.config.subset_max_invoices]
        balances = {i: self.invoices[i].balance for i in pool}
        for size in range(2, len(pool) + 1):
            for group in combinations(pool, size):
                total = sum([balances[i] for i in group])
                # Paid in full, or short by no more than the fee tolerance (see fits).
                if total >= amount and total - amount <= self.tolerance(total):
                    found.append(group)
                    if len(found) >= limit:
                        return found
        return found

    def _no(self, invoice_id: int) -> str:
        return self.invoices[invoice_id].number

    def _distance(self, line: Line, ids: Sequence[int]) -> int:
        """How far the payment is from when the client would usually pay these invoices.

        The usual day is the due date plus the client's usual delay (see
        Delays). Paying before the due date also counts twice more: clients
        pay late more often than early, so an invoice due a week before the
        payment is likelier than one due a week after it.
        """
        return min(self._lateness(line, i) for i in ids)

    def _lateness(self, line: Line, invoice_id: int) -> int:
        invoice = self.invoices[invoice_id]
        days = (line.booking_date - invoice.due_on).days
        early = 2 * -days if days < 0 else 0
        return abs(days - self.delays.usual(invoice.client_id)) + early

    def _date_reason(self, line: Line, ids: Sequence[int]) -> tuple[float, str | None]:
        due = max(self.invoices[i].due_on for i in ids)
        issued = min(self.invoices[i].issued_on for i in ids)
        days = (line.booking_date - due).days
        if issued > line.booking_date or abs(days) > self.config.date_window_days:
            return 0.0, None
        when = f"{days} days after" if days >= 0 else f"{-days} days before"
        return 0.05, f"paid {when} the due date"

    # -- proposals -------------------------------------------------------------

    def propose(self, line: Line) -> list[Proposal]:
        """What the line may pay, best first; the first carries a rule if it may be applied."""
        if line.amount <= 0:
            return []
        refs, ref_reasons, ambiguous = self.reference_hits(line)
        refs = [i for i in refs if self.invoices[i].currency == line.currency]
        client, payer_reason = self.payer(line)
        payer = [payer_reason] if payer_reason else []
        proposals: list[Proposal] = []
        owners = {self.invoices[i].client_id for i in refs}
        # A number of another client's invoice from a payer we know is most
        # likely a typo of one of the payer's own numbers.
        contradicted = bool(refs) and client is not None and client not in owners
        if refs:
            proposals.append(
                self._by_reference(
                    line, refs, ref_reasons, ambiguous or contradicted, client, payer
                )
            )
        # A number that names an invoice the amount does not pay, from a payer
        # not known to be its client, may be a typo of the invoice it pays:
        # those are ranked, never applied on their own.
        misfit = (
            bool(refs)
            and not contradicted
            and client is None
            and self.fits(line.amount, sum(self.invoices[i].balance for i in refs))
            not in ("exact", "fee")
        )
        if not refs or contradicted or misfit:
            typos = [
                i
                for i in self.typo_hits(line)
                if self.invoices[i].currency == line.currency
                and (client is None or self.invoices[i].client_id == client)
                and i not in refs
            ]
            found = self._by_typo(line, typos, client, payer)
            for proposal in found if misfit else ():
                proposal.rule = None
            proposals.extend(found)
        # A reference the rules accept needs no other evidence: skip the costly searches.
        if client is not None and not (proposals and proposals[0].rule):
            proposals.extend(self._by_payer(line, client, payer))
        if not (proposals and proposals[0].rule):
            proposals.extend(self._by_amount(line))
        return _ranked(proposals, self.config.review_candidates)

    def _by_reference(
        self,
        line: Line,
        refs: list[int],
        reasons: list[str],
        ambiguous: bool,
        client: int | None,
        payer: list[str],
    ) -> Proposal:
        balance = sum(self.invoices[i].balance for i in refs)
        fit = self.fits(line.amount, balance)
        owners = {self.invoices[i].client_id for i in refs}
        confirmed = client is not None and owners == {client}
        why = [*reasons, _fit_reason(fit, line.amount, balance, len(refs))]
        why += payer if confirmed else []
        confidence = 0.6 + (0.3 if fit in ("exact", "fee") else 0.1) + (0.08 if confirmed else 0)
        extra, date_reason = self._date_reason(line, refs)
        why += [date_reason] if date_reason else []
        rule = None
        if not ambiguous and len(owners) == 1:
            if fit in ("exact", "fee"):
                rule = "reference"
            elif confirmed:
                rule = "reference+payer"
        return Proposal(tuple(refs), min(confidence + extra, 0.99), why, rule)

    def _by_typo(
        self, line: Line, typos: list[int], client: int | None, payer: list[str]
    ) -> list[Proposal]:
        proposals = []
        fitting = [
            i for i in typos if self.fits(line.amount, self.invoices[i].balance) in ("exact", "fee")
        ]
        for invoice_id in typos:
            invoice = self.invoices[invoice_id]
            fit = self.fits(line.amount, invoice.balance)
            confirmed = client == invoice.client_id
            why = [
                f"invoice number {invoice.number} at one typo from a number in the text",
                _fit_reason(fit, line.amount, invoice.balance, 1),
                *(payer if confirmed else []),
            ]
            likeness, name_reason = (
                (0.0, None) if confirmed else self._likeness(line, invoice.client_id)
            )
            why += [name_reason] if name_reason else []
            extra, date_reason = self._date_reason(line, (invoice_id,))
            why += [date_reason] if date_reason else []
            confidence = (
                0.45 + (0.3 if fit in ("exact", "fee") else 0.05) + (0.15 if confirmed else 0)
            ) + (likeness + extra)
            rule = None
            if (fit in ("exact", "fee") and fitting == [invoice_id]) or (
                confirmed and len(typos) == 1
            ):
                rule = "typo"
            proposals.append(Proposal((invoice_id,), min(confidence, 0.95), why, rule))
        return proposals

    def _by_payer(self, line: Line, client: int, payer: list[str]) -> list[Proposal]:
        ids = self.client_open(client, line.currency)
        if not ids:
            return []
        groups = self.subsets(ids, line.amount)
        proposals = []
        for group in groups:
            balance = sum(self.invoices[i].balance for i in group)
            fit = self.fits(line.amount, balance)
            numbers = ", ".join(self._no(i) for i in group)
            what = (
                f"amount equals the balance of {numbers}"
                if len(group) == 1
                else (f"amount equals the sum of {len(group)} open invoices ({numbers})")
            )
            why = [
                *payer,
                what if fit == "exact" else f"{what}, less {_money(balance - line.amount)} of fees",
            ]
            extra, date_reason = self._date_reason(line, group)
            why += [date_reason] if date_reason else []
            rule = "payer+amount" if len(groups) == 1 else None
            distance = self._distance(line, group)
            # The simpler explanation first: an exact amount before one less
            # fees, one invoice before a sum of several.
            simpler = (0.0 if fit == "exact" else -0.02) - 0.01 * (len(group) - 1)
            confidence = min(0.25 + 0.5 + extra, 0.9) + simpler
            proposals.append(Proposal(group, confidence, why, rule, distance))
        if not groups:
            # Part of the oldest balance, or more than everything owed: a person decides.
            oldest = ids[0]
            balance = self.invoices[oldest].balance
            fit = self.fits(line.amount, balance)
            why = [*payer, _fit_reason(fit, line.amount, balance, 1), "oldest open invoice"]
            proposals.append(Proposal((oldest,), 0.4, why))
        return proposals

    def _by_amount(self, line: Line) -> list[Proposal]:
        """Invoices of any client whose balance the amount pays: weak evidence, never applied."""
        found = self._nearest_with_balance(line, 20)
        proposals = []
        for invoice_id in found:
            extra, date_reason = self._date_reason(line, (invoice_id,))
            likeness, name_reason = self._likeness(line, self.invoices[invoice_id].client_id)
            distance = self._lateness(line, invoice_id)
            why = [
                "amount equals the balance",
                *([date_reason] if date_reason else []),
                *([name_reason] if name_reason else []),
            ]
            proposals.append(Proposal((invoice_id,), 0.3 + extra + likeness, why, None, distance))
        proposals.sort(key=_strength, reverse=True)
        return proposals[: self.config.review_candidates]

    def _likeness(self, line: Line, client: int) -> tuple[float, str | None]:
        """Weak evidence from a payer's name like the client's, with no unique winner needed."""
        score = self.name_likeness(line, client)
        if not score:
            return 0.0, None
        name = self.clients.get(client, client)
        return score / 1000, f"payer {line.payer!r} is like {name} (name {score:.0f}%)"

    def _nearest_with_balance(self, line: Line, count: int) -> list[int]:
        """Up to `count` invoices whose balance is the amount, due nearest the payment date.

        A usual price (a monthly retainer) may be the balance of thousands of
        invoices: those are kept sorted by due date, and the search walks out
        from the payment's date instead of looking at them all.
        """
        key = (line.currency, line.amount)
        bucket = self.by_amount.get(key)
        if not bucket:
            return []
        if len(bucket) <= count:
            return list(bucket)
        dated = self._by_due.get(key)
        if dated is None:
            dated = self._by_due[key] = sorted(
                (self.invoices[i].due_on.toordinal(), i) for i in bucket
            )
        day = line.booking_date.toordinal() - self.delays.house()
        right = bisect_left(dated, (day, 0))
        left = right - 1
        found: list[int] = []
        while len(found) < count and (left >= 0 or right < len(dated)):
            take_left = right >= len(dated) or (
                left >= 0 and day - dated[left][0] <= dated[right][0] - day
            )
            if take_left:
                invoice_id = dated[left][1]
                left -= 1
            else:
                invoice_id = dated[right][1]
                right += 1
            if invoice_id in bucket:
                found.append(invoice_id)
        return found

    # -- applying ----------------------------------------------------------------

    def plan(self, line: Line, invoice_ids: Sequence[int]) -> list[Part]:
        """How the amount is shared: oldest first, fees within tolerance, the rest as credit."""
        ordered = sorted(invoice_ids, key=lambda i: (self.invoices[i].due_on, i))
        remaining = line.amount
        parts: list[Part] = []
        for invoice_id in ordered:
            invoice = self.invoices[invoice_id]
            take = min(remaining, invoice.balance)
            if take > 0:
                parts.append(Part(invoice_id, invoice.client_id, "payment", take))
                remaining -= take
        balance = sum(self.invoices[i].balance for i in ordered)
        if ordered and self.fits(line.amount, balance) == "fee" and line.amount < balance:
            last = ordered[-1]
            parts.append(Part(last, self.invoices[last].client_id, "fee", balance - line.amount))
        if remaining > 0 and ordered:
            parts.append(Part(None, self.invoices[ordered[-1]].client_id, "credit", remaining))
        return parts

    def learn_delays(self, line: Line, parts: Iterable[Part]) -> None:
        """Remember how late (or early) the client paid: it ranks its later payments.

        A payment of several invoices counts once, from the newest due date:
        the older ones were waiting for it, which says little of the habit.
        """
        paid = [
            self.invoices[part.invoice_id]
            for part in parts
            if part.invoice_id is not None and part.kind == "payment"
        ]
        if paid:
            newest = max(paid, key=lambda invoice: invoice.due_on)
            self.delays.add(newest.client_id, (line.booking_date - newest.due_on).days)

    def apply(self, parts: Iterable[Part]) -> None:
        for part in parts:
            if part.invoice_id is not None:
                self._move(part.invoice_id, -part.cents)

    def _move(self, invoice_id: int, delta: int) -> None:
        invoice = self.invoices[invoice_id]
        self.by_amount[(invoice.currency, invoice.balance)].pop(invoice_id, None)
        invoice.balance += delta
        if invoice.balance > 0:
            key = (invoice.currency, invoice.balance)
            self.by_amount[key][invoice_id] = None
            if key in self._by_due:
                insort(self._by_due[key], (invoice.due_on.toordinal(), invoice_id))


def _fit_reason(fit: str, amount: int, balance: int, count: int) -> str:
    what = "the balance" if count == 1 else f"the {count} balances"
    if fit == "exact":
        return f"amount equals {what}"
    if fit == "fee":
        return f"amount is {what} less {_money(balance - amount)} of bank fees (within tolerance)"
    if fit == "partial":
        return f"partial payment: {_money(amount)} of {_money(balance)}"
    return f"overpayment: {_money(amount - balance)} more than {what}"


def _money(cents: int) -> str:
    return f"{cents / 100:.2f}"


def _strength(proposal: Proposal) -> tuple[bool, float, int]:
    return proposal.rule is not None, proposal.confidence, -proposal.distance


def _ranked(proposals: list[Proposal], limit: int) -> list[Proposal]:
    """Best first, each set of invoices once (with the best reasons found for it)."""
    best: dict[tuple[int, ...], Proposal] = {}
    for proposal in proposals:
        key = tuple(sorted(proposal.invoice_ids))
        known = best.get(key)
        if known is None or _strength(proposal) > _strength(known):
            best[key] = proposal
    ordered = sorted(best.values(), key=_strength, reverse=True)
    # A rule only holds when nothing else comes close: a second proposal with
    # a rule of its own makes the first one doubtful.
    if len(ordered) > 1 and ordered[0].rule and ordered[1].rule:
        ordered[0].rule = None
    return ordered[:limit]


# -- loading and storing ----------------------------------------------------------


@dataclass
class MatchSummary:
    auto: int = 0
    review: int = 0
    unmatched: int = 0
    # Line id -> its proposals, best first (the first applied when auto).
    proposals: dict[int, list[Proposal]] = field(default_factory=dict)


_OPEN = """
SELECT id, number, client_id, currency, issued_on, due_on, total_cents, paid_cents,
       creditor_reference
  FROM invoice WHERE state IN ('open', 'disputed') AND paid_cents < total_cents
"""


def load_book(connection: Connection, banks: BanksConfig) -> Book:
    # A few hundred distinct days among tens of thousands of invoices: each parsed once.
    days: dict[Any, date] = {}

    def day(value: str | date) -> date:
        parsed = days.get(value)
        if parsed is None:
            parsed = days[value] = as_date(value)
        return parsed

    invoices = [
        OpenInvoice(
            ident, number, client, currency, day(issued), day(due), total, total - paid, reference
        )
        for ident, number, client, currency, issued, due, total, paid, reference in (
            connection.execute(text(_OPEN)).all()
        )
    ]
    clients = {row[0]: row[1] for row in connection.execute(text("SELECT id, name FROM client"))}
    ibans = {
        row[0]: row[1] for row in connection.execute(text("SELECT iban, client_id FROM clientiban"))
    }
    by_name = {name: client for client, name in clients.items()}
    for name, listed in banks.client_ibans.items():
        if name in by_name:
            for iban in listed:
                ibans.setdefault(iban.replace(" ", "").upper(), by_name[name])
    return Book(invoices, clients, ibans, banks.matching, _delays(connection))


# The newest due date each live payment paid, most recent payments first.
_PAID = """
SELECT i.client_id, b.booking_date, max(i.due_on)
  FROM allocation a
  JOIN banktransaction b ON b.id = a.transaction_id
  JOIN invoice i ON i.id = a.invoice_id
 WHERE a.reversed_at IS NULL AND a.kind = 'payment' AND a.cents > 0
 GROUP BY a.transaction_id, i.client_id, b.booking_date
 ORDER BY a.transaction_id DESC
 LIMIT :limit
"""
# Enough recent payments to know each client's habit, not the whole history.
DELAY_HISTORY = 20_000


def _delays(connection: Connection) -> Delays:
    """Clients' payment delays, from the payments already matched (by rule or person)."""
    delays = Delays()
    for client, booked, due in connection.execute(text(_PAID), {"limit": DELAY_HISTORY}):
        delays.add(client, (as_date(booked) - as_date(due)).days)
    return delays


# What a Line is read from (see _line), then anything a query adds after it.
_LINE_COLUMNS = (
    "id, booking_date, amount_cents, currency, counterparty_name, counterparty_iban, "
    "structured_reference, text"
)
_LINES = (
    f"SELECT {_LINE_COLUMNS} FROM banktransaction "
    "WHERE match_state = 'new' ORDER BY booking_date, id"
)


def _line(row: Sequence[Any]) -> Line:
    return Line(row[0], as_date(row[1]), row[2], row[3], row[4], row[5], row[6], row[7])


def match_new_lines(
    engine: Engine, banks: BanksConfig, now: datetime, *, keep_proposals: bool = False
) -> MatchSummary:
    """Match every line not yet matched: apply what the rules allow, queue the rest.

    `keep_proposals` keeps every line's proposals in the summary (for
    scoring them); a large statement's would otherwise only cost memory.
    """
    # The indexes are hundreds of thousands of small acyclic objects: the
    # cycle collector would rescan them again and again for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with write(engine) as connection:
            book = load_book(connection, banks)
            lines = [_line(row) for row in connection.execute(text(_LINES))]
            return _match(connection, book, lines, now, allow_auto=True, keep=keep_proposals)
    finally:
        if collecting:
            gc.enable()


# Lines matched between two writes: bounds what a large statement holds in memory.
FLUSH_LINES = 5000


def _match(
    connection: Connection,
    book: Book,
    lines: list[Line],
    now: datetime,
    *,
    allow_auto: bool,
    keep: bool = True,
) -> MatchSummary:
    summary = MatchSummary()
    store = _Store(now)
    for number, line in enumerate(lines, start=1):
        if number % FLUSH_LINES == 0:
            store.flush(connection)
            store = _Store(now)
        proposals = book.propose(line)
        if keep:
            summary.proposals[line.id] = proposals
        if proposals and allow_auto and proposals[0].rule:
            best = proposals[0]
            parts = book.plan(line, best.invoice_ids)
            book.apply(parts)
            book.learn_delays(line, parts)
            store.allocate(line, parts, f"rule:{best.rule}", best.confidence, best.reasons)
            store.state(line.id, "matched", f"rule:{best.rule}")
            if line.iban and line.iban not in book.ibans and best.rule != "payer+amount":
                client = book.invoices[best.invoice_ids[0]].client_id
                book.ibans[line.iban] = client
                store.learn(line.iban, client)
            summary.auto += 1
        elif proposals:
            store.candidates(line.id, proposals)
            store.state(line.id, "review", None)
            summary.review += 1
        else:
            store.state(line.id, "unmatched", None)
            summary.unmatched += 1
    store.flush(connection)
    return summary


# json.dumps with an option builds an encoder on every call: thousands of rows share one.
_JSON = json.JSONEncoder(ensure_ascii=False)


class _Store:
    """Everything a matching run writes, gathered and then written in bulk."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.allocations: list[dict[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        self.queue: list[dict[str, Any]] = []
        self.learned: list[dict[str, Any]] = []
        self.touched: dict[int, int] = defaultdict(int)

    def allocate(
        self, line: Line, parts: list[Part], by: Actor, confidence: float | None, reasons: list[str]
    ) -> None:
        for part in parts:
            self.allocations.append(
                {
                    "transaction_id": line.id,
                    "invoice_id": part.invoice_id,
                    "client_id": part.client_id,
                    "kind": part.kind,
                    "cents": part.cents,
                    "by": by,
                    "at": self.now,
                    "confidence": confidence,
                    "reason": "; ".join(reasons),
                    "reversed_at": None,
                    "reversed_by": None,
                }
            )
            if part.invoice_id is not None:
                self.touched[part.invoice_id] += part.cents

    def state(self, line_id: int, state: str, by: Actor | None) -> None:
        self.states.append(
            {
                "id": line_id,
                "match_state": state,
                "matched_by": by,
                "matched_at": self.now if by else None,
            }
        )

    def candidates(self, line_id: int, proposals: list[Proposal]) -> None:
        for rank, proposal in enumerate(proposals, start=1):
            self.queue.append(
                {
                    "transaction_id": line_id,
                    "rank": rank,
                    "invoice_ids": ",".join(map(str, proposal.invoice_ids)),
                    "confidence": round(proposal.confidence, 3),
                    "reasons": _JSON.encode(proposal.reasons),
                }
            )

    def learn(self, iban: str, client: int) -> None:
        self.learned.append(
            {"iban": iban, "client_id": client, "source": "confirmed", "learned_at": self.now}
        )

    def flush(self, connection: Connection) -> None:
        ids = [row["id"] for row in self.states]
        candidates = table(MatchCandidate)
        for part in chunks(ids):
            connection.execute(candidates.delete().where(candidates.c.transaction_id.in_(part)))
        if self.states:
            update_many(connection, table(BankTransaction), self.states)
        insert_many(connection, candidates, self.queue)
        insert_many(connection, table(ClientIban), self.learned)
        _write_allocations(connection, self.allocations, self.now)


def _write_allocations(connection: Connection, rows: list[dict[str, Any]], now: datetime) -> None:
    """Store allocations, audit each, and move the invoices' paid_cents by them."""
    if not rows:
        return
    insert_many(connection, table(Allocation), rows)
    audits = [
        audit_row(
            now,
            row["by"],
            "unallocate" if row.get("reversed_at") else "allocate",
            "invoice" if row["invoice_id"] is not None else "client",
            row["invoice_id"] if row["invoice_id"] is not None else row["client_id"],
            {
                "transaction": row["transaction_id"],
                "kind": row["kind"],
                "cents": row["cents"],
                "reason": row["reason"],
            },
        )
        for row in rows
    ]
    write_audit(connection, audits)
    deltas: dict[int, int] = defaultdict(int)
    for row in rows:
        if row["invoice_id"] is not None:
            deltas[row["invoice_id"]] += row["cents"]
    _move_paid(connection, deltas, now)


_MOVE_PAID = """
UPDATE invoice SET paid_cents = paid_cents + ?,
       state = CASE WHEN paid_cents + ? >= total_cents AND state = 'open' THEN 'paid'
                    WHEN paid_cents + ? < total_cents AND state = 'paid' THEN 'open'
                    ELSE state END,
       updated_at = ?
 WHERE id = ?
"""


def _move_paid(connection: Connection, deltas: dict[int, int], now: datetime) -> None:
    """paid_cents += delta; an invoice paid in full becomes paid, and open again if undone.

    One UPDATE for all, computed by the database from the stored values:
    nothing is read back first.
    """
    if not deltas:
        return
    if connection.dialect.name == "sqlite":
        # Straight to the driver, as core.db's bulk writes do: per-row
        # parameter processing would cost more than the updates.
        connection.exec_driver_sql(
            _MOVE_PAID, [(d, d, d, stamp(now), i) for i, d in deltas.items()]
        )
        return
    invoice = table(Invoice)
    paid = invoice.c.paid_cents + bindparam("delta")
    state = case(
        (and_(paid >= invoice.c.total_cents, invoice.c.state == "open"), "paid"),
        (and_(paid < invoice.c.total_cents, invoice.c.state == "paid"), "open"),
        else_=invoice.c.state,
    )
    statement = (
        invoice.update()
        .where(invoice.c.id == bindparam("invoice"))
        .values(paid_cents=paid, state=state, updated_at=now)
    )
    connection.execute(
        statement, [{"invoice": ident, "delta": delta} for ident, delta in deltas.items()]
    )


# -- what people do ------------------------------------------------------------------


class MatchingError(Exception):
    """A request about a line or an invoice that cannot be done; the message says why."""


def _load_line(connection: Connection, line_id: int) -> tuple[Line, str]:
    row = connection.execute(
        text(f"SELECT {_LINE_COLUMNS}, match_state FROM banktransaction WHERE id = :id"),
        {"id": line_id},
    ).first()
    if row is None:
        raise MatchingError(f"no statement line #{line_id}")
    return _line(row), row[8]


def accept(
    engine: Engine,
    banks: BanksConfig,
    line_id: int,
    invoice_numbers: Sequence[str],
    actor: Actor,
    now: datetime,
) -> list[Part]:
    """Apply a line to the invoices named (or to its best candidate), as `actor` decided."""
    with write(engine) as connection:
        line, state = _load_line(connection, line_id)
        if state == "matched":
            raise MatchingError(f"line #{line_id} is already matched (undo it first)")
        if line.amount <= 0:
            raise MatchingError(f"line #{line_id} is a debit: nothing to match")
        book = load_book(connection, banks)
        reasons = [f"confirmed by {actor}"]
        if invoice_numbers:
            by_number = {invoice.number: invoice.id for invoice in book.invoices.values()}
            missing = [number for number in invoice_numbers if number not in by_number]
            if missing:
                raise MatchingError(f"no open invoice {', '.join(missing)}")
            ids: tuple[int, ...] = tuple(by_number[number] for number in invoice_numbers)
            confidence = None
        else:
            row = connection.execute(
                text(
                    "SELECT invoice_ids, confidence, reasons FROM matchcandidate "
                    "WHERE transaction_id = :id ORDER BY rank LIMIT 1"
                ),
                {"id": line_id},
            ).first()
            if row is None:
                raise MatchingError(f"line #{line_id} has no candidate: name the invoices")
            ids = tuple(int(part) for part in row[0].split(","))
            if any(book.invoices.get(i) is None or book.invoices[i].balance <= 0 for i in ids):
                raise MatchingError(f"line #{line_id}: its candidate is no longer open")
            confidence = row[1]
            reasons = [*json.loads(row[2]), *reasons]
        parts = book.plan(line, ids)
        store = _Store(now)
        store.allocate(line, parts, actor, confidence, reasons)
        store.state(line_id, "matched", actor)
        if line.iban and line.iban not in book.ibans:
            store.learn(line.iban, book.invoices[ids[0]].client_id)
        store.flush(connection)
        return parts


def reject(engine: Engine, line_id: int, actor: Actor, now: datetime) -> None:
    """Take a line out of the review queue: it pays none of our invoices."""
    with write(engine) as connection:
        _line_row, state = _load_line(connection, line_id)
        if state == "matched":
            raise MatchingError(f"line #{line_id} is matched: undo it instead")
        store = _Store(now)
        store.state(line_id, "rejected", actor)
        store.flush(connection)
        entry = audit_row(now, actor, "reject", "banktransaction", line_id, {"was": state})
        write_audit(connection, [entry])


def restore(engine: Engine, banks: BanksConfig, line_id: int, actor: Actor, now: datetime) -> str:
    """Bring a rejected line back: it is proposed again as a new line would be, never applied.

    Returns the state it comes back in (review, or unmatched when nothing fits now).
    """
    with write(engine) as connection:
        line, state = _load_line(connection, line_id)
        if state != "rejected":
            raise MatchingError(f"line #{line_id} is not rejected ({state})")
        _match(connection, load_book(connection, banks), [line], now, allow_auto=False)
        _line_row, back = _load_line(connection, line_id)
        detail = {"was": state, "now": back}
        write_audit(
            connection, [audit_row(now, actor, "restore", "banktransaction", line_id, detail)]
        )
        return back


def unallocate(
    engine: Engine, banks: BanksConfig, line_id: int, actor: Actor, now: datetime
) -> int:
    """Reverse a line's allocations (invoices owe again) and put it back in the review queue.

    Returns the cents given back to invoices.
    """
    with write(engine) as connection:
        return _unallocate(connection, banks, line_id, actor, now)


def undo_accept(
    engine: Engine,
    banks: BanksConfig,
    line_id: int,
    actor: str,
    now: datetime,
    window: timedelta,
) -> int:
    """Take back, within `window` of it, the match just made on a line.

    As `unallocate` (the invoices owe as before, in the state they were in;
    the line is back for review), and the account the match taught is
    forgotten; the audit records the undo. Refused once `window` is over:
    the match stays, and `unallocate` reverses it. Returns the cents given back.
    """
    with write(engine) as connection:
        line, _state = _load_line(connection, line_id)
        allocations = table(Allocation)
        at = connection.execute(
            select(func.max(allocations.c.at)).where(
                allocations.c.transaction_id == line_id, allocations.c.reversed_at.is_(None)
            )
        ).scalar()
        if at is None:
            raise MatchingError(f"line #{line_id} has no match to undo")
        if now >= at + window:
            seconds = int(window.total_seconds())
            raise MatchingError(
                f"too late: undo works for {seconds} seconds"
                " (in Recent decisions, u reverses the match)"
            )
        given_back = _unallocate(connection, banks, line_id, actor, now)
        ibans = table(ClientIban)
        if line.iban:
            connection.execute(
                ibans.delete().where(
                    ibans.c.iban == line.iban,
                    ibans.c.source == "confirmed",
                    ibans.c.learned_at == at,
                )
            )
        write_audit(
            connection,
            [
                audit_row(
                    now,
                    actor,
                    "undo_accept",
                    "banktransaction",
                    line_id,
                    {"accepted_at": at.isoformat()},
                )
            ],
        )
        return given_back


def _unallocate(
    connection: Connection, banks: BanksConfig, line_id: int, actor: str, now: datetime
) -> int:
    line, state = _load_line(connection, line_id)
    allocations = table(Allocation)
    rows = (
        connection.execute(
            select(allocations).where(
                allocations.c.transaction_id == line_id, allocations.c.reversed_at.is_(None)
            )
        )
        .mappings()
        .all()
    )
    if not rows:
        raise MatchingError(f"line #{line_id} has no allocation to undo ({state})")
    connection.execute(
        allocations.update()
        .where(allocations.c.transaction_id == line_id, allocations.c.reversed_at.is_(None))
        .values(reversed_at=now, reversed_by=actor)
    )
    reversed_rows = [
        {**dict(row), "cents": -row["cents"], "by": actor, "reversed_at": now} for row in rows
    ]
    deltas: dict[int, int] = defaultdict(int)
    for row in reversed_rows:
        if row["invoice_id"] is not None:
            deltas[row["invoice_id"]] += row["cents"]
    _move_paid(connection, deltas, now)
    write_audit(
        connection,
        [
            audit_row(
                now,
                actor,
                "unallocate",
                "invoice" if row["invoice_id"] is not None else "client",
                row["invoice_id"],
                {"transaction": line_id, "kind": row["kind"], "cents": -row["cents"]},
            )
            for row in reversed_rows
        ],
    )
    book = load_book(connection, banks)
    _match(connection, book, [line], now, allow_auto=False)
    return sum(-row["cents"] for row in reversed_rows if row["invoice_id"] is not None)


# -- what the command line shows -------------------------------------------------------


@dataclass
class MatchView:
    line: int
    booking_date: str
    amount_cents: int
    currency: str
    payer: str
    text: str
    state: str
    # "auto", a person; in the review queue "proposed", or "no candidate"
    # for a credit nothing open fits.
    by: Actor
    invoices: list[str]
    cents: list[int]
    confidence: float | None
    reasons: list[str]


def list_matches(engine: Engine, *, review_only: bool = False) -> list[MatchView]:
    """Matched lines with their allocations, and the review queue with each line's best
    candidate (credits with none included, marked "no candidate")."""
    awaiting = AWAITING_REVIEW if review_only else f"({AWAITING_REVIEW} OR match_state = 'matched')"
    with engine.connect() as connection:
        numbers: dict[int, str] = dict(
            connection.execute(text("SELECT id, number FROM invoice")).all()
        )
        lines = connection.execute(
            text(
                "SELECT id, booking_date, amount_cents, currency, counterparty_name, text, "
                f"match_state, matched_by FROM banktransaction WHERE {awaiting} "
                "ORDER BY booking_date, id"
            )
        ).all()
        allocated: dict[int, list[Any]] = defaultdict(list)
        for row in connection.execute(
            text(
                "SELECT transaction_id, invoice_id, kind, cents, confidence, reason "
                "FROM allocation WHERE reversed_at IS NULL ORDER BY id"
            )
        ):
            allocated[row[0]].append(row)
        queued: dict[int, Any] = {}
        for row in connection.execute(
            text(
                "SELECT transaction_id, invoice_ids, confidence, reasons "
                "FROM matchcandidate WHERE rank = 1"
            )
        ):
            queued[row[0]] = row
    views = []
    for line in lines:
        if line[6] == "matched":
            parts = allocated.get(line[0], [])
            by = "auto" if (line[7] or "").startswith("rule:") else line[7] or ""
            invoices = [
                numbers.get(part[1], "") if part[1] is not None else "client credit"
                for part in parts
            ]
            invoices = [
                f"{name} ({part[2]})" if part[2] != "payment" else name
                for name, part in zip(invoices, parts, strict=True)
            ]
            cents = [part[3] for part in parts]
            confidence = parts[0][4] if parts else None
            reasons = parts[0][5].split("; ") if parts else []
        else:
            best = queued.get(line[0])
            by = "proposed" if best else "no candidate"
            ids = [int(i) for i in best[1].split(",")] if best else []
            invoices = [numbers.get(i, str(i)) for i in ids]
            cents = []
            confidence = best[2] if best else None
            reasons = json.loads(best[3]) if best else []
        views.append(
            MatchView(
                line=line[0],
                booking_date=str(line[1]),
                amount_cents=line[2],
                currency=line[3],
                payer=line[4],
                text=line[5],
                state=line[6],
                by=by,
                invoices=invoices,
                cents=cents,
                confidence=confidence,
                reasons=reasons,
            )
        )
    return views
