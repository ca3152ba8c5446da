"""Every message exists, is non-empty and has the same placeholders in fi, sv and en;
a text with plural forms has every form each language needs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.plurals import get_plural

from dialogs.commands import Command
from dialogs.i18n import (
    LOCALES,
    LOCALES_DIR,
    Plural,
    Translator,
    normalize_locale,
    placeholders,
    read_locale,
)

CATALOGS = {locale: read_locale(LOCALES_DIR / locale / "LC_MESSAGES") for locale in LOCALES}
ALL_KEYS = sorted(set().union(*(catalog.keys() for catalog in CATALOGS.values())))
PLURAL_KEYS = sorted(
    key for key in ALL_KEYS if any(isinstance(c.get(key), Plural) for c in CATALOGS.values())
)


def _forms(text: str) -> tuple[str, ...]:
    return text.forms if isinstance(text, Plural) else (text,)


def test_catalogs_are_not_empty() -> None:
    assert len(ALL_KEYS) > 30


@pytest.mark.parametrize("key", ALL_KEYS)
def test_key_is_translated_everywhere_with_the_same_placeholders(key: str) -> None:
    missing = [locale for locale in LOCALES if not CATALOGS[locale].get(key, "").strip()]
    assert not missing, f"{key!r} missing or empty in {missing}"
    found = {
        locale: {placeholders(form) for form in _forms(CATALOGS[locale][key])} for locale in LOCALES
    }
    assert len(set().union(*found.values())) == 1, f"{key!r} placeholders differ: {found}"


def test_there_are_plural_texts() -> None:
    assert {"keha.created", "manager.requests.intro", "approval.list.count"} <= set(PLURAL_KEYS)


@pytest.mark.parametrize("key", PLURAL_KEYS)
def test_plural_text_has_every_form_of_every_language(key: str) -> None:
    for locale in LOCALES:
        text = CATALOGS[locale][key]
        assert isinstance(text, Plural), f"{key!r} has no plural forms in {locale}"
        assert len(text.forms) == get_plural(locale).num_plurals, (locale, key)
        assert all(form.strip() for form in text.forms), (locale, key)
        assert text.number in placeholders(text), f"{key!r}: {{{text.number}}} not in {locale}"
    assert len({CATALOGS[locale][key].number for locale in LOCALES}) == 1  # type: ignore[attr-defined]


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


# Plural forms: the number decides the form in every language (0, 1, 2, 5).
PLURALS = {
    "fi": {
        ("keha.created", 0): "KEHA-erä luotu: 0 riviä.",
        ("keha.created", 1): "KEHA-erä luotu: 1 rivi.",
        ("keha.created", 2): "KEHA-erä luotu: 2 riviä.",
        ("keha.created", 5): "KEHA-erä luotu: 5 riviä.",
        ("approval.list.count", 0): "0 hakemusta odottaa päätöstä.",
        ("approval.list.count", 1): "1 hakemus odottaa päätöstä.",
        ("approval.list.count", 2): "2 hakemusta odottaa päätöstä.",
        ("approval.list.count", 5): "5 hakemusta odottaa päätöstä.",
    },
    "sv": {
        ("keha.created", 0): "KEHA-sändningen har skapats: 0 rader.",
        ("keha.created", 1): "KEHA-sändningen har skapats: 1 rad.",
        ("keha.created", 2): "KEHA-sändningen har skapats: 2 rader.",
        ("keha.created", 5): "KEHA-sändningen har skapats: 5 rader.",
        ("approval.list.count", 0): "0 ansökningar väntar på beslut.",
        ("approval.list.count", 1): "1 ansökan väntar på beslut.",
        ("approval.list.count", 2): "2 ansökningar väntar på beslut.",
        ("approval.list.count", 5): "5 ansökningar väntar på beslut.",
    },
    "en": {
        ("keha.created", 0): "KEHA batch created with 0 rows.",
        ("keha.created", 1): "KEHA batch created with 1 row.",
        ("keha.created", 2): "KEHA batch created with 2 rows.",
        ("keha.created", 5): "KEHA batch created with 5 rows.",
        ("approval.list.count", 0): "0 requests are awaiting a decision.",
        ("approval.list.count", 1): "1 request is awaiting a decision.",
        ("approval.list.count", 2): "2 requests are awaiting a decision.",
        ("approval.list.count", 5): "5 requests are awaiting a decision.",
    },
}


@pytest.mark.parametrize("locale", LOCALES)
def test_plural_forms_follow_the_number(locale: str) -> None:
    m = Translator.load().get(locale)
    for (key, count), expected in PLURALS[locale].items():
        assert m.n(key, count).startswith(expected), (key, count)
        params = {CATALOGS[locale][key].number: count}  # type: ignore[attr-defined]
        assert m.t(key, **params).startswith(expected), (key, count)  # t() picks it too


@pytest.mark.parametrize(
    ("locale", "one", "two"),
    [
        ("fi", "Näytetään 1 hakemus, uusin ensin.", "Näytetään 2 hakemusta, uusin ensin."),
        ("sv", "1 ansökan visas, den senaste först.", "2 ansökningar visas, den senaste först."),
        ("en", "Showing 1 request, latest first.", "Showing 2 requests, latest first."),
    ],
)
def test_no_more_one_with_a_plural_noun(locale: str, one: str, two: str) -> None:
    m = Translator.load().get(locale)
    assert m.n("manager.requests.intro", 1) == one
    assert m.n("manager.requests.intro", 2) == two
    # no number: the general form
    assert m.t("manager.requests.intro", count="x") == two.replace("2", "x")


def test_plural_entry_is_read_from_msgid_plural(tmp_path: Path) -> None:
    (tmp_path / "a.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: fi\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "x.rows"\nmsgid_plural "{rows}"\n'
        'msgstr[0] "{rows} rivi"\nmsgstr[1] "{rows} riviä"\n\n'
        'msgid "x.half"\nmsgid_plural "{n}"\nmsgstr[0] "{n} rivi"\nmsgstr[1] ""\n',
        encoding="utf-8",
    )
    texts = read_locale(tmp_path)
    assert "x.half" not in texts  # a missing form is a missing text
    rows = texts["x.rows"]
    assert isinstance(rows, Plural) and rows.number == "rows" and rows == "{rows} riviä"
    m = Translator({"fi": texts}).get("fi")
    assert [m.n("x.rows", n) for n in (0, 1, 2)] == ["0 riviä", "1 rivi", "2 riviä"]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("fi", "joulukuu 2025"), ("sv", "december 2025"), ("en", "December 2025")],
)
def test_month_names(locale: str, expected: str) -> None:
    m = Translator.load().get(locale)
    assert m.format_month("2025-12") == expected
    assert m.format_month(date(2025, 12, 31)) == expected
