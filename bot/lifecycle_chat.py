"""Chat entry of the lifecycle features (issue 8): the access review and misuse
reports. The handler routes the ``review`` and ``misuse`` commands and these cards'
submits here."""

from __future__ import annotations

from typing import Any

from botbuilder.core import TurnContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.misuse import MisuseReports
from access.review import ReviewService
from access.service import AccessService
from bot.commands import Command
from bot.identity import IdentityResolver
from bot.misuse_chat import MisuseChat
from bot.review_chat import ReviewChat
from storage.automation import automation_unit_of_work_factory

__all__ = ["HANDLED", "LifecycleChat", "build_lifecycle_chat"]

HANDLED = frozenset({Command.REVIEW, Command.MISUSE})


class LifecycleChat:
    def __init__(self, review: ReviewChat, misuse: MisuseChat) -> None:
        self.review = review
        self.misuse = misuse

    async def run(self, turn_context: TurnContext, command: Command) -> None:
        if command is Command.REVIEW:
            await self.review.run(turn_context)
        elif command is Command.MISUSE:
            await self.misuse.run(turn_context)

    async def answer_card(self, turn_context: TurnContext, value: dict[str, Any]) -> bool:
        """Handle a review or misuse card's submit; False when the card is not ours."""
        return await self.review.answer_card(turn_context, value) or (
            await self.misuse.answer_card(turn_context, value)
        )


def build_lifecycle_chat(
    service: AccessService,
    sessions: async_sessionmaker[AsyncSession],
    identities: IdentityResolver,
) -> LifecycleChat:
    """The chat on the service's directory, clock and ids (``create_app``)."""
    uow_factory = automation_unit_of_work_factory(sessions)
    reviews = ReviewService(
        uow_factory, lambda: service.directory, service.clock, service.ids, service
    )
    reports = MisuseReports(uow_factory, lambda: service.directory, service.clock, service.ids)
    return LifecycleChat(ReviewChat(reviews, identities), MisuseChat(reports, service, identities))
