"""Cards of the access review: Keep / Revoke per worker, progress as counts.

Pure builders: texts from the catalogs (``review.*`` in automation.po), user-typed
names through :func:`dialogs.cards.markup.plain` (an input label through ``literal``),
dates in Finnish style.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from access.model import Grant
from access.review import Review, ReviewAnswer, ReviewItem, ReviewProgress
from dialogs.cards.base import Card, card, text, title
from dialogs.cards.markup import literal, plain
from dialogs.i18n import Messages

__all__ = ["REVIEW_CARD", "answer_input_id", "review_card", "review_progress_card"]

REVIEW_CARD = "review"
MAX_ROWS = 200  # one card; a municipality has far fewer active grants


def answer_input_id(index: int) -> str:
    return f"review_answer_{index}"


def _who(m: Messages, grant: Grant, shown: Callable[..., str] = plain) -> str:
    """The worker's line: ``plain`` for a TextBlock, ``literal`` for an input label."""
    return m.t(
        "review.card.worker",
        worker_name=shown(grant.worker.name, limit=200),
        worker_job_title=shown(grant.worker.job_title, limit=200),
        end=m.format_date(grant.end),
    )


def review_card(
    m: Messages,
    review: Review,
    municipality_name: str,
    rows: Sequence[tuple[Grant, ReviewItem]],
) -> Card:
    """Keep / Revoke for every unanswered worker; the answered ones with their answer."""
    body: list[dict[str, Any]] = [
        title(m.t("review.card.title", municipality_name=plain(municipality_name, limit=100))),
        text(m.t("review.card.intro", start=m.format_date(review.started_on))),
    ]
    open_ids: list[str] = []
    for grant, item in list(rows)[:MAX_ROWS]:
        if item.answer is not None:
            answer = (
                m.t("review.answer.keep")
                if item.answer is ReviewAnswer.KEEP
                else m.t("review.answer.revoke")
            )
            body.append(text(m.t("review.card.answered", who=_who(m, grant), answer=answer)))
            continue
        body.append(
            {
                "type": "Input.ChoiceSet",
                "id": answer_input_id(len(open_ids)),
                "label": _who(m, grant, literal),
                "style": "expanded",
                "isRequired": False,
                "choices": [
                    {"title": m.t("review.answer.keep"), "value": ReviewAnswer.KEEP.value},
                    {"title": m.t("review.answer.revoke"), "value": ReviewAnswer.REVOKE.value},
                ],
            }
        )
        open_ids.append(grant.id)
    if not open_ids:
        body.append(text(m.t("review.card.all_answered"), subtle=True))
        return card(body)
    body.append(text(m.t("review.card.revoke_note"), subtle=True))
    actions = [
        {
            "type": "Action.Submit",
            "title": m.t("review.card.submit"),
            "data": {"atmt_card": REVIEW_CARD, "review_id": review.id, "grants": open_ids},
        }
    ]
    return card(body, actions)


def review_progress_card(
    m: Messages,
    area_name: str,
    progress: Sequence[tuple[str, ReviewProgress]],
) -> Card:
    """Counts per municipality's review, newest first (no names)."""
    body: list[dict[str, Any]] = [title(m.t("review.progress.title", area_name=area_name))]
    if not progress:
        body.append(text(m.t("review.progress.none")))
        return card(body)
    for municipality_name, p in progress:
        state = m.t("review.progress.closed") if p.closed else m.t("review.progress.open")
        body.append(
            text(
                m.t(
                    "review.progress.heading",
                    municipality_name=plain(municipality_name, limit=100),
                    start=m.format_date(p.started_on),
                    state=state,
                ),
                weight="Bolder",
            )
        )
        body.append(
            {
                "type": "FactSet",
                "facts": [
                    {"title": m.t("review.progress.total"), "value": str(p.total)},
                    {"title": m.t("review.progress.kept"), "value": str(p.kept)},
                    {"title": m.t("review.progress.revoked"), "value": str(p.revoked)},
                    {"title": m.t("review.progress.ended"), "value": str(p.ended_otherwise)},
                    {"title": m.t("review.progress.unanswered"), "value": str(p.open)},
                ],
            }
        )
    return card(body)
