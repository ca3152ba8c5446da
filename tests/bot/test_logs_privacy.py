"""Logs carry ids, never names, e-mail addresses, texts or secrets.

One full flow with Bot Framework authentication on (own signing keys, a real app id
and client secret in the settings) and the outbox dispatcher running: people talk to
the bot over HTTP (help, new request card, language, a refused forged card, a too long
message), a request is submitted, the approver approves on the card
(``Action.Execute``), the admin hands it to KEHA and confirms it, someone who may not
read it is refused (audited), the notifications go out. Every log record of every
logger at DEBUG is captured through the production JSON formatter, and every line is
scanned for the names, e-mail addresses and free texts used, and for the client
secret and the bearer tokens.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from conftest import StartBot
from fakes.auth import OUTBOUND_TOKEN, FakeCredentialsFactory, FakeOpenId
from fakes.botapp import make_settings, post_activity
from fakes.connector import FakeConnector
from fakes.notify_support import activity_card, wait_until
from fakes.teams import TENANT_ID, message

from access.errors import AccessDenied
from access.model import RequestDraft, RequestKind
from bot.app import RUNTIME
from bot.auth import create_authentication
from bot.logging_setup import configure_logging
from dialogs.cards.approval import VERB_APPROVE

APP_ID = "00000000-0000-0000-0000-0000000000b1"
SECRET = "Qx8~client-secret-value-that-must-never-be-logged"
PKS = "pohjoinen-keski-suomi"
ADMIN = "admin@pks-area.example.fi"
STRANGER = "someone@elsewhere.example.fi"

# (user id, e-mail, display name, locale)
PEOPLE = {
    "manager": ("29:log-manager", "manager@laukaa.example.fi", "Ritva Lokinen", "fi-FI"),
    "approver": ("29:log-approver", "contact@pks-area.example.fi", "Sulo Hyväksyjä", "fi-FI"),
    "worker": ("29:log-worker", "veikko.lokitestaaja@laukaa.example.fi", "Veikko Lokitestaaja",
               "sv-FI"),
    "stranger": ("29:log-stranger", STRANGER, "Kaisa Ulkopuolinen", "en-GB"),
}  # fmt: skip
WORKER_NAME = "Veikko Lokitestaaja"
JOB_TITLE = "Lokiasiantuntija"
JUSTIFICATION = "Perustelu-Zebrakala-7731"
TYPED = "Salainen-Kirjoitettu-Viesti-4242"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every record of every logger at DEBUG, through the production formatter."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    disabled = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    for name in disabled:  # nothing quieter than DEBUG, whatever a library set
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, old in disabled.items():
            logging.getLogger(name).setLevel(old)


def _draft(today: Any) -> RequestDraft:
    return RequestDraft(
        kind=RequestKind.GRANT,
        municipality="laukaa",
        worker_name=WORKER_NAME,
        worker_email=PEOPLE["worker"][1],
        worker_job_title=JOB_TITLE,
        service_areas=("youth", "guidance"),
        level="view",
        start=today,
        end=today + timedelta(days=180),
        justification=JUSTIFICATION,
        confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
    )


async def test_a_full_flow_logs_no_names_e_mails_texts_or_secrets(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    captured: io.StringIO,
) -> None:
    async with FakeOpenId() as openid:
        settings = make_settings(
            db_url,
            app_id=APP_ID,
            app_password=SECRET,
            app_tenant_id=TENANT_ID,
            openid_metadata_url=openid.metadata_url,
            notifier_enabled=True,
            notifier_interval=0.05,
            notify_backoff=0.01,
        )
        credentials = FakeCredentialsFactory(APP_ID)
        auth = create_authentication(settings, credentials_factory=credentials)
        server = await start_bot(settings, auth=auth)
        runtime = server.app[RUNTIME]
        tokens: list[str] = []

        async def say(who: str, text: str | None, **extra: Any) -> tuple[int, bytes]:
            user_id, email, name, locale = PEOPLE[who]
            connector.add_member(
                user_id, userPrincipalName=email, name=name, givenName=name.split()[0]
            )
            activity = message(
                connector.service_url,
                text,
                locale=locale,
                conversation_id=f"a:log-{who}",
                user_id=user_id,
                aad_object_id=f"00000000-0000-0000-0000-{list(PEOPLE).index(who):012d}",
            )
            activity["from"]["name"] = name
            activity.update(extra)
            token = openid.mint(aud=APP_ID, serviceurl=connector.service_url)
            tokens.append(token)
            return await post_activity(
                http, server, activity, headers={"Authorization": f"Bearer {token}"}
            )

        for who in PEOPLE:
            assert (await say(who, "apua"))[0] == 200
        assert (await say("manager", "uusi"))[0] == 200
        assert (await say("manager", "peru"))[0] == 200
        assert (await say("worker", "språk"))[0] == 200
        assert (await say("stranger", f"{TYPED} {PEOPLE['manager'][1]}"))[0] == 200
        assert (await say("stranger", TYPED * 200))[0] == 200  # too long
        assert (await say("stranger", None, value={"atmt_card": [TYPED]}))[0] == 200

        service = runtime.service
        assert service is not None
        request = await service.requests.submit(
            PEOPLE["manager"][1], _draft(service.clock.today()), idempotency_key="log-submit"
        )
        with pytest.raises(AccessDenied):
            await service.queries.get_request(STRANGER, request.id)

        # The approver's card arrives; the approver approves on it.
        approver_conv = "a:log-approver"
        await connector.wait_for_activities(2, conversation_id=approver_conv)
        cards = [activity_card(r) for r in connector.sent(approver_conv)]
        card = next(c for c in reversed(cards) if c is not None and c.get("actions"))
        data = card["actions"][0]["data"]
        status, body = await say(
            "approver",
            None,
            type="invoke",
            name="adaptiveCard/action",
            value={"action": {"type": "Action.Execute", "verb": VERB_APPROVE, "data": data},
                   "trigger": "manual"},
        )  # fmt: skip
        assert status == 200, body

        batch = await service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key="log-queue")
        batch = await service.handoff.mark_sent(ADMIN, batch.id, idempotency_key="log-sent")
        [row] = await service.queries.list_keha_rows(ADMIN, PKS)
        done = await service.handoff.confirm_row(ADMIN, row.id, idempotency_key="log-confirm")
        assert done.grant_id is not None
        my = await service.queries.my_data(PEOPLE["worker"][1])
        assert my.grants_about_me

        notifier = runtime.notifier
        assert notifier is not None
        await notifier.drain(within=20)

        async def worker_told() -> bool:
            return len(connector.sent("a:log-worker")) >= 3

        await wait_until(worker_told)

    lines = [line for line in captured.getvalue().splitlines() if line.strip()]
    assert len(lines) > 20  # the flow was logged
    for line in lines:
        json.loads(line)  # JSON, one object per line

    forbidden = {
        *(email for _uid, email, _name, _loc in PEOPLE.values()),
        *(name for _uid, _email, name, _loc in PEOPLE.values()),
        *(name.split()[0] for _uid, _email, name, _loc in PEOPLE.values()),
        ADMIN,
        WORKER_NAME,
        JOB_TITLE,
        JUSTIFICATION,
        TYPED,
        "lokitestaaja",
        SECRET,
        OUTBOUND_TOKEN,
        *tokens,
        *(t.split(".")[2] for t in tokens),  # a token's signature alone
    }
    leaks = {
        word: line[:300] for line in lines for word in forbidden if word.lower() in line.lower()
    }
    assert leaks == {}


def test_libraries_that_log_data_are_quiet_below_warning_whatever_the_level(
    captured: io.StringIO,
) -> None:
    logging.getLogger("sqlalchemy.engine.Engine").info("INSERT ... ('%s',)", PEOPLE["worker"][1])
    logging.getLogger("aiosqlite").debug("executing %s", WORKER_NAME)
    logging.getLogger("msrest.http_logger").debug("Authorization: Bearer %s", OUTBOUND_TOKEN)
    logging.getLogger("sqlalchemy.pool").warning("pool exhausted")
    logging.getLogger("bot.notifier").debug("ours")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [(e["logger"], e["msg"]) for e in lines] == [
        ("sqlalchemy.pool", "pool exhausted"),
        ("bot.notifier", "ours"),
    ]
