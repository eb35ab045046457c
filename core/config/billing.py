"""Settings of billing (`[billing]`: the seller, the numbering, direct debit) and of
outgoing email (`[email]`: the agency's SMTP server). See docs/billing.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SellerConfig(BaseModel):
    """The agency as its invoices name it: the mentions a French B2B invoice must carry."""

    model_config = ConfigDict(extra="forbid")

    # Unset: the top-level `agency`.
    name: str | None = None
    # The street lines of the address, then the postcode, the city and the country (ISO 3166).
    address: list[str] = Field(default_factory=list)
    postcode: str = ""
    city: str = ""
    country: str = Field(default="FR", pattern=r"^[A-Z]{2}$")
    # Legal form and capital, as printed ("SAS au capital de 10 000 €").
    legal_form: str = ""
    siren: str = ""
    vat_number: str = ""
    # Where transfers go, printed with the payment reference.
    iban: str = ""
    bic: str = ""
    email: str = ""
    phone: str = ""


class PartnerProfileConfig(BaseModel):
    """The columns of a partner's usage report, and how its services are named on invoices."""

    model_config = ConfigDict(extra="forbid")

    client: str = "client"
    service: str = "service"
    quantity: str = "quantity"
    period: str = "period"
    date_formats: list[str] = Field(default_factory=lambda: ["%d/%m/%Y", "%d.%m.%Y"])
    # The partner's service name -> the description of the invoice line that bills it.
    services: dict[str, str] = Field(default_factory=dict)


class BillingConfig(BaseModel):
    """Invoices issued from the contracts (core.billing)."""

    model_config = ConfigDict(extra="forbid")

    seller: SellerConfig = Field(default_factory=SellerConfig)
    # The series of invoice and credit note numbers: a number is the series, the
    # year and a sequence without gaps within them (F2026-00001).
    invoice_series: str = Field(default="F", pattern=r"^[A-Z0-9-]{1,10}$")
    credit_note_series: str = Field(default="AV", pattern=r"^[A-Z0-9-]{1,10}$")
    # The VAT rate of a contract line that gives none, in percent.
    vat_rate: Decimal = Field(default=Decimal(20), ge=0, le=100)
    # Days to pay when a contract gives none.
    payment_terms_days: int = Field(default=30, ge=0, le=365)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # Where invoice PDFs (Factur-X) and direct debit files are written; relative to
    # the working folder.
    folder: str = "invoices"
    # The SEPA creditor identifier (ICS in France) the debits are collected under.
    creditor_id: str = ""
    # Days between an invoice's issue and its debit (the pre-notification's notice).
    debit_notice_days: int = Field(default=14, ge=1, le=60)
    # Run the billing of the month on its first business day (its preview goes to
    # the assistant on Telegram first; nothing is issued until it is confirmed).
    scheduled_run: bool = False
    # The column profiles of partners' usage reports, by name (`billing audit --profile`).
    partner_profiles: dict[str, PartnerProfileConfig] = Field(default_factory=dict)


EmailSecurity = Literal["starttls", "tls", "none"]


class EmailConfig(BaseModel):
    """The agency's SMTP server, through which invoices and reminders are sent.

    The password is best given as the variable PMDESK_EMAIL__PASSWORD rather
    than written in the file.
    """

    model_config = ConfigDict(extra="forbid")

    # Unset: no email is sent (drafts are written instead).
    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    security: EmailSecurity = "starttls"
    user: str | None = None
    password: str | None = None
    # The From address; required once a host is set.
    sender: str = ""
    reply_to: str = ""
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # Send the reminders the dunning run drafts without waiting for the assistant.
    auto_send_reminders: bool = False

    @field_validator("sender", "reply_to")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip()
        if value and "@" not in value:
            raise ValueError(f"{value!r} is not an email address")
        return value
