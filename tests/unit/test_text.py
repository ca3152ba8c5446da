"""access.text: invisible characters, links typed by one person, formula cells."""

from __future__ import annotations

import re

import pytest

from access.model import RequestChanges, RequestDraft, RequestKind
from access.text import INVISIBLE, defang_links, safe_cell, strip_invisible
from dialogs.cards.markup import plain

BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]


def test_every_bidi_control_and_zero_width_character_is_removed() -> None:
    assert set(BIDI + ZERO_WIDTH) <= INVISIBLE
    for char in BIDI + ZERO_WIDTH:
        assert strip_invisible(f"Ai{char}no") == "Aino"
    assert strip_invisible("Aino \u202eikkremisE\u202c") == "Aino ikkremisE"
    assert strip_invisible("Åsa Öberg-Ääninen") == "Åsa Öberg-Ääninen"


def test_drafts_lose_invisible_characters_however_they_are_made() -> None:
    draft = RequestDraft(
        kind=RequestKind.GRANT,
        worker_name="\u2066Aino\u2069 Esim\u200berkki",
        worker_email="aino\u200d@laukaa.example.fi",
        worker_job_title="Ohjaaja\ufeff",
        justification="Asiakas\u202etyö",
    )
    assert (draft.worker_name, draft.worker_email) == (
        "Aino Esimerkki",
        "aino@laukaa.example.fi",
    )
    assert (draft.worker_job_title, draft.justification) == ("Ohjaaja", "Asiakastyö")
    changes = RequestChanges(worker_name="A\u200bino", justification=None)
    assert (changes.worker_name, changes.justification) == ("Aino", None)


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("https://evil.example/login", "https[:]//evil[.]example/login"),
        ("HTTP://EVIL.EXAMPLE", "HTTP[:]//EVIL[.]EXAMPLE"),
        ("ks. www.evil.fi.", "ks. www[.]evil[.]fi."),
        ("evil.example/x?y=1", "evil[.]example/x?y=1"),
        ("10.0.0.1:8080/admin", "10[.]0[.]0[.]1:8080/admin"),
        ("javascript:alert(1)", "javascript[:]alert(1)"),
        ("mailto:boss@evil.example", "mailto[:]boss@evil.example"),
        ("[Avaa](https://evil.example)", "[Avaa](https[:]//evil[.]example)"),
        ("pääsy.fi", "pääsy[.]fi"),
        # Left alone: addresses (the link goes where its text says), dates, numbers,
        # ordinary sentences.
        ("aino.esimerkki@laukaa.example.fi", "aino.esimerkki@laukaa.example.fi"),
        ("15.1.2026 klo 12:30", "15.1.2026 klo 12:30"),
        ("versio 1.2", "versio 1.2"),
        ("Esim. ohjaaja. Kiitos.", "Esim. ohjaaja. Kiitos."),
        ("2026-000123", "2026-000123"),
    ],
)
def test_links_are_shown_unclickable(typed: str, shown: str) -> None:
    assert defang_links(typed) == shown


LINKABLE = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*:/|\bwww\.|\b[\w\-]+\.(?:example|fi|com)\b")


@pytest.mark.parametrize(
    "typed",
    [
        "https://evil.example/login",
        "ks. www.evil.example tai evil.com",
        "[klikkaa](https://evil.example) **nyt**",
        "https://evil\u200b.example",  # hidden by a zero-width space
    ],
)
def test_a_card_text_never_holds_a_link_someone_typed(typed: str) -> None:
    shown = re.sub(r"\\(.)", r"\1", plain(typed))  # as Teams renders the Markdown
    assert LINKABLE.findall(shown) == []
    assert not set(shown) & INVISIBLE


@pytest.mark.parametrize(
    "value",
    [
        "=1+1",
        "+1",
        "-1",
        "@SUM(1)",
        "\t=1",
        "\r=1",
        "\uff1d1",  # ＝
        "\uff0b1",  # ＋
        "\uff0d1",  # －
        "\uff20x",  # ＠
        " =1",
        "\u200b=1",
        "\u00a0\uff1d1",
    ],
)
def test_formula_cells_get_an_apostrophe(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["", " ", "Aino", "1=1", "a@b.fi", "2026-000123", "'=x"])
def test_other_cells_are_left_alone(value: str) -> None:
    assert safe_cell(value) == value
