"""What each person is offered (welcome, help, hint) follows their roles, and a person
who installs the app is welcomed once, in their language."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import StartBot
from fakes.botapp import EXAMPLE_DIRECTORY, card_of, make_settings, post_activity, texts
from fakes.card_checks import check_adaptive_card
from fakes.connector import FakeConnector
from fakes.manager_chat import LAUKAA, TODAY, Chat, FixedClock, only_card, service_of
from fakes.notify_support import Person, draft, teams_member
from fakes.teams import BOT_ID, conversation_update, installation_update

from access.directory import Roles, load_directory_file
from dialogs.cards import help_card, hint_card, welcome_card
from dialogs.i18n import LOCALES, Messages, Translator
from dialogs.menus import ROLE_MENU, Role, menu_for

T = Translator.load()
LOCALE_TAGS = {"fi": "fi-FI", "sv": "sv-FI", "en": "en-US"}
AREA = "pohjoinen-keski-suomi"

REQUESTER_COMMANDS = {"new", "change", "revoke", "my_requests", "review", "misuse"}
DECIDER_COMMANDS = {"approvals", "misuse", "review", "report"}
ADMIN_COMMANDS = {"keha", "directory", "report", "review"}

WORKER = "worker.one@laukaa.example.fi"  # a request about them is open
BOTH = "manager2@laukaa.example.fi"  # a municipal manager with a request about them too
NOBODY = "someone@laukaa.example.fi"  # in no role


def headings(card: dict[str, Any]) -> list[str]:
    """The role sections' headings of a card (the menu's section titles)."""
    return [
        block["text"]
        for block in _blocks(card)
        if block.get("type") == "TextBlock"
        and block.get("weight") == "Bolder"
        and block.get("spacing") == "Medium"
    ]


def buttons(card: dict[str, Any]) -> set[str]:
    """The commands of the buttons in the card's body (not the card's own actions)."""
    return {
        action["data"]["atmt_command"]
        for block in _blocks(card)
        if block.get("type") == "ActionSet"
        for action in block["actions"]
    }


def _blocks(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_blocks(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_blocks(item))
    return found


def expected(m: Messages, server: TestServer) -> dict[str, tuple[list[str], set[str]]]:
    """Per person: the section headings and the buttons they should see."""
    area = service_of(server).directory.area(AREA)
    assert area is not None
    area_name = area.name.get(m.locale)
    requester = m.t("menu.section.requester", places="Laukaa")
    worker = m.t("menu.section.worker")
    return {
        LAUKAA: ([requester], REQUESTER_COMMANDS),
        "contact@pks-area.example.fi": (
            [m.t("menu.section.approver", places=area_name)],
            DECIDER_COMMANDS,
        ),
        "deputy@pks-area.example.fi": (
            [m.t("menu.section.deputy", places=area_name)],
            DECIDER_COMMANDS,
        ),
        "admin@pks-area.example.fi": (
            [m.t("menu.section.admin", places=area_name)],
            ADMIN_COMMANDS,
        ),
        WORKER: ([worker], {"my_access"}),
        BOTH: ([requester, worker], REQUESTER_COMMANDS | {"my_access"}),
        NOBODY: ([], set()),
    }


async def _with_requests_about_workers(server: TestServer) -> None:
    service = service_of(server)
    for n, email in enumerate((WORKER, BOTH)):
        await service.requests.submit(
            LAUKAA,
            draft(TODAY, worker_email=email, worker_name=f"Worker {n}"),
            idempotency_key=f"menu-{n}",
        )


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_help_shows_the_sections_and_buttons_of_the_persons_roles_only(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    await _with_requests_about_workers(server)
    m = T.get(locale)
    for email, (sections, commands) in expected(m, server).items():
        chat = Chat(http, server, connector, email=email, locale=LOCALE_TAGS[locale])
        card = only_card(await chat.say(m.word("command.help")))
        assert texts(card)[0] == m.t("help.title")
        assert headings(card) == [*sections, m.t("menu.section.everyone")], email
        assert buttons(card) == commands, email
        shown = " ".join(texts(card))
        assert (m.t("menu.no_role") in shown) is (not sections), email
        for command in commands:  # each of the person's commands is explained
            assert m.t(f"help.cmd.{command}") in shown
        if "new" not in commands:  # nobody is offered what they may not do
            assert m.t("help.cmd.new") not in shown, email
        # Everyone can see their own data, the privacy statement, change the language.
        for command in ("my_data", "privacy", "language"):
            assert m.t(f"help.cmd.{command}") in shown


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_the_hint_suggests_the_persons_own_commands(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    await _with_requests_about_workers(server)
    m = T.get(locale)
    for email, (_sections, commands) in expected(m, server).items():
        chat = Chat(http, server, connector, email=email, locale=LOCALE_TAGS[locale])
        card = only_card(await chat.say("mitä kuuluu"))
        assert texts(card) == [m.t("hint.text")]
        assert buttons(card) <= commands and (buttons(card) != set()) is bool(commands), email


@pytest.mark.parametrize("locale", LOCALES)
def test_every_role_s_cards_are_valid_with_at_most_five_buttons_a_row(locale: str) -> None:
    """Teams refuses a card with more than five actions in one ActionSet."""
    directory = load_directory_file(EXAMPLE_DIRECTORY)
    m = T.get(locale)
    everything = Roles(
        requester_for=frozenset({"laukaa", "viitasaari"}),
        approver_in=frozenset({AREA}),
        deputy_in=frozenset({"lantinen-pirkanmaa"}),
        admin_in=frozenset({"kuopio"}),
    )
    for roles, worker in ((everything, True), (Roles(), False)):
        menu = menu_for(directory, roles, worker=worker, locale=locale)
        assert len(menu.sections) == (len(Role) if worker else 0)
        for card in (welcome_card(m, menu), help_card(m, menu), hint_card(m, menu)):
            check_adaptive_card(card)
            sets = [b for b in _blocks(card) if b.get("type") == "ActionSet"]
            assert all(1 <= len(s["actions"]) <= 5 for s in sets)
        # Each command once, whatever the number of roles.
        assert len(menu.commands) == len(set(menu.commands))
        if worker:
            assert set(menu.commands) == {c for row in ROLE_MENU.values() for c in row}


# ------------------------------------------------------------------ the welcome


def _person(name: str, email: str, n: int, locale: str) -> Person:
    return Person(name, email, f"29:{name}", f"00000000-0000-0000-0000-0000000001{n:02d}", locale)


def _install_events(url: str, person: Person) -> tuple[dict[str, Any], dict[str, Any]]:
    """What Teams sends on install, at the same moment: ``installationUpdate`` with the
    client's locale and ``conversationUpdate`` (the bot added) without one."""
    common: dict[str, Any] = {
        "conversation_id": person.conversation_id,
        "user_id": person.user_id,
        "aad_object_id": person.aad,
    }
    return (
        installation_update(url, locale=person.locale, **common),
        conversation_update(url, members_added=[BOT_ID], locale=None, **common),
    )


