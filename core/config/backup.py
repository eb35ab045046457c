"""Settings of the services' daily backup (`[backup]`). See docs/deploy.md, "Backups"."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator


class BackupConfig(BaseModel):
    """One copy of the SQLite database a day, the last `keep` kept (core.store.backup)."""

    model_config = ConfigDict(extra="forbid")

    # Where the services write the daily copies; unset: no daily backup. Relative
    # to the working folder of the process that runs the services.
    folder: str | None = None
    # How many daily copies stay; older ones are removed after each new one.
    keep: int = Field(default=7, ge=1, le=1000)
    # The time of day of the copy, in the agency's time zone (`timezone`), every day.
    at: str = "02:30"

    @field_validator("at")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        found = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
        if found is None or int(found[1]) > 23 or int(found[2]) > 59:
            raise ValueError(f"{value!r} is not a time of day like 02:30")
        return value.strip()
