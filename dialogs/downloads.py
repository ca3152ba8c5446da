"""What a conversation offers as a file: a download link's claim and the file served.

Teams bots cannot attach arbitrary files to a message, so the authority's cards carry
an ``Action.OpenUrl`` button with a short-lived signed link. The host signs and serves
the links (``bot.downloads``); the conversation that offered the link makes the file
for a verified :class:`Claim` (``AuthorityChat.produce``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Claim", "LinkSigner", "Served"]


@dataclass(frozen=True)
class Claim:
    """What a verified link asks for, and for whom."""

    kind: str  # keha | report | mydata
    ident: str  # batch id, "area:first:last", or ""
    fmt: str  # csv | xlsx | json
    user_key: str
    locale: str
    expires: int


@dataclass(frozen=True)
class Served:
    """A file made for a claim."""

    body: bytes
    content_type: str
    filename: str


class LinkSigner(Protocol):
    """Makes the signed, short-lived URL of a file (``bot.downloads.DownloadSigner``)."""

    def url(self, kind: str, ident: str, fmt: str, user_key: str, locale: str) -> str: ...
