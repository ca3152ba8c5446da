"""Message catalogs (fi, sv, en) and locale resolution.

Catalogs are gettext ``.po`` files under ``dialogs/locales/<locale>/LC_MESSAGES/`` read
once at start-up with Babel (no compile step). Message ids are stable keys such as
``"welcome.title"``; placeholders use ``str.format`` syntax (``{language}``).

A text with a number in it has plural forms: a ``msgid_plural`` entry whose
``msgid_plural`` names the placeholder that holds the number, and one ``msgstr[i]`` per
form of the language (gettext order; fi, sv and en have two: one, other)::

    msgid "keha.created"
    msgid_plural "{rows}"
    msgstr[0] "KEHA-erä luotu: {rows} rivi."
    msgstr[1] "KEHA-erä luotu: {rows} riviä."

``t()`` picks the form from that placeholder's value; ``n(key, count)`` says the number
explicitly and fills the placeholder with it.

    translator = Translator.load()
    m = translator.get("sv-SE")          # -> Messages for "sv"
    m.t("language.current", language="svenska")
    m.n("keha.created", 1)               # "KEHA-sändningen har skapats: 1 rad. ..."
    m.format_date(date(2026, 1, 31))     # "31.1.2026"
    m.format_month(date(2025, 12, 1))    # "december 2025"
"""

from __future__ import annotations

import gettext
import logging
import string
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.dates import get_timezone
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from access.locales import LOCALES

__all__ = [
    "LOCALES",
    "LOCALES_DIR",
    "Messages",
    "Plural",
    "Translator",
    "normalize_locale",
    "placeholders",
    "plural_count",
    "plural_index",
    "read_catalog",
    "read_locale",
]

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


class Plural(str):
    """A text with plural forms. As a ``str`` it is its last, most general form (so
    placeholder checks and fallbacks work as for any text); ``forms`` holds every form
    in the gettext order of the locale and ``number`` names the placeholder that holds
    the number."""

    forms: tuple[str, ...]
    number: str

    def __new__(cls, forms: Iterable[str], number: str) -> Plural:
        all_forms = tuple(forms)
        if not all_forms:
            raise ValueError("a plural text needs at least one form")
        text = super().__new__(cls, all_forms[-1])
        text.forms = all_forms
        text.number = number
        return text


def plural_count(msgid_plural: str) -> str:
    """The placeholder a ``msgid_plural`` names (``"{rows}"`` -> ``"rows"``)."""
    names = placeholders(msgid_plural)
    return next(iter(names)) if len(names) == 1 else "count"


def plural_index(locale: str) -> Callable[[int], int]:
    """The gettext plural rule of a locale: number -> index of the form to use."""
    return gettext.c2py(get_plural(locale).plural_expr)


def read_catalog(path: Path) -> dict[str, str]:
    """Key -> text of one ``.po`` file; fuzzy and empty entries count as missing.

    A ``msgid_plural`` entry becomes a :class:`Plural`; it is missing if any form the
    language needs is empty."""
    with path.open("rb") as handle:
        catalog = read_po(handle, ignore_obsolete=True)
    messages: dict[str, str] = {}
    for message in catalog:
        if message.fuzzy:
            continue
        if isinstance(message.id, tuple | list):
            key, msgid_plural = message.id[0], message.id[1]
            forms = tuple(message.string) if isinstance(message.string, tuple | list) else ()
            if key and forms and all(isinstance(f, str) and f.strip() for f in forms):
                messages[key] = Plural(forms, plural_count(msgid_plural))
            continue
        if not message.id or not isinstance(message.id, str):
            continue
        if not isinstance(message.string, str) or not message.string.strip():
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
    """The texts of one locale. ``t(key, **params)`` formats a message; ``n(key, count,
    **params)`` a message with plural forms."""

    def __init__(
        self, locale: str, texts: Mapping[str, str], fallback: Messages | None = None
    ) -> None:
        self.locale = locale
        self._texts = texts
        self._fallback = fallback
        self._plural = plural_index(locale)

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
        """The message ``key`` with ``params`` filled in (unknown key -> the key).

        A text with plural forms takes the form for the number in its count placeholder.
        """
        text = self.raw(key)
        if isinstance(text, Plural):
            text = self.form(text, params.get(text.number))
        return self._format(key, text, params) if params else text

    def n(self, key: str, count: int, **params: Any) -> str:
        """The form of ``key`` for ``count`` (``1 rivi``, ``2 riviä``); ``count`` also
        fills the text's count placeholder unless ``params`` gives it."""
        text = self.raw(key)
        name = text.number if isinstance(text, Plural) else "count"
        params.setdefault(name, count)
        return self._format(key, self.form(text, count), params)

    def form(self, text: str, count: Any) -> str:
        """The plural form of ``text`` for ``count`` (the last form when it is no number)."""
        if not isinstance(text, Plural):
            return str(text)
        try:
            index = self._plural(abs(int(count)))
        except (TypeError, ValueError):
            index = len(text.forms) - 1
        return text.forms[min(max(index, 0), len(text.forms) - 1)]

    def _format(self, key: str, text: str, params: Mapping[str, Any]) -> str:
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

    def format_month(self, value: date | str) -> str:
        """A month by its name (``joulukuu 2025``, ``december 2025``, ``December 2025``);
        ``value`` is a date or ``"YYYY-MM"``."""
        day = date.fromisoformat(value + "-01") if isinstance(value, str) else value
        return str(
            _babel_format_date(
                day, format=self.raw("format.month"), locale=_BABEL_LOCALES[self.locale]
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
