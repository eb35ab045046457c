"""What the matcher works on: the open invoices indexed, the lines, the
proposals, and the `Book` that weighs a line's evidence (see
core.receivables.aging.matching.rules for the rules).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import combinations

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from core.config.banks import MatchingConfig
from core.receivables.matching.rules import (
    _CONFUSABLE,
    _GROUP,
    Delays,
    _deletions,
    _groups,
    _reference_of,
    _sorted_words,
    _stripped,
    name_key,
)


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
        # core.receivables.invoices.creditor_reference), which a line's RF must equal.
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
