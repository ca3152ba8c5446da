#!/usr/bin/env python3
"""Draw the Teams app icons of the bot with the standard library only (zlib + struct).

    python scripts/make_icons.py            # writes manifest/color.png and manifest/outline.png

- ``color.png``: 192×192 full-colour icon: a white key on the accent colour (the
  manifest's ``accentColor``), with a rounded square as background.
- ``outline.png``: 32×32 outline icon: the same key in white on a transparent
  background, as Teams requires (only white pixels with alpha).

Shapes are rasterized with 8×8 supersampling, so edges are anti-aliased. The output is
deterministic: running the script again gives byte-identical files (the test suite
checks the committed PNGs against this script).
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCENT = (0x1F, 0x5C, 0x99)  # keep equal to manifest.json "accentColor"
WHITE = (255, 255, 255)
SUPERSAMPLE = 8

Shape = Callable[[float, float], bool]  # (x, y) in unit square [0, 1) -> inside?


def png_bytes(width: int, height: int, rgba: list[tuple[int, int, int, int]]) -> bytes:
    """An 8-bit RGBA PNG (colour type 6) of ``rgba`` (row-major)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter: none
        for x in range(width):
            raw.extend(rgba[y * width + x])
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


def coverage(shape: Shape, x: int, y: int, size: int) -> float:
    """Fraction of pixel (x, y) of a ``size``-pixel square covered by ``shape``."""
    hits = 0
    for sy in range(SUPERSAMPLE):
        for sx in range(SUPERSAMPLE):
            u = (x + (sx + 0.5) / SUPERSAMPLE) / size
            v = (y + (sy + 0.5) / SUPERSAMPLE) / size
            hits += shape(u, v)
    return hits / (SUPERSAMPLE * SUPERSAMPLE)


# ------------------------------------------------------------------- shapes


def rounded_square(margin: float, radius: float) -> Shape:
    lo, hi = margin, 1.0 - margin

    def inside(u: float, v: float) -> bool:
        if not (lo <= u <= hi and lo <= v <= hi):
            return False
        cx = min(max(u, lo + radius), hi - radius)
        cy = min(max(v, lo + radius), hi - radius)
        return (u - cx) ** 2 + (v - cy) ** 2 <= radius**2

    return inside


def key(scale: float = 1.0, stroke: float = 0.0) -> Shape:
    """A key lying at 45°: a ring (the bow) and a shaft with two teeth.

    ``stroke`` > 0 thickens every part (used for the small outline icon, where thin
    lines would vanish).
    """
    s = scale
    bow_c = (0.0, 0.0)
    bow_outer, bow_inner = 0.17 * s + stroke, 0.085 * s - stroke * 0.4
    shaft_half = 0.045 * s + stroke * 0.5
    shaft_from, shaft_to = 0.15 * s, 0.55 * s
    teeth = [(0.40 * s, 0.47 * s), (0.50 * s, 0.55 * s)]  # along the shaft
    tooth_depth = 0.11 * s + stroke
    angle = math.radians(-45.0)
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    origin = (0.5 - 0.19 * s, 0.5 + 0.19 * s)  # bow centre in the icon

    def inside(u: float, v: float) -> bool:
        # into key coordinates: x along the shaft, y across it
        dx, dy = u - origin[0], v - origin[1]
        x = dx * cos_a + dy * sin_a
        y = -dx * sin_a + dy * cos_a
        r2 = (x - bow_c[0]) ** 2 + (y - bow_c[1]) ** 2
        if bow_inner**2 <= r2 <= bow_outer**2:
            return True
        if shaft_from <= x <= shaft_to and abs(y) <= shaft_half:
            return True
        return any(a <= x <= b and 0.0 <= y <= shaft_half + tooth_depth for a, b in teeth)

    return inside


# -------------------------------------------------------------------- icons


def color_icon(size: int = 192) -> bytes:
    background = rounded_square(0.0, 0.18)
    glyph = key(scale=1.05)
    pixels: list[tuple[int, int, int, int]] = []
    for y in range(size):
        for x in range(size):
            bg = coverage(background, x, y, size)
            fg = coverage(glyph, x, y, size) if bg else 0.0
            rgb = tuple(round(a * (1 - fg) + w * fg) for a, w in zip(ACCENT, WHITE, strict=True))
            pixels.append((rgb[0], rgb[1], rgb[2], round(255 * bg)))
    return png_bytes(size, size, pixels)


def outline_icon(size: int = 32) -> bytes:
    glyph = key(scale=1.2, stroke=0.012)
    pixels = []
    for y in range(size):
        for x in range(size):
            alpha = round(255 * coverage(glyph, x, y, size))
            pixels.append((255, 255, 255, alpha) if alpha else (0, 0, 0, 0))
    return png_bytes(size, size, pixels)


ICONS: dict[str, Callable[[], bytes]] = {"color.png": color_icon, "outline.png": outline_icon}


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "manifest"
    out.mkdir(parents=True, exist_ok=True)
    for name, draw in ICONS.items():
        (out / name).write_bytes(draw())
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
