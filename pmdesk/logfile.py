"""The dashboard's log file, readable by its owner only: it names clients and staff."""

from __future__ import annotations

import os
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler

from core.base.paths import PRIVATE_FILE


class PrivateLogFile(RotatingFileHandler):
    """A rotating log whose files, rotated ones included, are created 0600."""

    def _open(self) -> TextIOWrapper:
        descriptor = os.open(
            self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE
        )
        return os.fdopen(descriptor, "a", encoding=self.encoding, errors=self.errors)
