"""The bot's own privacy statement in Chromium, in Finnish, Swedish and English.

``atmt-bot run`` serves ``/privacy``; the browser opens it in each language, follows the
language menu, checks that the page loaded nothing but itself, and saves the
screenshots of the documentation: docs/screenshots/privacy-{fi,sv,en}.png.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import ROOT, BotProcess

from dialogs.i18n import LOCALES, Translator

pytestmark = pytest.mark.e2e

DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"


def test_privacy_statement_renders_in_every_language(
    bot: BotProcess, drive: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    translator = Translator.load()
    base = f"http://127.0.0.1:{bot.port}"
    steps: list[dict[str, Any]] = []
    for locale in LOCALES:
        steps.append({"as": "reader", "do": "visit", "url": f"{base}/privacy?lang={locale}"})
        steps.append(
            {"as": "reader", "do": "screenshot", "name": f"privacy-{locale}", "fullPage": True}
        )
    # The other languages are one click away.
    swedish = translator.get("sv").language_name("sv")
    steps.append({"as": "reader", "do": "follow", "link": swedish})

    report = drive(
        {
            "clients": {"reader": f"{base}/privacy"},
            "screenshots": str(DOCS_SCREENSHOTS),
            "viewport": {"width": 1000, "height": 800},
            "steps": steps,
        }
    )

    assert report["error"] is None, report["error"]
    visits = [step["detail"] for step in report["steps"] if step["do"] in ("visit", "follow")]
    for locale, visit in zip([*LOCALES, "sv"], visits, strict=True):
        assert visit["status"] == 200
        assert visit["lang"] == locale
        assert visit["title"] == translator.get(locale).t("privacy.title")
        assert visit["requests"] == [visit["url"]]  # no style sheet, font, script or image
    assert visits[-1]["url"].endswith("/privacy?lang=sv")
    shots = [step["detail"] for step in report["steps"] if step["do"] == "screenshot"]
    assert shots == [str(DOCS_SCREENSHOTS / f"privacy-{locale}.png") for locale in LOCALES]
    for shot in shots:
        data = (DOCS_SCREENSHOTS / shot.rsplit("/", 1)[1]).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
