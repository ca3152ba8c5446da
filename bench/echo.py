"""The baseline: a bare botbuilder echo bot behind the bot's own HTTP endpoint.

:func:`create_echo_app` is :func:`bot.app.create_app` (same ``/api/messages``
handler, same ``CloudAdapter``, same authentication and request checks) whose
activity handler is replaced by :class:`EchoBot` once the app has started. So the
benchmark's ratio is "what our turn costs" over "what any botbuilder turn on this
adapter costs", on the same machine in the same run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext

from bot.app import RUNTIME, create_app
from bot.config import Settings

__all__ = ["EchoBot", "create_echo_app"]


class EchoBot(ActivityHandler):  # type: ignore[misc]
    """Answers every message with its text; no state, no database."""

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(MessageFactory.text(f"Echo: {turn_context.activity.text}"))


def create_echo_app(settings: Settings) -> web.Application:
    app = create_app(settings)

    async def swap(application: web.Application) -> AsyncIterator[None]:
        application[RUNTIME].bot = EchoBot()
        yield

    app.cleanup_ctx.append(swap)
    return app
