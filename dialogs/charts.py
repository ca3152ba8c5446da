"""A small bar chart as PNG, rendered server-side in pure Python (zlib, no matplotlib).

The report card shows it as a ``data:`` URI (a few kilobytes, well inside the card
size limit), so no image URL has to be reachable from the Teams client.

The chart reads on its own: a y axis with its scale (0, the middle, the top), an x axis,
each bar's value above it and its label (``12/25``) under it, drawn with a small pixel
font of digits and ``/ . -``. Every colour passes WCAG AA (4.5:1) on the white
background (tests/unit/test_card_contrast.py); the numbers are also in the image's alt
text and in the card's facts (:func:`alt_values`), so nothing depends on seeing it.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence

__all__ = ["BACKGROUND", "COLOURS", "alt_values", "bar_chart_png", "data_uri", "month_label"]

Pixel = tuple[int, int, int]

BACKGROUND: Pixel = (255, 255, 255)
_INK: Pixel = (66, 66, 66)  # axes, ticks and numbers (#424242, 10:1 on white)
_BARS: tuple[Pixel, Pixel] = ((70, 71, 117), (98, 100, 167))  # Teams purple, two shades
COLOURS: tuple[Pixel, ...] = (_INK, *_BARS)  # every colour drawn on BACKGROUND

# 3x5 glyphs, rows top to bottom, "1" = ink.
_GLYPHS: dict[str, tuple[str, ...]] = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    "/": ("001", "001", "010", "100", "100"),
    ".": ("000", "000", "000", "000", "010"),
    "-": ("000", "000", "111", "000", "000"),
    " ": ("000", "000", "000", "000", "000"),
}
_SCALE = 2
_GLYPH_W = 3 * _SCALE
_GLYPH_H = 5 * _SCALE
_GAP = _SCALE


def month_label(month: str) -> str:
    """``"2025-12"`` -> ``"12/25"``: short, language-neutral, in the chart's font."""
    year, _, number = month.partition("-")
    return f"{int(number)}/{year[-2:]}" if number.isdigit() and year.isdigit() else ""


def alt_values(labels: Sequence[str], values: Sequence[int]) -> str:
    """``"12/2025: 3, 1/2026: 5"`` for an alt text: the numbers the bars show."""
    return ", ".join(f"{label}: {value}" for label, value in zip(labels, values, strict=False))


def _text_width(value: str) -> int:
    return max(len(value) * (_GLYPH_W + _GAP) - _GAP, 0)


def _draw_text(pixels: list[list[Pixel]], value: str, left: int, top: int) -> None:
    height, width = len(pixels), len(pixels[0])
    x = left
    for char in value:
        glyph = _GLYPHS.get(char, _GLYPHS[" "])
        for row, bits in enumerate(glyph):
            for column, bit in enumerate(bits):
                if bit != "1":
                    continue
                for dy in range(_SCALE):
                    for dx in range(_SCALE):
                        y, px = top + row * _SCALE + dy, x + column * _SCALE + dx
                        if 0 <= y < height and 0 <= px < width:
                            pixels[y][px] = _INK
        x += _GLYPH_W + _GAP


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def bar_chart_png(
    values: Sequence[int],
    *,
    labels: Sequence[str] = (),
    width: int = 600,
    height: int = 220,
) -> bytes:
    """Vertical bars for ``values`` (left to right) on a white background, with axes,
    the scale, each value above its bar and ``labels`` (digits, ``/ . -``) under them.
    A chart too small for text (tests, thumbnails) gets the bars and axes only."""
    count = max(len(values), 1)
    top_value = max(max(values, default=0), 1)
    pixels = [[BACKGROUND] * width for _ in range(height)]
    room = height >= 80 and width >= 160
    scale_width = _text_width(str(top_value)) + 6 if room else 0
    left, right = 4 + scale_width, width - 4
    top, baseline = (4 + _GLYPH_H + 4, height - (4 + _GLYPH_H + 6)) if room else (4, height - 4)
    slot = (right - left) / count
    for index, value in enumerate(values):
        x0 = int(left + index * slot + slot * 0.15)
        x1 = max(int(left + (index + 1) * slot - slot * 0.15), x0 + 1)
        bar = int((baseline - top) * max(value, 0) / top_value)
        colour = _BARS[index % 2]
        for y in range(baseline - bar, baseline):
            row = pixels[y]
            for x in range(x0, min(x1, width)):
                row[x] = colour
        if room:
            middle = (x0 + x1) // 2
            number = str(value)
            _draw_text(
                pixels, number, middle - _text_width(number) // 2, baseline - bar - 3 - _GLYPH_H
            )
            label = labels[index] if index < len(labels) else ""
            if _text_width(label) <= slot:
                _draw_text(pixels, label, middle - _text_width(label) // 2, baseline + 5)
    for x in range(left, right):  # x axis
        pixels[baseline][x] = _INK
    for y in range(top, baseline + 1):  # y axis
        pixels[y][left] = _INK
    if room:  # the scale: 0, the middle, the top, with ticks
        for tick in sorted({0, top_value // 2, top_value}):
            y = baseline - int((baseline - top) * tick / top_value)
            for x in range(left - 3, left):
                pixels[y][x] = _INK
            number = str(tick)
            _draw_text(pixels, number, left - 5 - _text_width(number), y - _GLYPH_H // 2)
    raw = b"".join(b"\x00" + bytes(c for pixel in row for c in pixel) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
