"""Text that one person typed and another person reads, in chat or in a file.

Three functions, each the only place its rule lives:

* :func:`strip_invisible`: removes the characters that make text look different
  from what it is: the bidirectional controls (U+202A–U+202E embeddings and
  overrides, U+2066–U+2069 isolates, and the marks U+200E, U+200F, U+061C) and the
  zero-width characters (U+200B–U+200D, U+2060 word joiner, U+FEFF). A name such as
  ``"Aino \\u202eniknE"`` would otherwise show reversed, and a zero-width space hides
  a duplicate. Applied where names, job titles and free texts enter (the request
  draft, every text of an incoming Teams activity) and again where they are shown.
* :func:`defang_links`: a URL typed by one person must never be a clickable link in
  another person's card or message. Teams (and Outlook in a plain-text e-mail) turn
  ``https://...``, ``www.x.fi`` and bare host names into links, so the scheme's colon
  and the dots of a host name are shown in brackets: ``https[:]//evil[.]example/x``.
  E-mail addresses are left alone (a mail link goes where its visible text says).
* :func:`safe_cell`: a cell of a file the bot writes (KEHA CSV/XLSX, reports, the
  audit export) that a spreadsheet never runs as a formula: a value whose first
  visible character is ``= + - @`` (or their full-width forms U+FF1D, U+FF0B,
  U+FF0D, U+FF20), a tab or a carriage return gets a leading apostrophe.
"""

from __future__ import annotations

import re

__all__ = ["FORMULA_START", "INVISIBLE", "defang_links", "safe_cell", "strip_invisible"]

#: Bidirectional controls and zero-width characters (see the module docstring).
INVISIBLE = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]  # LRE RLE PDF LRO RLO
    + [chr(c) for c in range(0x2066, 0x206A)]  # LRI RLI FSI PDI
    + ["\u200e", "\u200f", "\u061c"]  # LRM RLM ALM
    + ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]  # ZWSP ZWNJ ZWJ WJ BOM
)
_INVISIBLE = re.compile("[" + "".join(sorted(INVISIBLE)) + "]")

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_LEADING_BLANKS = " \n\u00a0\u3000" + "".join(sorted(INVISIBLE))

# "scheme://" of any scheme, and the schemes that link without slashes.
_SCHEME = re.compile(
    r"(?i)\b([a-z][a-z0-9+.\-]{0,31}):(?=/)"
    r"|\b(mailto|tel|sms|callto|javascript|vbscript|data|file|sips?|skype|im|xmpp|news"
    r"|magnet|msteams|ms-[a-z\-]{1,30}):"
)
# A host name: labels joined by dots, ending in a label that starts with a letter (a
# top-level domain), or four numbers joined by dots; not inside a longer word.
_LABEL = r"[^\W_](?:[\w\-]{0,61}[^\W_])?"
_HOST = re.compile(
    rf"(?<![\w\-])((?:{_LABEL}\.)+[^\W\d_][\w\-]{{0,62}}|\d{{1,3}}(?:\.\d{{1,3}}){{3}})"
    r"(?![\w\-]|\.[^\W_])"
)
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")


def strip_invisible(value: str) -> str:
    """``value`` without bidirectional controls and zero-width characters."""
    return _INVISIBLE.sub("", value) if _INVISIBLE.search(value) else value


def defang_links(value: str) -> str:
    """``value`` with every URL, ``www.`` address and host name made unclickable."""
    value = _SCHEME.sub(lambda m: f"{m.group(1) or m.group(2)}[:]", value)
    parts: list[str] = []
    last = 0
    for email in _EMAIL.finditer(value):  # an address stays as it is
        parts.append(_defang_hosts(value[last : email.start()]))
        parts.append(email.group(0))
        last = email.end()
    parts.append(_defang_hosts(value[last:]))
    return "".join(parts)


def _defang_hosts(value: str) -> str:
    return _HOST.sub(lambda m: m.group(1).replace(".", "[.]"), value)


def safe_cell(value: str) -> str:
    """A text cell that a spreadsheet never runs as a formula (CSV/formula injection)."""
    visible = value.lstrip(_LEADING_BLANKS)
    return "'" + value if visible[:1] in FORMULA_START and visible else value
