"""MT940's `:86:` (information to the account owner) in the dialects banks write.

What matching needs from it: the payment's text (where an invoice number
is), the payer's name and IBAN, the end-to-end id, a structured reference.

- German (DK) and Triodos: a 3-digit business code (GVC), then subfields
  `?00` booking text, `?20`-`?29` and `?60`-`?63` purpose, `?30` BIC,
  `?31` IBAN, `?32`/`?33` name (Triodos writes `>` for `?`). The purpose
  holds SEPA keys: `EREF+` end-to-end id, `SVWZ+` the remittance text...
- SEPA slash codes (ING, Rabobank, ABN AMRO, most of Europe):
  `/EREF/.../REMI/.../ORDP//NAME/.../IBAN/...`, ING's `/CNTP/IBAN/BIC/NAME/CITY/`,
  `/REMI/USTD//text/` or `/REMI/STRD/CUR/reference/`. Control codes
  (`/TRTP/`, `/ISDT/`, ...) are not text.
- ABN AMRO's labelled columns: `IBAN: ... BIC: ... NAAM: ... OMSCHRIJVING: ...`,
  and Knab's text followed by `REK: iban/NAAM: name`.
- Anything else is free text, kept whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.receivables.statements.records import clean


@dataclass
class Details:
    text: str = ""
    name: str = ""
    iban: str = ""
    end_to_end_id: str = ""
    # A creditor or payment reference, when the bank gives one apart.
    reference: str = ""


_GERMAN = re.compile(r"^(\d{3})?([?>])(\d{2})")
# The purpose lines of the DK format are 27 characters: a full one was cut mid-word.
_GERMAN_LINE = 27
_SEPA_KEYS = re.compile(r"\b(EREF|KREF|MREF|CRED|DEBT|COAM|OAMT|SVWZ|ABWA|ABWE|IBAN|BIC)\+")
_SLASH_CODES = (
    "EREF|KREF|MREF|CRED|DEBT|REMI|ORDP|BENM|NAME|IBAN|BIC|ADDI|MARF|PREF|RTRN|PURP|SVCL|CSID"
    "|CNTP|TRTP|ISDT|BUSP|ULTC|ULTD|ULTB|EXCH|CHGS|OCMT|ACCW|IREF|ID"
)
_SLASH = re.compile(rf"/({_SLASH_CODES})/")
# Knab writes "REK: iban/NAAM: name" on a line of its own, after a full line
# glued to it: its label may follow a word without a space.
_LABELS = re.compile(
    r"(\bIBAN|\bBIC|\bNAAM|\bOMSCHRIJVING|\bKENMERK|\bBETALINGSKENM\.|\bMACHTIGING|"
    r"\bINCASSANT|\bID BEGUNSTIGDE|\bVALUTA|\bTRANSACTIEDATUM|REK):\s*"
)


def read_details(details: str) -> Details:
    """The parts of one `:86:` field (its wrapped lines already joined)."""
    text = details.strip()
    if not text:
        return Details()
    german = _GERMAN.match(text)
    if german is not None:
        return _german(text, german.group(2))
    codes = _SLASH.findall(text)
    if codes and (text.startswith("/") or len(codes) >= 2):
        return _slashed(text)
    if len(_LABELS.findall(text)) >= 2:
        return _labelled(text)
    return Details(text=clean(text))


def _german(text: str, separator: str) -> Details:
    parts = re.split(rf"{re.escape(separator)}(\d{{2}})", text)
    subfields: dict[str, list[str]] = {}
    for code, value in zip(parts[1::2], parts[2::2], strict=True):
        subfields.setdefault(code, []).append(value)
    purpose = [
        value
        for code in sorted(subfields)
        if "20" <= code <= "29" or "60" <= code <= "63"
        for value in subfields[code]
    ]
    joined = _join_cut(purpose)
    keyed = _keyed(joined)
    if keyed:
        # Text before the first key is free text too (some banks write it first).
        leading = clean(_SEPA_KEYS.split(joined)[0])
        body = keyed.get("SVWZ", "")
        remittance = clean(f"{leading} {body}")
    else:
        remittance = clean(joined)
    name = _join_cut([*subfields.get("32", []), *subfields.get("33", [])])
    iban = "".join(subfields.get("31", [])).replace(" ", "") or keyed.get("IBAN", "").replace(
        " ", ""
    )
    return Details(
        text=remittance or clean("".join(subfields.get("00", []))),
        name=clean(name),
        iban=iban,
        end_to_end_id=clean(keyed.get("EREF", "")),
        reference=clean(keyed.get("CRED", "")),
    )


def _join_cut(lines: list[str]) -> str:
    """Lines of a DK subfield as one text: glued after a full line, else a space."""
    text = ""
    for index, line in enumerate(lines):
        if index and len(lines[index - 1]) < _GERMAN_LINE:
            text += " "
        text += line
    return text


def _keyed(purpose: str) -> dict[str, str]:
    """'EREF+E1 SVWZ+Invoice 42' as {"EREF": "E1", "SVWZ": "Invoice 42"}."""
    parts = _SEPA_KEYS.split(purpose)
    found: dict[str, str] = {}
    for key, value in zip(parts[1::2], parts[2::2], strict=True):
        found.setdefault(key, value.strip())
    return found


def _slashed(text: str) -> Details:
    parts = _SLASH.split(text)
    fields: dict[str, str] = {}
    for code, value in zip(parts[1::2], parts[2::2], strict=True):
        value = value.strip("/ ")
        if value:
            fields.setdefault(code, value)
    remittance = fields.get("REMI", "")
    structured = re.match(r"^(USTD|STRD)/+(?:(?:CUR|ISO|SCOR)/+)?", remittance)
    reference = ""
    if structured is not None:
        if structured.group(1) == "STRD":
            reference = clean(remittance[structured.end() :])
        remittance = remittance[structured.end() :]
    remittance = clean(" ".join(part for part in (remittance, fields.get("ADDI", "")) if part))
    counterparty = fields.get("CNTP", "").split("/")
    name = fields.get("NAME") or (counterparty[2] if len(counterparty) > 2 else "")
    iban = fields.get("IBAN") or (counterparty[0] if counterparty[0] else "")
    return Details(
        text=remittance,
        name=clean(name),
        iban=iban.replace(" ", ""),
        end_to_end_id=clean(fields.get("EREF", "")),
        reference=reference or clean(fields.get("CRED", "")),
    )


def _labelled(text: str) -> Details:
    parts = _LABELS.split(text)
    fields: dict[str, str] = {}
    for label, value in zip(parts[1::2], parts[2::2], strict=True):
        fields.setdefault(label, clean(value).rstrip("/ "))
    remittance = " ".join(
        part for part in (fields.get("OMSCHRIJVING", ""), fields.get("BETALINGSKENM.", "")) if part
    )
    return Details(
        text=remittance or clean(parts[0]),
        name=fields.get("NAAM", ""),
        iban=(fields.get("IBAN") or fields.get("REK", "")).replace(" ", ""),
        end_to_end_id=fields.get("KENMERK", ""),
        reference=fields.get("BETALINGSKENM.", ""),
    )
