"""Billing from the engagement letters: contracts, the monthly run, numbering,
credit notes, the invoice documents (Factur-X), SEPA direct debit and the
billing audit (docs/billing.md).

`core.billing.model` holds the plain values the parts pass each other: what a
run would bill (a draft), and what an issued invoice or credit note says (a
document). Every invoice issued enters the receivables (core.receivables) as
an imported one does.
"""
