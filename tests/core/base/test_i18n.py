"""The interface's catalogs: complete in both languages, compiled, and read by locale."""

from __future__ import annotations

import io
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core.base import i18n

ROOT = Path(__file__).resolve().parents[3]
LOCALES = ROOT / "data" / "locale"
LANGUAGES = ("en", "fr")


def _said_in_code() -> set[str]:
    """Every message the code marks, found as `pybabel extract -F babel.cfg` finds them."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(language: str) -> Catalog:
    with (LOCALES / language / "LC_MESSAGES" / "pmdesk.po").open("rb") as handle:
        return read_po(handle)


def _ids(catalog: Catalog) -> set[str]:
    return {
        message.id if isinstance(message.id, str) else message.id[0]
        for message in catalog
        if message.id
    }


def _fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


@pytest.fixture(scope="module")
def said() -> set[str]:
    return _said_in_code()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_of_the_code_is_in_the_catalog_and_nothing_else(
    said: set[str], language: str
) -> None:
    held = _ids(_catalog(language))
    assert said - held == set(), "extract, then pybabel update (docs/configuration.md)"
    assert held - said == set(), "the catalog holds messages the code no longer says"
    # The markers were found at all: a broken babel.cfg would make both sets empty.
    assert {"Incoming", "Overdue invoices", "{minutes}m{seconds:02d}s"} <= said


def test_french_translates_everything_and_keeps_the_placeholders() -> None:
    for message in _catalog("fr"):
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        assert all(strings), f"untranslated: {ids[0]!r}"
        assert "fuzzy" not in message.flags, f"fuzzy: {ids[0]!r}"
        for text in strings:
            assert _fields(text) == _fields(ids[0]), f"placeholders of {ids[0]!r}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_shipped_mo_is_compiled_from_the_po(language: str) -> None:
    """A .po edited without `pybabel compile` fails here rather than in production."""
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(language))
    shipped = (LOCALES / language / "LC_MESSAGES" / "pmdesk.mo").read_bytes()
    assert shipped == compiled.getvalue(), "run pybabel compile -d data/locale -D pmdesk"


@pytest.mark.parametrize(
    ("locale", "incoming"),
    [
        ("fr_FR", "Arrivées"),
        ("fr_CA", "Arrivées"),
        ("fr", "Arrivées"),
        ("en_GB", "Incoming"),
        ("en_US", "Incoming"),
        # No catalog for German: the code's own English.
        ("de_DE", "Incoming"),
    ],
)
def test_the_language_follows_the_locale(locale: str, incoming: str) -> None:
    i18n.activate(locale)
    assert i18n.gettext("Incoming") == incoming
    assert i18n.locale() == locale


def test_plurals_follow_the_language() -> None:
    i18n.activate("fr_FR")
    assert i18n.ngettext("{count} breach", "{count} breaches", 1) == "{count} dépassement"
    assert i18n.ngettext("{count} breach", "{count} breaches", 2) == "{count} dépassements"
    i18n.activate("en_GB")
    assert i18n.ngettext("{count} breach", "{count} breaches", 1) == "{count} breach"


def test_a_marked_word_is_translated_only_when_drawn() -> None:
    i18n.activate("fr_FR")
    assert i18n.N_("Incoming") == "Incoming"
    assert i18n.gettext(i18n.N_("Incoming")) == "Arrivées"
