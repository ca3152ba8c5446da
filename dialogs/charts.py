"""A small bar chart as PNG, rendered server-side in pure Python (zlib, no matplotlib).

The report card shows it as a ``data:`` URI (a few kilobytes, well inside the card
size limit), so no image URL has to be reachable from the Teams client.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence

__all__ = ["bar_chart_png", "data_uri"]

_BACKGROUND = (255, 255, 255)
_AXIS = (120, 120, 120)
_BARS = ((70, 71, 117), (98, 100, 167))  # Teams purple, two shades (alternating)


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def bar_chart_png(values: Sequence[int], *, width: int = 360, height: int = 120) -> bytes:
    """Vertical bars for ``values`` (left to right) on a white background, with a
    baseline; the tallest bar fills the height. Labels live in the card's text."""
    count = max(len(values), 1)
    top = max(max(values, default=0), 1)
    margin = 4
    slot = (width - 2 * margin) / count
    pixels = [[_BACKGROUND] * width for _ in range(height)]
    baseline = height - margin
    for index, value in enumerate(values):
        left = int(margin + index * slot + slot * 0.15)
        right = max(int(margin + (index + 1) * slot - slot * 0.15), left + 1)
        bar = int((baseline - margin) * max(value, 0) / top)
        colour = _BARS[index % 2]
        for y in range(baseline - bar, baseline):
            row = pixels[y]
            for x in range(left, min(right, width)):
                row[x] = colour
    for x in range(margin, width - margin):
        pixels[baseline][x] = _AXIS
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
