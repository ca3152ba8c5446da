"""The bot's own privacy statement and terms of use: ``/privacy`` and ``/terms``.

The page functions are pure (dialogs/pages.py); the routes are tested over real HTTP
on the app. A browser renders them in tests/e2e/test_pages_in_browser.py.
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import aiohttp
import pytest
from conftest import StartBot
from fakes.botapp import EXAMPLE_DIRECTORY, make_settings

from access.directory import Directory, PrivacyContacts, load_directory_file
from dialogs.i18n import LOCALES, Translator
from dialogs.pages import (
    page_locale,
    privacy_markdown,
    privacy_page,
    privacy_paragraphs,
    terms_page,
)

T = Translator.load()
DIRECTORY = load_directory_file(EXAMPLE_DIRECTORY)
LAW = {
    "fi": "laki työvoimapalvelujen järjestämisestä (380/2023)",
    "sv": "lagen om ordnande av arbetskraftsservice (380/2023)",
    "en": "Act on the Organisation of Employment Services (380/2023)",
}


class _Page(HTMLParser):
    """What a reader and a browser get: text, links, resources, the html lang."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.text: list[str] = []
        self.links: list[str] = []
        self.resources: list[str] = []  # anything fetched: src, stylesheet links
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        if tag == "html":
            self.lang = values.get("lang")
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        if "src" in values or (tag == "link" and values.get("rel") == "stylesheet"):
            self.resources.append(str(values.get("src") or values.get("href")))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


def _parse(document: str) -> _Page:
    page = _Page()
    page.feed(document)
    page.close()
    return page


@pytest.mark.parametrize("locale", LOCALES)
def test_privacy_page_names_the_law_and_every_areas_controller_and_dpo(locale: str) -> None:
    page = _parse(privacy_page(T, locale, DIRECTORY))
    m = T.get(locale)
    text = " ".join(page.text)
    assert page.lang == locale
    assert m.t("privacy.title") in text
    assert LAW[locale] in text
    assert "julkisista työvoima" not in text and "381/2023" not in text
    for area in DIRECTORY.areas.values():
        assert area.privacy is not None
        assert area.name.get(locale) in text
        assert area.privacy.controller.get(locale) in text
        assert f"mailto:{area.privacy.contact}" in page.links
        assert f"mailto:{area.privacy.dpo}" in page.links
    assert m.t("privacy.dpo") in text
    assert m.n("privacy.retention", DIRECTORY.retention_years).split(": ", 1)[1][1:] in text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("code", ["pohjoinen-keski-suomi", "kuopio", "lantinen-pirkanmaa"])
def test_the_readers_area_gets_its_own_controller_and_dpo_and_the_law_by_name(
    locale: str, code: str
) -> None:
    page = _parse(privacy_page(T, locale, DIRECTORY, area=code))
    m = T.get(locale)
    text = " ".join(page.text)
    assert page.lang == locale
    assert LAW[locale] in text
    assert "julkisista työvoima" not in text and "offentlig arbetskrafts" not in text
    area = DIRECTORY.areas[code]
    assert area.privacy is not None
    assert area.name.get(locale) in text
    assert area.privacy.controller.get(locale) in text
    assert f"mailto:{area.privacy.contact}" in page.links
    assert f"mailto:{area.privacy.dpo}" in page.links
    assert m.t("privacy.controller") in text and m.t("privacy.dpo") in text
    for other in DIRECTORY.areas.values():  # not another area's controller
        if other.code != code:
            assert other.privacy is not None
            assert other.privacy.controller.get(locale) not in text
            assert f"mailto:{other.privacy.dpo}" not in page.links
    # Every area's statement and the other languages (for the same area) one click away.
    assert f"privacy?lang={locale}" in page.links and m.t("pages.every_area") in text
    for language in LOCALES:
        assert f"privacy?lang={language}&area={code}" in page.links


def test_an_unknown_area_shows_every_area() -> None:
    everything = privacy_page(T, "fi", DIRECTORY)
    assert privacy_page(T, "fi", DIRECTORY, area="atlantis") == everything
    assert privacy_page(T, "fi", DIRECTORY, area='"><script>') == everything


