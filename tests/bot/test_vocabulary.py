"""One term per concept in every language (DOMAIN.md, table "Words").

Each table below lists the synonyms the catalogs used before, as regular expressions
(case-insensitive; ``\\w*`` after a stem takes the inflected forms), with the term to
use instead. A text that uses a synonym fails the test with ``file:key: synonym ->
term``. Placeholders (``{area}``) are not text and are left out; of a ``command.*`` key
only the displayed first word counts (the other words are what people may type).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialogs.i18n import LOCALES, LOCALES_DIR, Plural, read_catalog

# Bare "KEHA" (also "KEHAa", "KEHAan") where the term is KEHA-keskus, KEHA-centret,
# KEHA Centre; "KEHA-erä", "KEHA-sändning", "KEHA batch" and the like are fine.
_KEHA_FI_SV = r"(?-i:\bKEHA)(?!-)\w*"
_KEHA_EN = r"(?-i:\bKEHA\b)(?! Centre| batch)(?:\s+\w+)?"

SYNONYMS: dict[str, tuple[tuple[str, str], ...]] = {
    "fi": (
        (r"\bkäyttölup\w*", "käyttöoikeus, käyttöoikeushakemus"),
        # bare "oikeus" for the access; "Oikeutesi:" of the privacy notice is the GDPR rights
        (r"\boikeu(?!tesi:)\w*", "käyttöoikeus"),
        (r"\bpalvelualue\w*", "asiakaskohderyhmät"),
        (r"\basiakasryhm\w*", "asiakaskohderyhmät"),
        (r"\btehtävät\s*[(:]", "asiakaskohderyhmät"),
        (r"\bkunnan yhteyshenkilö\w*", "kunnan esihenkilö"),
        (r"\bkunnan (?:ja|että) työllisyysalueen yhteyshenkilö\w*", "kunnan esihenkilö"),
        (r"\bhyväksyjä\w*", "työllisyysalueen yhteyshenkilö"),
        (r"(?<![\w-])alue\w*", "työllisyysalue"),
        (r"\bviranomai\w*", "työvoimaviranomainen"),
        (r"\bylläpitäj\w*", "työvoimaviranomaisen pääkäyttäjä"),
        (r"\bkäyttöoikeustaso\w*", "käyttöoikeuden taso"),
        (r"\bpalaut\w* (?:\w+ )?kysymyksellä", "palautettu täydennettäväksi"),
        (r"\bsulkemi\w*", "poisto"),
        (r"\bavaus\b", "uusi käyttöoikeus"),
        (_KEHA_FI_SV, "KEHA-keskus"),
    ),
    "sv": (
        (r"\banvändarrätt\w*", "behörighet"),
        (r"\brätte(?:n|r|rna)\b", "behörighet"),
        (r"\bparti(?:et|er|erna|ets)?\b", "KEHA-sändning"),
        (r"\bomgång\w*", "KEHA-sändning"),
        (r"\bkundinformationssystem\w*", "kunddatasystem"),
        (r"\bkundgrupp\w*", "kundmålgrupper"),
        (r"\bserviceområde\w*", "kundmålgrupper"),
        (r"\buppgifter\s*[(:]", "kundmålgrupper"),
        (r"\bkommun\w* (?:och \w+ )?kontaktperson\w*", "kommunens chef"),
        (r"\bkontaktperson för \w+ kommun", "kommunens chef"),
        (r"(?<![\w-])område\w*", "sysselsättningsområde"),
        (r"\bmyndighet\w*", "arbetskraftsmyndigheten"),
        (r"\badministratör\w*", "arbetskraftsmyndighetens huvudanvändare"),
        (r"\bgodkännare\w*", "sysselsättningsområdets kontaktperson"),
        (r"\båterkallande\w*", "återkallelse"),
        (r"\bstängning\w*", "återkallelse"),
        (r"\bta bort\b|\bborttag\w*", "återkalla, återkallelse"),
        (r"\bnivå på\b", "behörighetsnivå"),
        (r"\breturner\w* (?:\w+ )?med en fråga", "returnerad för komplettering"),
        (_KEHA_FI_SV, "KEHA-centret"),
    ),
    "en": (
        (r"\bgrants?\b(?! access\b)", "access"),  # "which grants access" is the verb
        (r"\bpermissions?\b", "access"),
        (r"\bright of use\b", "access"),
        (r"\bapplications?\b", "access request"),
        (r"\bservice areas?\b", "customer groups"),
        (r"\btasks?\s*[(:]", "customer groups"),
        (r"\bclients?\b", "customer"),
        (r"\blevel of access\b", "access level"),
        (r"\breturn\w* (?:\w+ )*?with a question\b", "returned for more information"),
        (r"\brevo\w*", "remove, removal"),
        (r"\bclosing\b", "removal"),
        (r"\bmunicipalit\w*'s contacts?\b", "municipal manager"),
        (r"\bcontacts? (?:person )?of (?:the |any |both the )?municipalit\w*", "municipal manager"),
        (r"\bcontact persons?\b", "area contact"),
        (r"\bemployment area(?:'s)? contacts?\b", "area contact"),
        (r"\barea's contacts?\b", "area contact"),
        (r"\bapprovers?\b", "area contact"),
        (r"(?<!employment )\barea\b(?! contacts?\b)", "employment area"),
        (r"\badmins?\b", "authority administrator"),
        (r"(?<!authority )\badministrators?\b", "authority administrator"),
        (r"(?<!employment )\bauthority\b(?! administrators?\b)", "employment authority"),
        (r"\bemployees?\b", "named worker"),
        (_KEHA_EN, "KEHA Centre"),
    ),
}

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_SKIP = ("format.", "language.name.")


def _texts(key: str, text: str) -> list[str]:
    forms = list(text.forms) if isinstance(text, Plural) else [text]
    if key.startswith("command."):
        forms = [form.split(",")[0] for form in forms]
    return [_PLACEHOLDER.sub(" ", form) for form in forms]


def synonyms_in(locale: str, directory: Path = LOCALES_DIR) -> list[str]:
    """``file:key: 'found' -> term`` for every synonym the locale's catalogs use."""
    table = [(re.compile(pattern, re.IGNORECASE), term) for pattern, term in SYNONYMS[locale]]
    found: list[str] = []
    for path in sorted((directory / locale / "LC_MESSAGES").glob("*.po")):
        for key, text in read_catalog(path).items():
            if key.startswith(_SKIP):
                continue
            for form in _texts(key, text):
                for pattern, term in table:
                    for hit in pattern.finditer(form):
                        found.append(f"{locale}/{path.name}:{key}: {hit.group(0)!r} -> {term}")
    return found


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogs_use_one_term_per_concept(locale: str) -> None:
    found = synonyms_in(locale)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("locale", "text", "hits"),
    [
        ("fi", "Käyttölupahakemus ja palvelualueet", 2),
        ("fi", "A-TMT-käyttölupabotti", 1),
        ("fi", "KEHA-keskus ja KEHA-erä", 0),
        ("fi", "odottaa KEHAa", 1),
        ("fi", "EU- tai ETA-alueen ulkopuolelle", 0),
        ("fi", "työllisyysalueen yhteyshenkilö", 0),
        ("sv", "Nivå på användarrätten, partiet", 3),
        ("sv", "behörighet och återkallelse", 0),
        ("en", "Access grants in the service area", 3),
        ("en", "the area contact and the employment area", 0),
        ("en", "KEHA Centre, KEHA batch", 0),
    ],
)
def test_the_tables_find_what_they_should(
    locale: str, text: str, hits: int, tmp_path: Path
) -> None:
    folder = tmp_path / locale / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "x.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        f'msgid "x.y"\nmsgstr "{text}"\n',
        encoding="utf-8",
    )
    assert len(synonyms_in(locale, tmp_path)) == hits, synonyms_in(locale, tmp_path)


def test_every_language_has_a_table() -> None:
    assert set(SYNONYMS) == set(LOCALES)
