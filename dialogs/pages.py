"""The bot's own web pages: the privacy statement and the terms of use, as HTML.

``GET /privacy`` and ``GET /terms`` (routes in ``bot.app``) are what the Teams app
package links to (``developer.privacyUrl``, ``termsOfUseUrl``), so that a deployment
needs no web site of its own. Everything here is a pure function of the catalogs
(``privacy.*`` in ``authority.po``, shared with the chat's ``tietosuoja`` card, and
``pages.*`` in ``pages.po``) and the directory in force, whose ``privacy`` block names
each employment area's controller, its contact and its data protection officer.

* The language is ``?lang=fi|sv|en``, else the best of ``Accept-Language``, else the
  deployment's default (:func:`page_locale`); every page links to itself in the other
  languages (``?lang=..``), relative links only, so the bot may sit under a path.
* ``?area=CODE`` (an employment area of the directory) narrows the page to the reader's
  area: its controller, contact and data protection officer (its contacts on the terms
  page), with a link to every area's; an unknown code shows every area.
* One self-contained document: no script, no external style sheet, font or image
  (the host sends a Content-Security-Policy that allows nothing else). Every value is
  escaped with :func:`html.escape`.
* A catalog paragraph written as ``Heading: text`` becomes a heading and a paragraph.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from access.directory import Area, Directory
from dialogs.i18n import LOCALES, Messages, Translator, normalize_locale

__all__ = [
    "PAGES",
    "AreaPrivacy",
    "page_locale",
    "privacy_markdown",
    "privacy_page",
    "privacy_paragraphs",
    "privacy_rows",
    "render_page",
    "terms_page",
]

PAGES = ("privacy", "terms")
"""The page names, which are also their paths (``/privacy``, ``/terms``)."""

_LABELLED = re.compile(r"^([^:.\n]{1,60}):\s+(.+)$", re.DOTALL)
_QUALITY = re.compile(r"^q=([0-9.]+)$")

_STYLE = """
:root { color-scheme: light; }
body { margin: 0; font: 16px/1.55 "Segoe UI", system-ui, -apple-system, sans-serif;
  color: #1b1b1b; background: #f5f6f8; }
header { background: #1f5c99; color: #fff; }
header .bar, main, footer { max-width: 46rem; margin: 0 auto; padding: 0 1.25rem; }
header .bar { display: flex; flex-wrap: wrap; align-items: center;
  justify-content: space-between; gap: .5rem; padding-top: .75rem; padding-bottom: .75rem; }
header .app { font-weight: 600; }
nav ul { list-style: none; display: flex; gap: .25rem; margin: 0; padding: 0; }
nav a { color: #fff; padding: .2rem .6rem; border-radius: .25rem; text-decoration: none;
  border: 1px solid rgba(255,255,255,.5); }
nav a[aria-current="page"] { background: #fff; color: #1f5c99; font-weight: 600; }
main { background: #fff; margin-top: 1.5rem; margin-bottom: 1.5rem; padding: 1.5rem 1.25rem;
  border-radius: .5rem; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0 0 1rem; color: #173f66; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .35rem; color: #173f66; }
h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
p { margin: .35rem 0; }
section.area { border-left: 4px solid #1f5c99; padding: .1rem 0 .1rem .9rem; margin: .9rem 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .25rem 0; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
a { color: #1f5c99; }
footer { color: #555; font-size: .9rem; padding-bottom: 2rem; }
footer a { margin-right: 1rem; }
"""


@dataclass(frozen=True)
class AreaPrivacy:
    """One employment area's lines of the privacy statement, in one language."""

    area: str
    controller: str | None
    contact: str | None
    dpo: str | None
    area_contacts: tuple[str, ...]


def privacy_rows(
    m: Messages, directory: Directory, areas: Collection[str] = ()
) -> list[AreaPrivacy]:
    """The controller, contact and data protection officer (``None`` when the directory
    has no ``privacy`` block for the area) of the reader's ``areas``, or of every area
    when none of ``areas`` is in the directory; in ``m``'s language."""
    return [_area_privacy(m, area) for area in _areas(directory, areas)]


def _areas(directory: Directory, codes: Collection[str]) -> list[Area]:
    chosen = [area for area in directory.areas.values() if area.code in codes]
    return chosen or list(directory.areas.values())


def _known_area(directory: Directory, code: str | None) -> str | None:
    return code if code is not None and code in directory.areas else None


def _area_privacy(m: Messages, area: Area) -> AreaPrivacy:
    privacy = area.privacy
    return AreaPrivacy(
        area=area.name.get(m.locale),
        controller=privacy.controller.get(m.locale) if privacy is not None else None,
        contact=privacy.contact if privacy is not None else None,
        dpo=privacy.dpo if privacy is not None else None,
        area_contacts=area.approvers,
    )


def privacy_paragraphs(m: Messages, directory: Directory) -> list[str]:
    """The privacy statement's texts in order: the controller (followed by every area's
    lines, :func:`privacy_rows`), then purpose to recipients, retention (the directory's
    years), the reader's rights. The chat card and the page show the same."""
    return [
        m.t("privacy.controller_intro"),
        m.t("privacy.statement"),
        m.n("privacy.retention", directory.retention_years),
        m.t("privacy.rights"),
    ]


def page_locale(lang: str | None, accept_language: str | None, default: str) -> str:
    """``?lang=`` when it names fi, sv or en; else the first of ``Accept-Language`` by
    quality; else ``default``."""
    chosen = normalize_locale(lang)
    if chosen is not None:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")[:20]):
        tag, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            if param.replace(" ", "").lower().startswith("q="):
                match = _QUALITY.match(param.replace(" ", "").lower())
                try:
                    quality = float(match[1]) if match else 0.0  # unreadable: not this one
                except ValueError:
                    quality = 0.0
        locale = normalize_locale(tag)
        if locale is not None and quality > 0:
            ranked.append((-quality, index, locale))
    if ranked:
        return min(ranked)[2]
    return default if default in LOCALES else LOCALES[0]


# --------------------------------------------------------------------- pages

_IN_LANGUAGE = {"fi": "Suomeksi", "sv": "På svenska", "en": "In English"}


def privacy_markdown(translator: Translator, directory: Directory) -> str:
    """The statement in every language as Markdown, every area's controller listed: the
    part of docs/privacy.md that ``scripts/privacy_doc.py`` writes."""
    out: list[str] = []
    for locale in LOCALES:
        m = translator.get(locale)
        intro, *rest = privacy_paragraphs(m, directory)
        out += [f"## {_IN_LANGUAGE[locale]}: {m.t('privacy.title')}", intro]
        lines = []
        for row in privacy_rows(m, directory):
            if row.controller is not None and row.contact is not None and row.dpo is not None:
                lines.append(
                    f"- {row.area}: {row.controller}; {m.t('privacy.contact').lower()} "
                    f"{row.contact}; {m.t('privacy.dpo').lower()} {row.dpo}"
                )
            else:
                contacts = ", ".join(row.area_contacts)
                lines.append(f"- {row.area}: {m.t('privacy.missing')} {contacts}")
        out.append("\n".join(lines))
        out += [p for text in rest for p in text.split("\n\n") if p.strip()]
    return "\n\n".join(out) + "\n"


def privacy_page(
    translator: Translator, locale: str, directory: Directory, area: str | None = None
) -> str:
    """The privacy statement in ``locale``, with the controller and contacts of ``area``
    (the reader's), or of every area."""
    m = translator.get(locale)
    area = _known_area(directory, area)
    intro, *rest = privacy_paragraphs(m, directory)
    rows = privacy_rows(m, directory, [area] if area else ())
    parts = [
        *_paragraphs(intro),
        *(_area_section(m, row, privacy=True) for row in rows),
        *_every_area_link(m, "privacy", locale, area),
        *_paragraphs("\n\n".join(rest)),
    ]
    return render_page(translator, locale, "privacy", m.t("privacy.title"), parts, area=area)


def terms_page(
    translator: Translator, locale: str, directory: Directory, area: str | None = None
) -> str:
    """The terms of use in ``locale``, with the contacts of ``area`` or of every area."""
    m = translator.get(locale)
    area = _known_area(directory, area)
    rows = privacy_rows(m, directory, [area] if area else ())
    parts = [
        *_paragraphs(m.t("pages.terms.body")),
        f"<h2>{_e(m.t('pages.contacts.title'))}</h2>",
        *(_area_section(m, row, privacy=False) for row in rows),
        *_every_area_link(m, "terms", locale, area),
    ]
    return render_page(translator, locale, "terms", m.t("pages.terms.title"), parts, area=area)


def _every_area_link(m: Messages, page: str, locale: str, area: str | None) -> list[str]:
    if area is None:
        return []
    return [f'<p><a href="{_e(page)}?lang={_e(locale)}">{_e(m.t("pages.every_area"))}</a></p>']


def render_page(
    translator: Translator,
    locale: str,
    page: str,
    heading: str,
    parts: Iterable[str],
    *,
    area: str | None = None,
) -> str:
    """The whole document: language menu, ``heading``, ``parts`` (HTML), footer links.
    ``area``: the reader's employment area, kept in the language menu's and the footer's
    links."""
    m = translator.get(locale)
    keep = f"&area={area}" if area else ""
    # Each language in its own words.
    languages = [(code, translator.get(code).language_name(code)) for code in LOCALES]
    menu = "".join(
        f'<li><a href="{_e(page)}?lang={code}{_e(keep)}" hreflang="{code}" lang="{code}"'
        + (' aria-current="page"' if code == locale else "")
        + f">{_e(name)}</a></li>"
        for code, name in languages
    )
    alternates = "".join(
        f'<link rel="alternate" hreflang="{code}" href="{_e(page)}?lang={code}{_e(keep)}">'
        for code in LOCALES
        if code != locale
    )
    footer = "".join(
        f'<a href="{name}?lang={locale}{_e(keep)}"'
        + (' aria-current="page"' if name == page else "")
        + f">{_e(m.t(f'pages.{name}.link'))}</a>"
        for name in PAGES
    )
    return (
        "<!doctype html>\n"
        f'<html lang="{_e(locale)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(heading)}</title>\n{alternates}\n<style>{_STYLE}</style>\n</head>\n"
        '<body>\n<header><div class="bar">'
        f'<span class="app">{_e(m.t("pages.app_name"))}</span>'
        f'<nav aria-label="{_e(m.t("pages.languages"))}"><ul>{menu}</ul></nav>'
        "</div></header>\n"
        f"<main>\n<h1>{_e(heading)}</h1>\n" + "\n".join(parts) + "\n</main>\n"
        f"<footer>{footer}</footer>\n</body>\n</html>\n"
    )


# ------------------------------------------------------------------- pieces


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _paragraphs(text: str) -> list[str]:
    """``Heading: text`` paragraphs as a heading and a paragraph, others as paragraphs."""
    out: list[str] = []
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        labelled = _LABELLED.match(paragraph)
        if labelled:
            body = labelled[2][:1].upper() + labelled[2][1:]
            out.append(f"<h2>{_e(labelled[1])}</h2>\n<p>{_e(body)}</p>")
        else:
            out.append(f"<p>{_e(paragraph)}</p>")
    return out


def _mail(address: str) -> str:
    return f'<a href="mailto:{_e(address)}">{_e(address)}</a>'


def _facts(rows: Sequence[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _area_section(m: Messages, row: AreaPrivacy, *, privacy: bool) -> str:
    contacts = ", ".join(_mail(a) for a in row.area_contacts)
    facts: list[tuple[str, str]] = []
    if row.controller is not None and row.contact is not None and row.dpo is not None:
        facts.append((m.t("privacy.controller"), _e(row.controller)))
        facts.append((m.t("privacy.contact"), _mail(row.contact)))
        facts.append((m.t("privacy.dpo"), _mail(row.dpo)))
    if not privacy or not facts:
        facts.append((m.t("pages.contacts.area_contacts"), contacts))
    missing = f"<p>{_e(m.t('privacy.missing'))}</p>" if privacy and row.controller is None else ""
    return f'<section class="area">\n<h3>{_e(row.area)}</h3>\n{missing}{_facts(facts)}\n</section>'
