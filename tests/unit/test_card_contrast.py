"""Every colour a card or the report chart uses passes WCAG AA (4.5:1 for text), in
Teams' light and dark themes.

The ratios are computed (WCAG 2.x relative luminance) from the colours Teams renders
for the Adaptive Card colour names and container styles (``dialogs.cards.status``,
from Microsoft's Teams host configs) and from the chart's own colours. Every ``color``
and container ``style`` written anywhere in dialogs/ is found in the source, so a new
card that colours text yellow fails here. docs/decisions.md ("Card colours and
contrast") has the table.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dialogs.cards.status import (
    BADGE_STYLES,
    CONTAINER_BACKGROUNDS,
    TEAMS_TEXT_COLOURS,
    TEXT_COLOURS,
)
from dialogs.charts import BACKGROUND, COLOURS

AA = 4.5
DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"
THEMES = ("light", "dark")


def _rgb(colour: str, over: str = "#FFFFFF") -> tuple[float, float, float]:
    """``#RRGGBB`` or ``#AARRGGBB`` (alpha first, as Teams' host config writes it),
    blended over ``over``."""
    digits = colour.lstrip("#")
    alpha = 1.0
    if len(digits) == 8:
        alpha, digits = int(digits[:2], 16) / 255, digits[2:]
    rgb = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    if alpha < 1.0:
        base = _rgb(over)
        rgb = [alpha * c + (1 - alpha) * b for c, b in zip(rgb, base, strict=True)]
    return rgb[0], rgb[1], rgb[2]


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    fg = _luminance(_rgb(foreground, background))
    bg = _luminance(_rgb(background))
    light, dark = max(fg, bg), min(fg, bg)
    return (light + 0.05) / (dark + 0.05)


def _hex(pixel: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02X}" for c in pixel)


def _used(key: str) -> set[str]:
    """Every string constant given to ``key`` in a dict literal anywhere in dialogs/."""
    found: set[str] = set()
    for path in DIALOGS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values, strict=True):
                    if isinstance(k, ast.Constant) and k.value == key:
                        if isinstance(v, ast.Constant) and isinstance(v.value, str):
                            found.add(v.value.lower())
                        elif isinstance(v, ast.IfExp):
                            found.update(
                                b.value.lower()
                                for b in (v.body, v.orelse)
                                if isinstance(b, ast.Constant) and isinstance(b.value, str)
                            )
    return found


def test_the_ratio_is_computed_as_wcag_says() -> None:
    assert contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast("#FFFFFF", "#FFFFFF") == pytest.approx(1.0)
    assert contrast("#767676", "#FFFFFF") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("theme", THEMES)
def test_text_colours_the_cards_may_use_pass_aa(theme: str) -> None:
    palette = TEAMS_TEXT_COLOURS[theme]
    for name in (*sorted(TEXT_COLOURS), "subtle"):
        for background in ("background", "emphasis"):
            ratio = contrast(palette[name], palette[background])
            assert ratio >= AA, f"{theme}: {name} on {background}: {ratio:.2f}"


def test_teams_colours_that_fail_are_not_in_the_allowed_set() -> None:
    """Good and warning text fail on white, attention text on the dark theme: the
    reason cards never colour text with them."""
    failing = {
        name
        for theme in THEMES
        for name in ("default", "accent", "good", "warning", "attention")
        if contrast(TEAMS_TEXT_COLOURS[theme][name], TEAMS_TEXT_COLOURS[theme]["background"]) < AA
    }
    assert failing == {"good", "warning", "attention"}
    assert not failing & TEXT_COLOURS


@pytest.mark.parametrize("theme", THEMES)
def test_status_boxes_pass_aa(theme: str) -> None:
    for style, (background, text) in CONTAINER_BACKGROUNDS[theme].items():
        ratio = contrast(text, background)
        assert ratio >= AA, f"{theme}: text in a {style} box: {ratio:.2f}"
    assert set(BADGE_STYLES.values()) <= set(CONTAINER_BACKGROUNDS[theme])


def test_every_text_colour_written_in_the_cards_passes() -> None:
    colours = _used("color")
    assert colours <= TEXT_COLOURS, f"text coloured with {sorted(colours - TEXT_COLOURS)}"


def test_every_container_style_written_in_the_cards_passes() -> None:
    styles = _used("style") & {"good", "warning", "attention", "accent", "emphasis"}
    for theme in THEMES:
        assert styles <= set(CONTAINER_BACKGROUNDS[theme]), styles


def test_every_chart_colour_passes_on_its_background() -> None:
    for colour in COLOURS:
        ratio = contrast(_hex(colour), _hex(BACKGROUND))
        assert ratio >= AA, f"chart {_hex(colour)}: {ratio:.2f}"
