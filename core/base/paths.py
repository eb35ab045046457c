"""Where things are: the config file and the database, read without pydantic.

The read commands (`pmdesk clocks`, `pmdesk report sla`) need only the
database's location and the display time zone; building the full, strictly
validated Settings costs more than their whole time budget. They read those
keys here, by the same rules (a PMDESK_<KEY> variable wins over the file);
`pmdesk config check` and every command that writes validate everything.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from pathlib import Path
from typing import Any

# Mode of the files pmdesk creates that hold clients' data (database, log): owner only.
PRIVATE_FILE = 0o600


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why."""


def default_database_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("pmdesk", appauthor=False)) / "pmdesk.db"


def default_log_path() -> Path:
    """Where the dashboard's process writes its log (the services it runs log there)."""
    import platformdirs

    return Path(platformdirs.user_log_dir("pmdesk", appauthor=False)) / "pmdesk.log"


def default_cache_path(name: str) -> Path:
    """A file the dashboard keeps for its next start; losing it costs only time."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("pmdesk", appauthor=False)) / name


def installed_file(path: str | None) -> tuple[str, int, int] | None:
    """What tells an installed file from another version of it: its place, time and size.

    For what is kept in the cache directory under the key of a library it
    was worked out with: an install or an upgrade writes the file anew.
    Asking a package for its version reads its metadata, milliseconds a
    start. None where the file cannot be looked at (a zipped install).
    """
    if not path:
        return None
    try:
        status = os.stat(path)
    except OSError:
        return None
    return path, status.st_mtime_ns, status.st_size


def write_atomically(path: Path, content: bytes, *, durable: bool = True) -> None:
    """Write `content` to `path` whole or not at all, readable by its owner only.

    Written to a file of its own beside `path` (created 0600 by mkstemp),
    then renamed over it: a reader sees the old file or the new one, never
    half of one. `durable`: synced before the rename, for files that must
    survive a crash (documents); a cache that can be worked out again skips
    the wait.
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def file_problem(path: Path | str, error: OSError) -> str:
    """Why a file could not be opened, in one line that names it."""
    if isinstance(error, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(error, IsADirectoryError):
        return f"{path}: is a directory"
    if isinstance(error, PermissionError):
        return f"{path}: permission denied"
    return f"{path}: {error.strerror or error}"


# scheme://user:password@host...: the password is what lies between the
# first ":" after the user and the last "@" before the host.
_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][\w+.-]*://[^:/@]*:)(?P<password>.*)(?P<at>@[^@]*)$")


def shown_database(value: str) -> str:
    """A database path or URL as it may be printed: a URL's password becomes ***."""
    return _PASSWORD.sub(r"\g<head>***\g<at>", value) if "://" in value else value


def read_config_file(path: Path) -> dict[str, Any]:
    import tomllib  # here: most runs name no config file, and a command starts faster without

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"config file {file_problem(path, error)}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path}: {error}") from None


def config_file() -> Path | None:
    value = os.environ.get("PMDESK_CONFIG")
    return Path(value).expanduser() if value else None


def configured(key: str, default: str) -> str:
    """One top-level string setting: PMDESK_<KEY>, else the config file, else `default`.

    A named config file is always read, so a broken one is reported even
    when a variable overrides the key asked for.
    """
    path = config_file()
    value = _file_values(path).get(key) if path else None
    from_environment = os.environ.get(f"PMDESK_{key.upper()}")
    if from_environment:
        return from_environment
    if value is None:
        return default
    if not isinstance(value, str):
        raise ConfigError(f"config file {path}: {key}: expected a string")
    return value


@functools.cache
def _file_values(path: Path) -> dict[str, Any]:
    # A command asks for several keys; the file is read and parsed once.
    return read_config_file(path)


# Returned as is by `configured` when no database is configured: the default
# place is then looked up (platformdirs costs a read command milliseconds).
_DEFAULT_DATABASE = "(the default database)"


def database_location() -> str:
    location = configured("db", _DEFAULT_DATABASE)
    return str(default_database_path()) if location is _DEFAULT_DATABASE else location
