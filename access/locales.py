"""The languages of the product: every user-visible text exists in each of them."""

from __future__ import annotations

__all__ = ["DEFAULT_LOCALE", "LOCALES"]

LOCALES: tuple[str, ...] = ("fi", "sv", "en")
"""Finnish, Swedish and English, in this order (Finnish first)."""

DEFAULT_LOCALE = "fi"
"""The language when nothing else is known."""
