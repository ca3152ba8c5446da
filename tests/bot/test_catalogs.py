"""Every message exists, is non-empty and has the same placeholders in fi, sv and en."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from dialogs.commands import Command
from dialogs.i18n import (
    LOCALES,
    LOCALES_DIR,
    Translator,
    normalize_locale,
    placeholders,
    read_locale,
)

CATALOGS = {locale: read_locale(LOCALES_DIR / locale / "LC_MESSAGES") for locale in LOCALES}
ALL_KEYS = sorted(set().union(*(catalog.keys() for catalog in CATALOGS.values())))


def test_catalogs_are_not_empty() -> None:
    assert len(ALL_KEYS) > 30


@pytest.mark.parametrize("key", ALL_KEYS)
def test_key_is_translated_everywhere_with_the_same_placeholders(key: str) -> None:
    missing = [locale for locale in LOCALES if not CATALOGS[locale].get(key, "").strip()]
    assert not missing, f"{key!r} missing or empty in {missing}"
    found = {locale: placeholders(CATALOGS[locale][key]) for locale in LOCALES}
    assert len(set(found.values())) == 1, f"{key!r} placeholders differ: {found}"


def test_every_command_has_words() -> None:
    translator = Translator.load()
    for messages in translator.all():
        for command in Command:
            assert messages.words(f"command.{command.value}"), (messages.locale, command)
            assert messages.has(f"help.cmd.{command.value}")


def test_command_words_do_not_collide() -> None:
    translator = Translator.load()
    owner: dict[str, Command] = {}
    for command in Command:
        for messages in translator.all():
            for word in messages.words(f"command.{command.value}"):
                assert owner.setdefault(word, command) == command, word


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("fi-FI", "fi"),
        ("sv-SE", "sv"),
        ("sv-FI", "sv"),
        ("en-US", "en"),
        ("EN", "en"),
        ("fi_FI", "fi"),
        ("de-DE", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_locale(tag: str | None, expected: str | None) -> None:
    assert normalize_locale(tag) == expected


def test_unknown_locale_falls_back() -> None:
    assert Translator.load().get("de-DE").locale == "fi"
    assert Translator.load(fallback="en").get(None).locale == "en"


def test_finnish_date_formats() -> None:
    translator = Translator.load()
    moment = datetime(2026, 1, 31, 7, 5, tzinfo=UTC)  # 9.05 in Helsinki
    assert translator.get("fi").format_date(date(2026, 1, 31)) == "31.1.2026"
    assert translator.get("sv").format_date(date(2026, 1, 31)) == "31.1.2026"
    assert translator.get("fi").format_datetime(moment) == "31.1.2026 klo 9.05"
    assert translator.get("sv").format_datetime(moment) == "31.1.2026 kl. 9.05"
    summer = datetime(2026, 7, 1, 21, 30, tzinfo=UTC)  # EEST, next day in Helsinki
    assert translator.get("en").format_datetime(summer) == "2.7.2026 at 0:30"


def test_missing_key_returns_the_key_not_an_error() -> None:
    messages = Translator.load().get("sv")
    assert messages.t("no.such.key") == "no.such.key"
    assert messages.t("language.current") == "Nuvarande språk: {language}"


def test_a_key_defined_in_two_catalog_files_is_refused(tmp_path: Path) -> None:
    entry = (
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "x.y"\nmsgstr "{n}"\n'
    )
    (tmp_path / "a.po").write_text(entry, encoding="utf-8")
    (tmp_path / "b.po").write_text(entry, encoding="utf-8")
    with pytest.raises(ValueError, match=r"defined in both a\.po and b\.po"):
        read_locale(tmp_path)
