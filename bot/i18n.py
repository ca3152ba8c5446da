"""Message catalogs (fi, sv, en) and locale resolution.

Catalogs are gettext ``.po`` files under ``bot/locales/<locale>/LC_MESSAGES/`` read
once at start-up with Babel (no compile step). Message ids are stable keys such as
``"welcome.title"``; placeholders use ``str.format`` syntax (``{language}``).

    translator = Translator.load()
    m = translator.get("sv-SE")          # -> Messages for "sv"
    m.t("language.current", language="svenska")
    m.format_date(date(2026, 1, 31))     # "31.1.2026"
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.dates import get_timezone
from babel.messages.pofile import read_po

__all__ = [
    "LOCALES",
    "LOCALES_DIR",
    "Messages",
    "Translator",
    "normalize_locale",
    "placeholders",
    "read_catalog",
    "read_locale",
]

LOCALES: tuple[str, ...] = ("fi", "sv", "en")
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
TIMEZONE = "Europe/Helsinki"
_BABEL_LOCALES = {"fi": "fi_FI", "sv": "sv_FI", "en": "en_GB"}

log = logging.getLogger(__name__)


def normalize_locale(tag: str | None) -> str | None:
    """``"fi-FI"``, ``"sv_se"``, ``"EN"`` -> ``"fi"``/``"sv"``/``"en"``; else ``None``."""
    if not tag or not isinstance(tag, str):
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LOCALES else None


def placeholders(text: str) -> frozenset[str]:
    """The ``{name}`` placeholders of a message (format specs ignored)."""
    names: set[str] = set()
    for _literal, field, _spec, _conv in string.Formatter().parse(text):
        if field is not None:
            names.add(field)
    return frozenset(names)


def read_catalog(path: Path) -> dict[str, str]:
    """Key -> text of one ``.po`` file; fuzzy and empty entries count as missing."""
    with path.open("rb") as handle:
        catalog = read_po(handle, ignore_obsolete=True)
    messages: dict[str, str] = {}
    for message in catalog:
        if not message.id or not isinstance(message.id, str):
            continue
        if message.fuzzy or not isinstance(message.string, str) or not message.string.strip():
            continue
        messages[message.id] = message.string
    return messages


def read_locale(directory: Path) -> dict[str, str]:
    """Every ``*.po`` file of one locale's ``LC_MESSAGES`` folder, merged.

    Each feature keeps its texts in a file of its own (``messages.po``, ``manager.po``
    ...); a key defined in two files is an error, so one file cannot silently
    override another.
    """
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for path in sorted(directory.glob("*.po")):
        for key, text in read_catalog(path).items():
            if key in merged:
                raise ValueError(f"{key!r} is defined in both {owner[key]} and {path.name}")
            merged[key] = text
            owner[key] = path.name
    return merged


class Messages:
    """The texts of one locale. ``t(key, **params)`` formats a message."""

    def __init__(
        self, locale: str, texts: Mapping[str, str], fallback: Messages | None = None
    ) -> None:
        self.locale = locale
        self._texts = texts
        self._fallback = fallback

    def has(self, key: str) -> bool:
        return key in self._texts

    def raw(self, key: str) -> str:
        text = self._texts.get(key)
        if text is not None:
            return text
        if self._fallback is not None and key in self._fallback._texts:
            log.warning("message missing", extra={"reason": key, "locale": self.locale})
            return self._fallback._texts[key]
        log.error("message missing in every catalog", extra={"reason": key})
        return key

    def t(self, key: str, **params: Any) -> str:
        """The message ``key`` with ``params`` filled in (unknown key -> the key)."""
        text = self.raw(key)
        if not params:
            return text
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            log.error("message placeholders do not match", extra={"reason": key})
            return text

    def words(self, key: str) -> tuple[str, ...]:
        """Comma-separated alternatives of a ``command.*`` key, lower case."""
        return tuple(w.strip().lower() for w in self.raw(key).split(",") if w.strip())

    def word(self, key: str) -> str:
        """The first (displayed) word of a ``command.*`` key."""
        words = self.words(key)
        return words[0] if words else key

    def language_name(self, locale: str) -> str:
        return self.t(f"language.name.{locale}")

    def format_date(self, value: date) -> str:
        """A date in Finnish style (``31.1.2026``)."""
        return str(
            _babel_format_date(
                value, format=self.raw("format.date"), locale=_BABEL_LOCALES[self.locale]
            )
        )

    def format_datetime(self, value: datetime) -> str:
        """A timestamp in Helsinki time (``31.1.2026 klo 9.05``)."""
        return str(
            _babel_format_datetime(
                value,
                format=self.raw("format.datetime"),
                tzinfo=get_timezone(TIMEZONE),
                locale=_BABEL_LOCALES[self.locale],
            )
        )


class Translator:
    """All catalogs; ``get(locale)`` returns the :class:`Messages` of a locale."""

    def __init__(self, catalogs: Mapping[str, Mapping[str, str]], fallback: str = "fi") -> None:
        if fallback not in catalogs:
            raise ValueError(f"no catalog for the fallback locale {fallback!r}")
        self.fallback = fallback
        base = Messages(fallback, MappingProxyType(dict(catalogs[fallback])))
        self._messages: dict[str, Messages] = {fallback: base}
        for locale, texts in catalogs.items():
            if locale != fallback:
                self._messages[locale] = Messages(
                    locale, MappingProxyType(dict(texts)), fallback=base
                )

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR, fallback: str = "fi") -> Translator:
        """Read every ``<directory>/<locale>/LC_MESSAGES/*.po`` for fi, sv and en."""
        catalogs = {
            locale: read_locale(directory / locale / "LC_MESSAGES") for locale in LOCALES
        }
        return cls(catalogs, fallback=fallback)

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self._messages)

    def resolve(self, *candidates: str | None) -> str:
        """The first candidate that names a supported locale, else the fallback."""
        for candidate in candidates:
            locale = normalize_locale(candidate)
            if locale is not None and locale in self._messages:
                return locale
        return self.fallback

    def get(self, locale: str | None) -> Messages:
        """Messages for a locale tag (``"sv-SE"`` -> sv); unknown -> the fallback."""
        return self._messages[self.resolve(locale)]

    def all(self) -> Iterable[Messages]:
        return self._messages.values()