@pytest.mark.parametrize("page_of", [privacy_page, terms_page])
@pytest.mark.parametrize("locale", LOCALES)
def test_every_page_links_to_itself_in_the_other_languages_and_loads_nothing(
    page_of: object, locale: str
) -> None:
    document = page_of(T, locale, DIRECTORY)  # type: ignore[operator]
    page = _parse(document)
    name = "privacy" if page_of is privacy_page else "terms"
    for other in LOCALES:
        assert f"{name}?lang={other}" in page.links
        assert T.get(other).language_name(other) in page.text  # in its own words
    assert f"privacy?lang={locale}" in page.links and f"terms?lang={locale}" in page.links
    assert page.resources == []
    assert "script" not in page.tags and "img" not in page.tags and "iframe" not in page.tags
    assert not re.search(r"https?://", document)  # nothing external, no absolute links
    assert re.search(
        r'<a href="' + name + r"\?lang=" + locale + r'"[^>]*aria-current="page"', document
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_terms_page_lists_every_areas_contacts(locale: str) -> None:
    page = _parse(terms_page(T, locale, DIRECTORY))
    text = " ".join(page.text)
    assert T.get(locale).t("pages.terms.title") in text
    for area in DIRECTORY.areas.values():
        assert area.name.get(locale) in text
        for approver in area.approvers:
            assert f"mailto:{approver}" in page.links


def test_every_value_is_escaped() -> None:
    [area, *rest] = DIRECTORY.areas.values()
    hostile = dataclasses.replace(
        area,
        name=dataclasses.replace(area.name, fi='<script>alert("x")</script>'),
        privacy=PrivacyContacts(
            controller=dataclasses.replace(area.name, fi="A & B <i>"),
            contact='x"onmouseover="y@example.fi',
            dpo="dpo@example.fi",
        ),
    )
    directory = dataclasses.replace(
        DIRECTORY, areas={hostile.code: hostile, **{a.code: a for a in rest}}
    )
    for page_of in (privacy_page, terms_page):
        document = page_of(T, "fi", directory)
        assert "<script>" not in document and "<i>" not in document
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in document
        assert 'x"onmouseover' not in document
    assert "A &amp; B &lt;i&gt;" in privacy_page(T, "fi", directory)


def test_an_area_without_a_privacy_block_points_to_its_contacts() -> None:
    [area, *rest] = DIRECTORY.areas.values()
    bare = dataclasses.replace(area, privacy=None)
    directory: Directory = dataclasses.replace(
        DIRECTORY, areas={bare.code: bare, **{a.code: a for a in rest}}
    )
    page = _parse(privacy_page(T, "en", directory))
    assert T.get("en").t("privacy.missing") in page.text
    assert f"mailto:{area.approvers[0]}" in page.links


def test_the_chat_and_the_page_say_the_same() -> None:
    for locale in LOCALES:
        m = T.get(locale)
        paragraphs = privacy_paragraphs(m, DIRECTORY)
        assert paragraphs[0] == m.t("privacy.controller_intro")
        assert LAW[locale] in paragraphs[1]


@pytest.mark.parametrize(
    ("lang", "accept", "default", "expected"),
    [
        ("sv", "en", "fi", "sv"),  # ?lang= wins
        ("SV-fi", None, "fi", "sv"),
        ("de", "en-GB,en;q=0.8", "fi", "en"),  # unknown ?lang= is ignored
        (None, "de-DE, sv-FI;q=0.7, en;q=0.9", "fi", "en"),  # by quality
        (None, "de, fi;q=0", "sv", "sv"),  # q=0 is "not this one"
        (None, "", "en", "en"),
        (None, "fi;q=abc, sv", "en", "sv"),
        (None, None, "xx", "fi"),
    ],
)
def test_the_language_comes_from_the_query_then_accept_language_then_the_default(
    lang: str | None, accept: str | None, default: str, expected: str
) -> None:
    assert page_locale(lang, accept, default) == expected


async def _get(
    http: aiohttp.ClientSession, url: object, **headers: str
) -> tuple[int, str, dict[str, str]]:
    async with http.get(str(url), headers=headers) as response:
        return response.status, await response.text(), dict(response.headers)


@pytest.mark.parametrize("path", ["/privacy", "/terms"])
async def test_the_bot_serves_its_pages_by_language(
    db_url: str, start_bot: StartBot, http: aiohttp.ClientSession, path: str
) -> None:
    server = await start_bot(make_settings(db_url, default_locale="sv"))
    status, body, headers = await _get(http, server.make_url(path))
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<html lang="sv">' in body  # ATMT_DEFAULT_LOCALE
    assert headers["Content-Language"] == "sv"
    assert "Accept-Language" in headers["Vary"]
    assert headers["Cache-Control"].startswith("public, max-age=")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"

    _, body, headers = await _get(http, server.make_url(path), **{"Accept-Language": "en-GB"})
    assert '<html lang="en">' in body and headers["Content-Language"] == "en"
    _, body, _ = await _get(
        http, server.make_url(path + "?lang=fi"), **{"Accept-Language": "en-GB"}
    )
    assert '<html lang="fi">' in body
    async with http.head(server.make_url(path)) as response:
        assert response.status == 200


async def test_the_pages_show_the_directory_in_force(
    db_url: str, start_bot: StartBot, http: aiohttp.ClientSession, directory: Directory
) -> None:
    server = await start_bot(make_settings(db_url))
    _, body, _ = await _get(http, server.make_url("/privacy?lang=en"))
    for area in directory.areas.values():
        assert area.privacy is not None and area.privacy.dpo in body


async def test_the_page_of_the_readers_area_over_http(
    db_url: str, start_bot: StartBot, http: aiohttp.ClientSession, directory: Directory
) -> None:
    server = await start_bot(make_settings(db_url))
    kuopio = directory.areas["kuopio"].privacy
    pks = directory.areas["pohjoinen-keski-suomi"].privacy
    assert kuopio is not None and pks is not None
    status, body, _ = await _get(http, server.make_url("/privacy?lang=sv&area=kuopio"))
    assert status == 200 and '<html lang="sv">' in body
    assert LAW["sv"] in body and kuopio.dpo in body and pks.dpo not in body
    _, body, _ = await _get(http, server.make_url("/terms?lang=en&area=kuopio"))
    assert "contact@kuopio-area.example.fi" in body and "contact@pks-area.example.fi" not in body


def test_docs_privacy_md_shows_the_statement_the_bot_shows() -> None:
    document = (EXAMPLE_DIRECTORY.parents[1] / "docs" / "privacy.md").read_text(encoding="utf-8")
    for locale in LOCALES:
        m = T.get(locale)
        assert m.t("privacy.title") in document
        for text in privacy_paragraphs(m, DIRECTORY):
            for paragraph in text.split("\n\n"):
                assert paragraph in document, (locale, paragraph[:60])
    # The statement part is exactly what scripts/privacy_doc.py writes.
    generated = privacy_markdown(T, DIRECTORY)
    assert (
        "<!-- statement: generated by scripts/privacy_doc.py -->\n\n"
        + generated
        + "\n<!-- end of statement -->\n"
    ) in document, "docs/privacy.md is out of date: run scripts/privacy_doc.py"
    assert LAW["fi"] in generated and "tietosuoja@kuopio-area.example.fi" in generated
