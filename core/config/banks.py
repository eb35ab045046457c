"""The `[banks]` section of the configuration: CSV profiles, matching thresholds.

Kept beside the statement readers that use it; `core.config.settings.Settings` holds
it under `banks`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class BankCsvProfile(BaseModel):
    """How one bank writes its CSV export: separators, dates, and which column holds what.

    Column settings name a header of the file. `amount` holds signed amounts;
    banks that split them give `credit` and `debit` columns instead.
    """

    model_config = ConfigDict(extra="forbid")

    delimiter: str = Field(default=";", min_length=1, max_length=1)
    # "," for 1 234,50 (most of Europe), "." for 1,234.50.
    decimal: str = Field(default=",", pattern=r"^[.,]$")
    date_format: str = "%d/%m/%Y"
    encoding: str = "utf-8-sig"
    # Lines above the header (a bank's title, the account, the period).
    skip_lines: int = Field(default=0, ge=0)
    booking_date: str
    value_date: str | None = None
    amount: str | None = None
    credit: str | None = None
    debit: str | None = None
    currency: str | None = None
    default_currency: str = "EUR"
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    reference: str | None = None
    text: list[str] = Field(default_factory=list)
    end_to_end_id: str | None = None
    bank_reference: str | None = None
    # The account the export is of, when the file does not say it in a column.
    account_iban: str | None = None
    account_iban_column: str | None = None

    @model_validator(mode="after")
    def _amount_columns(self) -> BankCsvProfile:
        if self.amount is None and (self.credit is None or self.debit is None):
            raise ValueError("give `amount`, or both `credit` and `debit`")
        return self

    def columns(self) -> list[str]:
        """Every header this profile reads: a file must have them all."""
        named = [
            self.booking_date,
            self.value_date,
            self.amount,
            self.credit,
            self.debit,
            self.currency,
            self.counterparty_name,
            self.counterparty_iban,
            self.reference,
            self.end_to_end_id,
            self.bank_reference,
            self.account_iban_column,
            *self.text,
        ]
        return [name for name in named if name]


class MatchingConfig(BaseModel):
    """When a payment is applied on its own, and how much a bank may keep as fees."""

    model_config = ConfigDict(extra="forbid")

    # A payment short of the balance by at most this (the smaller of the two)
    # is taken as paid in full, the difference booked as bank fees.
    fee_tolerance_percent: float = Field(default=1.0, ge=0, le=100)
    fee_tolerance_cents: int = Field(default=500, ge=0)
    # Client name likeness (0-100) a payer's name needs to count as evidence.
    name_min_score: float = Field(default=88, ge=0, le=100)
    # Invoices due this many days around the payment date count as "in the window".
    date_window_days: int = Field(default=120, ge=0)
    # The client's oldest open invoices tried together for a payment of several.
    subset_max_invoices: int = Field(default=6, ge=1, le=16)
    # Candidates kept per statement line in the review queue.
    review_candidates: int = Field(default=5, ge=1, le=20)


class BanksConfig(BaseModel):
    """Bank statement import and payment matching."""

    model_config = ConfigDict(extra="forbid")

    csv_profiles: dict[str, BankCsvProfile] = Field(default_factory=dict)
    # Payers' IBANs known in advance, by client name: {"Dupont SARL" = ["FR76..."]}.
    client_ibans: dict[str, list[str]] = Field(default_factory=dict)
    matching: MatchingConfig = Field(default_factory=MatchingConfig)

    @field_validator("client_ibans")
    @classmethod
    def _valid_ibans(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from schwifty import IBAN
        from schwifty.exceptions import SchwiftyException

        for client, ibans in value.items():
            for iban in ibans:
                try:
                    IBAN(iban)
                except SchwiftyException as error:
                    raise ValueError(f"{client}: {iban!r} is not a valid IBAN ({error})") from None
        return value
