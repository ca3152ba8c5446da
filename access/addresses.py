"""Work e-mail addresses: how people are identified everywhere in the product."""

from __future__ import annotations

__all__ = ["EMAIL_MAX", "normalize_email"]

EMAIL_MAX = 254
"""The longest e-mail address accepted (RFC 5321 path limit less the brackets)."""


def normalize_email(value: str) -> str:
    """The address as it is compared and stored: stripped and lower-cased.

    A blank value becomes ``""``; callers that keep "no address" as ``None`` write
    ``normalize_email(value or "") or None``."""
    return value.strip().lower()