def _welcomes(connector: FakeConnector, person: Person) -> list[dict[str, Any]]:
    return [
        card_of(r.body) for r in connector.sent(person.conversation_id) if r.body.get("attachments")
    ]


@pytest.mark.parametrize("first", ["installationUpdate", "conversationUpdate"])
@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_a_person_who_installs_the_app_is_welcomed_once_in_their_language(
    locale: str,
    first: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    """The municipal manager of Laukaa (a Finnish-speaking area) with a Teams client in
    ``locale``: the Teams locale decides (docs/decisions.md), whichever event is first,
    and both arriving together greet once."""
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    person = _person("manager", LAUKAA, 1, LOCALE_TAGS[locale])
    teams_member(connector, person)
    install, added = _install_events(connector.service_url, person)
    events = (install, added) if first == "installationUpdate" else (added, install)

    # Both at once, as Teams sends them ...
    results = await asyncio.gather(*(post_activity(http, server, e) for e in events))
    assert [status for status, _ in results] == [200, 200]
    # ... and once more, one after the other (Teams retries deliveries).
    for event in events:
        assert (await post_activity(http, server, event))[0] == 200

    m = T.get(locale)
    [welcome] = _welcomes(connector, person)
    assert texts(welcome)[0] == m.t("welcome.title")
    assert headings(welcome) == [m.t("menu.section.requester", places="Laukaa")]
    assert buttons(welcome) == REQUESTER_COMMANDS


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_the_welcome_offers_a_worker_their_access_and_tells_others_whom_to_ask(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    await _with_requests_about_workers(server)
    m = T.get(locale)
    worker = _person("worker", WORKER, 2, LOCALE_TAGS[locale])
    nobody = _person("nobody", NOBODY, 3, LOCALE_TAGS[locale])
    for person in (worker, nobody):
        teams_member(connector, person)
        for event in _install_events(connector.service_url, person):
            assert (await post_activity(http, server, event))[0] == 200

    [welcome] = _welcomes(connector, worker)
    assert headings(welcome) == [m.t("menu.section.worker")]
    assert buttons(welcome) == {"my_access"}  # not "new": a worker requests nothing
    assert m.t("menu.no_role") not in texts(welcome)

    [welcome] = _welcomes(connector, nobody)
    assert headings(welcome) == []
    assert buttons(welcome) == set()
    assert m.t("menu.no_role") in texts(welcome)


async def test_two_processes_given_one_install_event_each_welcome_once(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    """Behind a load balancer the two install events reach different processes."""
    settings = make_settings(db_url)
    one = await start_bot(settings, clock=FixedClock())
    two = await start_bot(settings, clock=FixedClock())
    person = _person("deputy", "deputy@pks-area.example.fi", 4, "en-GB")
    teams_member(connector, person)
    install, added = _install_events(connector.service_url, person)
    added["locale"] = "en-GB"  # both say the language: either may greet, one does
    await asyncio.gather(post_activity(http, one, install), post_activity(http, two, added))

    [welcome] = _welcomes(connector, person)
    assert texts(welcome)[0] == T.get("en").t("welcome.title")
    assert buttons(welcome) == DECIDER_COMMANDS


async def test_reinstalling_welcomes_again(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    person = _person("admin", "admin@pks-area.example.fi", 5, "fi-FI")
    teams_member(connector, person)
    install, added = _install_events(connector.service_url, person)
    for event in (install, added):
        await post_activity(http, server, event)
    removed = dict(install, action="remove")
    await post_activity(http, server, removed)
    for event in (install, added):
        await post_activity(http, server, event)

    welcomes = _welcomes(connector, person)
    assert len(welcomes) == 2
    assert all(buttons(w) == ADMIN_COMMANDS for w in welcomes)
