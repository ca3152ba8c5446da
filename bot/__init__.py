"""The Teams face of the access-request bot: app factory, handler, cards, i18n, CLI.

All botbuilder/aiohttp code lives here and in ``dialogs/`` so that a port to the
Microsoft 365 Agents SDK touches nothing else.
"""
