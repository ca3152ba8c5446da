"""The access review in chat: the ``review`` command and the card's answers.

* A requester gets one card per open review of their municipalities: Keep / Revoke per
  worker. Submitting records every chosen answer (``ReviewService.answer``): a second
  click, or an answer someone else gave first, is reported as already answered and
  changes nothing.
* An admin or approver gets the progress of their areas' reviews as counts.
* Anyone else is told there is nothing to review.
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext

from access.errors import AccessDenied, AccessError, NotFound
from access.review import ReviewAnswer, ReviewService
from dialogs.cards.review import REVIEW_CARD, answer_input_id, review_card, review_progress_card
from dialogs.turn import caller_email, messages_of

__all__ = ["ReviewChat"]

log = logging.getLogger(__name__)

MAX_ANSWERS = 200


def _card(content: dict[str, Any]) -> Any:
    return MessageFactory.attachment(CardFactory.adaptive_card(content))


class ReviewChat:
    def __init__(self, reviews: ReviewService) -> None:
        self.reviews = reviews

    async def run(self, turn_context: TurnContext) -> None:
        m = messages_of(turn_context)
        email = caller_email(turn_context)
        if email is None:
            await turn_context.send_activity(m.t("review.no_identity"))
            return
        directory = self.reviews.directory
        roles = directory.roles_of(email)
        sent = False
        if roles.requester_for:
            for review, rows in await self.reviews.open_for(email):
                municipality = directory.municipality(review.municipality)
                name = municipality.name if municipality is not None else review.municipality
                await turn_context.send_activity(_card(review_card(m, review, name, rows)))
                sent = True
        for area_code in sorted(roles.admin_in | roles.decides_in):
            area = directory.area(area_code)
            if area is None:
                continue
            progress = []
            for p in await self.reviews.progress(email, area_code):
                municipality = directory.municipality(p.municipality)
                progress.append((municipality.name if municipality else p.municipality, p))
            await turn_context.send_activity(
                _card(review_progress_card(m, area.name.get(m.locale), progress))
            )
            sent = True
        if not sent:
            await turn_context.send_activity(m.t("review.nothing"))

    async def answer_card(self, turn_context: TurnContext, value: dict[str, Any]) -> bool:
        """Handle the review card's submit; False when the card is not a review card."""
        if value.get("atmt_card") != REVIEW_CARD:
            return False
        m = messages_of(turn_context)
        review_id = value.get("review_id")
        grants = value.get("grants")
        if (
            not isinstance(review_id, str)
            or not isinstance(grants, list)
            or not all(isinstance(g, str) for g in grants)
            or len(grants) > MAX_ANSWERS
        ):
            await turn_context.send_activity(m.t("card.expired"))
            return True
        email = caller_email(turn_context)
        if email is None:
            await turn_context.send_activity(m.t("review.no_identity"))
            return True
        answered = already = failed = 0
        for index, grant_id in enumerate(grants):
            raw = value.get(answer_input_id(index))
            try:
                answer = ReviewAnswer(raw) if isinstance(raw, str) and raw else None
            except ValueError:
                answer = None
            if answer is None:
                continue
            try:
                _, first = await self.reviews.answer(email, review_id, grant_id, answer)
            except AccessDenied:
                await turn_context.send_activity(m.t("review.denied"))
                return True
            except NotFound:
                await turn_context.send_activity(m.t("card.expired"))
                return True
            except AccessError as error:  # e.g. the grant was revoked meanwhile
                log.info(
                    "review answer refused",
                    extra={"event": "review_refused", "reason": error.code},
                )
                failed += 1
                continue
            answered += first
            already += not first
        if answered == already == failed == 0:
            await turn_context.send_activity(m.t("review.no_answers"))
            return True
        await turn_context.send_activity(
            m.t("review.saved", answered=answered, already=already, failed=failed)
        )
        return True
