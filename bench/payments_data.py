"""A labelled set for payment matching: clients, open invoices, statement lines, true matches.

Lines come in the kinds a real statement holds: clean references, RF
references, references with typos or lost zeros, payer names only, amounts
only, partial payments, one payment for several invoices, payments less
bank fees, and credits that pay none of our invoices.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from core.receivables.invoices import creditor_reference

KINDS = {
    "clean": 40, "rf": 5, "typo": 10, "names": 10, "amounts": 4, "partial": 6,
    "multi": 8, "fees": 7, "none": 10,
}  # fmt: skip
SURNAMES = [
    "Dupont",
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefebvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupuis",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefevre",
    "Faure",
    "Andre",
    "Mercier",
    "Blanc",
    "Guerin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "Francois",
    "Legrand",
    "Gauthier",
]
TRADES = [
    "Conseil",
    "Design",
    "Digital",
    "Studio",
    "Immobilier",
    "Transports",
    "Boulangerie",
    "Architecture",
    "Media",
    "Logistique",
    "Pharma",
    "Optique",
    "Energie",
    "Services",
    "Batiment",
    "Informatique",
    "Voyages",
    "Textile",
    "Agro",
    "Finance",
]
FORMS = ["SARL", "SAS", "SA", "EURL", ""]
CITIES = [
    "Lyon",
    "Nantes",
    "Lille",
    "Rennes",
    "Nice",
    "Brest",
    "Metz",
    "Caen",
    "Dijon",
    "Tours",
    "Reims",
    "Annecy",
    "Pau",
    "Vannes",
    "Niort",
    "Albi",
    "Agen",
    "Rodez",
    "Laval",
    "Colmar",
    "Sete",
    "Arles",
    "Blois",
    "Cholet",
    "Auxerre",
    "Vichy",
    "Dax",
    "Millau",
    "Gap",
    "Menton",
]


@dataclass
class LabelledLine:
    kind: str
    amount: int
    text: str
    payer: str
    iban: str | None
    reference: str | None
    booking_date: date
    truth: tuple[int, ...]  # invoice indexes (0-based), empty when none


@dataclass
class Dataset:
    clients: list[str]
    ibans: list[str]
    # (number, client index, issued, due, total cents)
    invoices: list[tuple[str, int, date, date, int]]
    lines: list[LabelledLine] = field(default_factory=list)


def _iban(rng: random.Random) -> str:
    body = f"{rng.randrange(10**10):010d}{rng.randrange(10**11):011d}{rng.randrange(100):02d}"
    bban = "30006" + body[:18]
    digits = "".join(str(int(c, 36)) for c in bban + "FR00")
    return f"FR{98 - int(digits) % 97:02d}{bban}"


def generate(invoices: int, lines: int, seed: int = 11) -> Dataset:
    rng = random.Random(seed)
    client_count = max(10, invoices // 15)
    # Names alike but never the same once legal forms are set aside.
    names: dict[str, str] = {}
    while len(names) < client_count:
        base = f"{rng.choice(SURNAMES)} {rng.choice(TRADES)} {rng.choice(CITIES)}"
        names.setdefault(base, f"{base} {rng.choice(FORMS)}".strip())
    clients = sorted(names.values())
    ibans = [_iban(rng) for _ in clients]
    today = date(2026, 11, 23)
    data = Dataset(clients, ibans, [])
    by_client: dict[int, list[int]] = {}
    retainer_months: dict[int, set[int]] = {}
    # Round prices, and many clients on the same ones.
    retainers = [rng.randrange(5_000, 300_000, 1_000) for _ in clients]
    for index in range(invoices):
        client = rng.randrange(client_count)
        issued = today - timedelta(days=rng.randrange(10, 200))
        # Most invoices are for work done (VAT included, so any cents); some
        # are the client's monthly retainer: the same price, issued on the 1st.
        month = rng.randrange(5, 12)
        if rng.random() < 0.2 and month not in retainer_months.setdefault(client, set()):
            retainer_months[client].add(month)
            issued, amount = date(2026, month, 1), retainers[client]
        else:
            amount = rng.randrange(5_000, 500_000)
        data.invoices.append(
            (f"INV-2026-{index + 1:05d}", client, issued, issued + timedelta(days=30), amount)
        )
        by_client.setdefault(client, []).append(index)
    free = list(range(invoices))
    rng.shuffle(free)
    used: set[int] = set()
    kinds = [kind for kind, weight in KINDS.items() for _ in range(weight)]
    for _ in range(lines):
        kind = rng.choice(kinds)
        data.lines.append(_line(rng, data, kind, free, used, by_client, today))
    return data


def _line(rng, data, kind, free, used, by_client, today) -> LabelledLine:  # type: ignore[no-untyped-def]
    booking = today - timedelta(days=rng.randrange(0, 5))
    if kind == "none":
        return LabelledLine(kind, rng.randrange(1_000, 300_000) * 10 + 3, rng.choice(
            ["Remboursement", "Virement interne", "Subvention", "Avoir fournisseur"]),
            f"{rng.choice(SURNAMES)} Holding", None, None, booking, ())  # fmt: skip
    index = free.pop()
    used.add(index)
    number, client, _issued, due, total = data.invoices[index]
    # People pay around the due date: a little early, more often late.
    booking = due + timedelta(days=rng.randrange(-5, 25))
    payer = data.clients[client]
    iban: str | None = data.ibans[client]
    truth: tuple[int, ...] = (index,)
    amount, text, reference = total, f"Facture {number}", None
    if kind == "rf":
        text, reference = "Paiement", creditor_reference(number)
    elif kind == "typo":
        digits = number.split("-")[2]
        variant = rng.randrange(3)
        if variant == 0:
            text = f"fact inv 2026 {int(digits)}"
        elif variant == 1:
            text = f"Facture INV-2026-{digits.replace('0', 'O', 1)}"
        else:
            position = rng.randrange(len(digits))
            wrong = str((int(digits[position]) + rng.randrange(1, 9)) % 10)
            text = f"Facture INV-2026-{digits[:position]}{wrong}{digits[position + 1 :]}"
    elif kind == "names":
        text = rng.choice(["Paiement", "Virement", "Reglement facture"])
        payer = payer.upper().replace(" SARL", "").replace(" SAS", "")
        iban = None
    elif kind == "amounts":
        text, payer, iban = "VIR SEPA", "", None
    elif kind == "partial":
        amount = total * rng.randrange(30, 90) // 100
        text = f"Acompte {number}"
    elif kind == "multi":
        others = [i for i in by_client[client] if i not in used and i in free][:2]
        for other in others:
            free.remove(other)
            used.add(other)
        truth = (index, *others)
        amount = sum(data.invoices[i][4] for i in truth)
        text = "Factures " + " ".join(data.invoices[i][0] for i in truth)
    elif kind == "fees":
        amount = total - rng.randrange(1, max(2, min(total // 100, 500)))
    return LabelledLine(kind, amount, text, payer, iban, reference, booking, truth)
