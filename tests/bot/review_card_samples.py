"""Sample review cards for the generic card checks (tests/bot/test_cards.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from access.model import Grant, GrantState, Worker
from access.review import Review, ReviewAnswer, ReviewItem, ReviewProgress
from dialogs.cards.review import review_card, review_progress_card
from dialogs.i18n import Messages

AT = datetime(2026, 6, 2, 6, 0, tzinfo=UTC)
REVIEW = Review("rev1", "laukaa", "pohjoinen-keski-suomi", AT, date(2026, 6, 2))


def grant(n: int, name: str = "") -> Grant:
    return Grant(
        id=f"g{n}",
        worker=Worker(
            name or f"Testi Työntekijä{n}",
            f"worker{n}@laukaa.example.fi",
            "Ohjaaja",
            "laukaa",
        ),
        municipality="laukaa",
        area="pohjoinen-keski-suomi",
        service_areas=("youth",),
        level="view",
        start=date(2026, 3, 2),
        end=date(2027, 2, 28),
        state=GrantState.ACTIVE,
        version=1,
        origin_request_id=f"r{n}",
        requested_by="manager@laukaa.example.fi",
        created_at=AT,
        updated_at=AT,
    )


def rows() -> list[tuple[Grant, ReviewItem]]:
    return [
        (grant(1), ReviewItem("rev1", "g1", ReviewAnswer.KEEP, "manager@laukaa.example.fi", AT)),
        (grant(2, "**Pomo** [klikkaa](https://evil.example) <b>x</b>"), ReviewItem("rev1", "g2")),
        (grant(3), ReviewItem("rev1", "g3")),
    ]


def sample_review_card(m: Messages) -> dict[str, Any]:
    return review_card(m, REVIEW, "Laukaa", rows())


def sample_progress_card(m: Messages) -> dict[str, Any]:
    progress = ReviewProgress("rev1", "laukaa", date(2026, 6, 2), False, 3, 1, 1, 0, 1)
    return review_progress_card(m, "Alue", [("Laukaa", progress)])


def sample_misuse_card(m: Messages) -> dict[str, Any]:
    from dialogs.cards.misuse import misuse_card

    return misuse_card(m, [grant(1), grant(2, "<i>Eve</i> **x**")], may_revoke=True)
