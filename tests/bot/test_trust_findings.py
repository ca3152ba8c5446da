"""The smaller trust findings over real HTTP: invisible text, links, invokes, download
links, bad tokens.

Bidirectional controls and zero-width characters in names and texts; URLs typed by
one person shown as links to another; an ``adaptiveCard/action`` whose action is not
an object; download links (single use, at most ten minutes, https); refused tokens
(rate-limited per source address, logged without the caller's ids). ``/readyz``
without revisions: tests/bot/test_ready.py. Files: tests/bot/test_trust_files.py.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import StartBot
from fakes.auth import FakeCredentialsFactory, FakeOpenId
from fakes.botapp import card_of, make_settings, post_activity, texts
from fakes.connector import FakeConnector, Recorded
from fakes.graph import FakeGraph
from fakes.manager_chat import (
    ADMIN,
    LAUKAA,
    Chat,
    FixedClock,
    make_active_grant,
    only_card,
    service_of,
)
from fakes.notify_support import APPROVER_A, introduce
from fakes.teams import TENANT_ID, message

from access.model import RevokeReason
from bot.auth import create_authentication
from bot.downloads import LINK_SECONDS, DownloadSigner
from bot.graph import GraphMailer, MailMessage
from bot.logging_setup import JsonFormatter
from dialogs.i18n import Translator

T = Translator.load()
M = T.get("fi")
APP_ID = "00000000-0000-0000-0000-0000000000b1"
NOTIFY = {"notifier_enabled": True, "notifier_interval": 0.05, "notify_backoff": 0.01}

# What a manager types: invisible characters in the name and the job title, a URL and
# a web address in the justification.
HOSTILE = {
    "worker_name": "\u2066Ai\u200bno\u2069 Esim\u200derkki\u202e",
    "worker_email": "aino.esimerkki@laukaa.example.fi",
    "worker_job_title": "Nuorten\u2060 ohjaaja\ufeff",
    "service_areas": "youth,guidance",
    "level": "view",
    "justification": (
        "Ohjaamon asiakastyö\u200e, ks. https://evil.example/login ja www.evil.example"
    ),
    "confirm_customer_consent_form": "true",
    "confirm_worker_agreement": "true",
}
INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2060\ufeff\u061c]")
# What a linkifier (Teams, Outlook) turns into a link.
LINKABLE = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://|\bwww\.|\bevil\.example\b")


def _shown(card: dict[str, Any]) -> str:
    """Everything a card says, Markdown escapes removed (what the reader sees)."""
    return "\n".join(re.sub(r"\\(.)", r"\1", t) for t in _all_texts(card))


def _all_texts(node: Any) -> list[str]:
    found = list(texts(node))
    if isinstance(node, dict):
        if node.get("type") == "FactSet":
            found += [f"{f['title']} {f['value']}" for f in node.get("facts", [])]
        for value in node.values():
            found += [t for t in _all_texts(value) if t not in found]
    elif isinstance(node, list):
        for item in node:
            found += _all_texts(item)
    return found


async def _submit_hostile_request(
    db_url: str, start_bot: StartBot, connector: FakeConnector, http: aiohttp.ClientSession
) -> tuple[TestServer, dict[str, Any], Recorded]:
    """The manager sends HOSTILE through the form; (server, summary card, the card the
    approver received)."""
    server = await start_bot(make_settings(db_url, **NOTIFY), clock=FixedClock())
    await introduce(http, server, connector, APPROVER_A)
    chat = Chat(http, server, connector, email=LAUKAA)
    form = only_card(await chat.say("uusi"))
    form_id = chat.card_id
    summary = only_card(await chat.press(form, M.t("manager.action.continue"), HOSTILE))
    await chat.press(summary, M.t("manager.action.confirm"), reply_to_id=form_id)
    sent = await connector.wait_for_activities(2, conversation_id=APPROVER_A.conversation_id)
    return server, summary, sent[-1]


async def test_bidi_controls_and_zero_width_characters_never_reach_the_request_or_a_card(
    db_url: str, start_bot: StartBot, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    server, summary, to_approver = await _submit_hostile_request(db_url, start_bot, connector, http)
    [request] = await service_of(server).queries.list_requests_for(LAUKAA)
    assert request.worker.name == "Aino Esimerkki"
    assert request.worker.email == "aino.esimerkki@laukaa.example.fi"
    assert request.worker.job_title == "Nuorten ohjaaja"
    assert request.justification == (
        "Ohjaamon asiakastyö, ks. https://evil.example/login ja www.evil.example"
    )  # kept as typed: only shown unclickable
    for card in (summary, card_of(to_approver.body)):
        assert not INVISIBLE.search(json.dumps(card, ensure_ascii=False))
        assert "Aino Esimerkki" in _shown(card)


async def test_a_url_typed_by_the_manager_is_never_a_link_in_the_approvers_card(
    db_url: str, start_bot: StartBot, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    _server, _summary, to_approver = await _submit_hostile_request(
        db_url, start_bot, connector, http
    )
    shown = _shown(card_of(to_approver.body))
    assert "https[:]//evil[.]example/login" in shown
    assert "www[.]evil[.]example" in shown
    assert LINKABLE.findall(shown) == []


async def test_a_url_in_an_email_notification_is_not_a_link(tmp_path: Path) -> None:
    async with FakeGraph(tmp_path) as graph:
        mailer = GraphMailer(make_settings("sqlite:///unused", **graph.settings()))
        try:
            await mailer.send(
                MailMessage(
                    to=APPROVER_A.email,
                    subject="2026-000001",
                    body="Perustelu: ks. https://evil.example/login tai www.evil.example. "
                    f"Hakija {LAUKAA}",
                    idempotency_key="mail-1",
                )
            )
        finally:
            await mailer.close()
    [mail] = graph.sent
    assert LINKABLE.findall(mail.body) == []
    assert "https[:]//evil[.]example/login" in mail.body
    assert LAUKAA in mail.body  # an e-mail address stays as it is


@pytest.mark.parametrize("action", ["Action.Execute", 5, ["a"], True, 1.5])
async def test_an_adaptive_card_action_that_is_not_an_object_is_a_clear_400(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    action: Any,
) -> None:
    server = await start_bot(make_settings(db_url))
    invoke = message(connector.service_url, None)
    invoke.update(type="invoke", name="adaptiveCard/action", value={"action": action})
    with caplog.at_level(logging.INFO):
        status, body = await post_activity(http, server, invoke)
    assert status == 400
    assert json.loads(body) == {"error": "the invoke's value.action must be an object"}
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert connector.requests == []


# ------------------------------------------------------------------ downloads


def _url(card: dict[str, Any], title: str) -> str:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.OpenUrl" and node.get("title") == title:
                found.append(str(node["url"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    assert found, title
    return found[0]


async def _get(http: aiohttp.ClientSession, server: TestServer, url: str) -> tuple[int, bytes]:
    async with http.get(server.make_url(url[url.index("/downloads/") :])) as response:
        return response.status, await response.read()


async def test_a_download_link_works_once_in_every_bot_process(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    """A bearer link: a forwarded link, a browser history or a proxy log must not
    give the file again. Two processes (two apps on one database) agree."""
    settings = make_settings(db_url, download_key="one-key-for-every-bot-process")
    first = await start_bot(settings, clock=FixedClock())
    second = await start_bot(settings, clock=FixedClock())
    service = service_of(first)
    grant = await make_active_grant(service)
    await service.requests.revoke_by_municipality(
        LAUKAA, grant.id, RevokeReason.EMPLOYMENT_ENDED, idempotency_key="rv-once"
    )
    admin = Chat(http, first, connector, email=ADMIN)
    card = only_card(await admin.say("keha"))
    created = await admin.press(card, M.t("keha.create"))
    [overview] = [card_of(r.body) for r in created if r.body.get("attachments")]
    url = _url(overview, M.t("keha.download.csv"))
    assert url.startswith(f"http://127.0.0.1:{settings.port}/downloads/")

    status, data = await _get(http, first, url)
    assert status == 200 and data.startswith(b"\xef\xbb\xbf")
    for server in (second, first):
        status, body = await _get(http, server, url)
        assert status == 410
        assert json.loads(body) == {"error": "the link has already been used"}
    # The other format is another link: it still works, once.
    xlsx = _url(overview, M.t("keha.download.xlsx"))
    assert (await _get(http, second, xlsx))[0] == 200
    assert (await _get(http, first, xlsx))[0] == 410


async def test_download_links_live_at_most_ten_minutes_and_only_over_https() -> None:
    key = b"k" * 32
    assert LINK_SECONDS == 600
    with pytest.raises(ValueError, match="at most 600 seconds"):
        DownloadSigner(key, base_url="https://bot.example.fi", ttl=601)
    for base in ("http://bot.example.fi", "http://0.0.0.0:3978", "ftp://bot.example.fi"):
        with pytest.raises(ValueError, match="https"):
            DownloadSigner(key, base_url=base)
    for base in ("https://bot.example.fi", "http://127.0.0.1:3978", "http://localhost:3978"):
        assert DownloadSigner(key, base_url=base).base_url == base
    with pytest.raises(ValueError, match="https"):
        make_settings("sqlite:///x", public_url="http://bot.example.fi")
    production = make_settings(
        "sqlite:///x", app_id=APP_ID, app_password="x", app_tenant_id=TENANT_ID, host="0.0.0.0"
    )
    assert [key for key, _ in production.listen_problems()] == ["ATMT_PUBLIC_URL"]

    # A link signed with the right key but meant to live longer is not one of ours.
    now = 1_000_000.0
    signer = DownloadSigner(key, base_url="https://bot.example.fi", clock=lambda: now)
    token = signer.token("keha", "b1", "csv", f"{TENANT_ID}:aad", "fi")
    assert await signer.redeem(token) not in (None, "expired", "used")
    assert await signer.redeem(token) == "used"
    signer.ttl = 3600  # as if another process were configured to sign longer links
    assert signer.verify(signer.token("keha", "b1", "csv", f"{TENANT_ID}:aad", "fi")) is None
    signer.ttl = LINK_SECONDS
    late = DownloadSigner(key, base_url="https://bot.example.fi", clock=lambda: now + 601)
    assert late.verify(signer.token("keha", "b1", "csv", f"{TENANT_ID}:aad", "fi")) == "expired"


# ------------------------------------------------------------ refused tokens


async def test_refused_tokens_are_rate_limited_per_source_address_and_logged_without_ids(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeOpenId() as openid:
        settings = make_settings(
            db_url,
            app_id=APP_ID,
            app_password="not-a-real-secret",
            app_tenant_id=TENANT_ID,
            openid_metadata_url=openid.metadata_url,
            bad_token_rate_per_minute=3,
        )
        auth = create_authentication(settings, credentials_factory=FakeCredentialsFactory(APP_ID))
        server = await start_bot(settings, auth=auth)
        chosen = message(
            connector.service_url,
            "apua",
            conversation_id="a:caller-chosen-conversation",
            user_id="29:caller-chosen-user",
            aad_object_id="caller-chosen-object-id",
        )
        chosen["id"] = "caller-chosen-activity"
        bad = {"Authorization": "Bearer not.a.jwt"}
        statuses, retry_after = [], []
        with caplog.at_level(logging.DEBUG):
            for _ in range(5):
                async with http.post(
                    server.make_url("/api/messages"), json=chosen, headers=bad
                ) as response:
                    statuses.append(response.status)
                    retry_after.append(response.headers.get("Retry-After"))
        assert statuses == [401, 401, 401, 429, 429]
        assert retry_after[3:] == ["20", "20"]  # 3 a minute: one every 20 s

        # Another address has its own budget.
        other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=other) as elsewhere:
            status, _ = await post_activity(elsewhere, server, chosen, headers=bad)
            assert status == 401
        # A valid token from the flooding address is still answered (a reverse proxy
        # gives every caller its address).
        token = openid.mint(aud=APP_ID, serviceurl=connector.service_url)
        status, _ = await post_activity(
            http, server, message(connector.service_url, "apua"),
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
        assert status == 200

    refused = [
        r for r in caplog.records
        if getattr(r, "event", None) in ("unauthorized", "unauthorized_rate_limited")
    ]  # fmt: skip
    assert [r.event for r in refused] == [  # type: ignore[attr-defined]
        "unauthorized", "unauthorized", "unauthorized", "unauthorized_rate_limited",
        "unauthorized",
    ]  # fmt: skip
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    for chosen_id in ("caller-chosen", "29:caller", "a:caller"):
        assert chosen_id not in logged
