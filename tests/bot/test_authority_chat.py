"""The authority's tools in chat: KEHA hand-off with signed downloads, reports, the
directory, self-access and the privacy statement."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import StartBot
from fakes.botapp import card_of, make_settings, texts
from fakes.connector import FakeConnector
from fakes.manager_chat import (
    ADMIN,
    APPROVER,
    LAUKAA,
    Chat,
    FixedClock,
    actions,
    make_active_grant,
    only_card,
    only_text,
    service_of,
)
from fakes.teams import TENANT_ID
from openpyxl import load_workbook
from sqlalchemy import update

from access.keha import KEHA_COLUMNS
from access.model import RevokeReason
from bot.app import RUNTIME
from bot.downloads import DownloadSigner
from dialogs.authority import AuthorityChat
from dialogs.i18n import Translator
from storage.db import create_engine
from storage.domain_tables import GRANTS

T = Translator.load()
TAGS = {"fi": "fi-FI", "sv": "sv-SE", "en": "en-GB"}
WORKER = "aino.esimerkki@laukaa.example.fi"


def _chat_of(server: TestServer) -> AuthorityChat:
    chat = server.app[RUNTIME].authority
    assert chat is not None
    return chat


def _cards(recorded: list[Any]) -> list[dict[str, Any]]:
    from fakes.botapp import card_of

    return [card_of(r.body) for r in recorded if r.body.get("attachments")]


def _texts(recorded: list[Any]) -> list[str]:
    return [str(r.body["text"]) for r in recorded if r.body.get("text")]


def _url(card: dict[str, Any], title: str) -> str:
    """The first Action.OpenUrl titled ``title`` (newest batch first)."""
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
    path = url[url.index("/downloads/") :]
    async with http.get(server.make_url(path)) as response:
        return response.status, await response.read()


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_admin_hands_off_in_chat_with_signed_downloads(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    service = service_of(server)
    grant = await make_active_grant(service)
    # Submit refuses markup in names now; rows written before that rule still show it.
    await _legacy_name(db_url, grant.id, "Aino <b>Esimerkki</b>")
    await service.requests.revoke_by_municipality(
        LAUKAA, grant.id, RevokeReason.EMPLOYMENT_ENDED, idempotency_key="rv-1"
    )
    m = T.get(locale)
    admin = Chat(http, server, connector, email=ADMIN, locale=TAGS[locale])

    card = only_card(await admin.say("keha"))
    card_id = admin.card_id
    assert texts(card)[0] == m.t("keha.title")
    assert m.t("keha.pending", count=1) in texts(card)
    assert "<b>" not in json.dumps(card)  # markup in names is shown as text
    before = len(await _chat_of(server).authority.batches(ADMIN, "pohjoinen-keski-suomi"))
    answer = await admin.press(card, m.t("keha.create"), reply_to_id=card_id)
    assert _texts(answer) == [m.t("keha.created", rows=1)]
    [overview] = _cards(answer)
    assert m.t("keha.pending", count=0) in texts(overview)

    # A second click on the same card returns the first result and creates nothing.
    again = await admin.press(card, m.t("keha.create"), reply_to_id=card_id)
    assert _texts(again) == [m.t("keha.created", rows=1)]
    after = len(await _chat_of(server).authority.batches(ADMIN, "pohjoinen-keski-suomi"))
    assert after == before + 1

    status, data = await _get(http, server, _url(overview, m.t("keha.download.xlsx")))
    assert status == 200
    sheet = load_workbook(io.BytesIO(data)).active
    header = [c.value for c in sheet[1]]
    assert header == [m.t(f"keha.column.{c}") for c in KEHA_COLUMNS]
    assert sheet.cell(row=2, column=6).value == "Aino <b>Esimerkki</b>"
    status, data = await _get(http, server, _url(overview, m.t("keha.download.csv")))
    assert status == 200 and data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines()[0].split(";")[0] == m.t("keha.column.batch_id")

    sent = await admin.press(overview, m.t("keha.mark_sent"), reply_to_id=card_id)
    assert m.t("keha.sent") in _texts(sent)
    # The overview clicked is updated in place: the batch is sent, nothing to mark.
    [updated] = [r for r in sent if r.method == "PUT"]
    assert updated.activity_id == card_id
    now = card_of(updated.body)
    assert m.t("keha.mark_sent") not in [a["title"] for a in actions(now)]
    assert m.t("keha.open_batch") in [a["title"] for a in actions(now)]
    [batch] = [card_of(r.body) for r in sent if r.method != "PUT" and r.body.get("attachments")]
    done = await admin.press(batch, m.t("keha.confirm.all"))
    assert m.t("keha.confirmed", count=1) in _texts(done)
    [confirmed] = _cards(done)
    assert m.t("keha.confirm.done") in texts(confirmed)
    assert not actions(confirmed)  # nothing left to confirm on the batch card


async def _legacy_name(db_url: str, grant_id: str, name: str) -> None:
    engine = create_engine(db_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(GRANTS).where(GRANTS.c.id == grant_id).values(worker_name=name)
            )
    finally:
        await engine.dispose()


async def test_download_links_are_signed_short_lived_and_personal(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    service = service_of(server)
    grant = await make_active_grant(service)
    await service.requests.revoke_by_municipality(
        LAUKAA, grant.id, RevokeReason.EMPLOYMENT_ENDED, idempotency_key="rv-1"
    )
    admin = Chat(http, server, connector, email=ADMIN)
    manager = Chat(http, server, connector, email=LAUKAA)
    card = only_card(await admin.say("keha"))
    [overview] = _cards(await admin.press(card, T.get("fi").t("keha.create")))
    url = _url(overview, T.get("fi").t("keha.download.csv"))
    token = url.rsplit("/", 1)[1]
    assert (await _get(http, server, url))[0] == 200

    # Edited: 403. Another user's key in a correctly signed link: 403 (not an admin).
    payload, mac = token.split(".")
    assert (await _get(http, server, f"/downloads/{payload}.{mac[:-2]}AA"))[0] == 403
    document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    await manager.say("apua")  # the manager's conversation reference (user key -> e-mail)
    signer = _chat_of(server).signer
    other = signer.url("keha", document["i"], "csv", f"{TENANT_ID}:{manager.aad}", "fi")
    assert (await _get(http, server, other))[0] == 403
    assert (await _get(http, server, "/downloads/nonsense"))[0] == 403
    # Expired: 410.
    old = DownloadSigner(b"k" * 32, base_url="https://x", clock=lambda: 0.0)
    expired = DownloadSigner(b"k" * 32, base_url="https://x", clock=lambda: 10_000.0)
    token = old.token("keha", document["i"], "csv", f"{TENANT_ID}:{admin.aad}", "fi")
    assert expired.verify(token) == "expired"
    _chat_of(server).signer = expired
    assert (await _get(http, server, f"/downloads/{token}"))[0] == 410
    foreign = DownloadSigner(b"z" * 32, base_url="https://x", clock=lambda: 10_000.0)
    token = foreign.token("keha", document["i"], "csv", f"{TENANT_ID}:{admin.aad}", "fi")
    assert (await _get(http, server, f"/downloads/{token}"))[0] == 403  # another key


async def test_non_admins_are_refused_in_chat(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    m = T.get("fi")
    for email in (LAUKAA, "admin@kuopio-area.example.fi"):
        chat = Chat(http, server, connector, email=email)
        if email == LAUKAA:
            assert only_text(await chat.say("keha")) == m.t("authority.denied")
            assert only_text(await chat.say("hakemisto")) == m.t("authority.denied")
            assert only_text(await chat.say("raportti")) == m.t("authority.denied")
        # A forged card button for another area's batch or area.
        forged = await chat.click(
            {"atmt_card": "authority", "op": "batch", "area": "pohjoinen-keski-suomi"}
        )
        assert only_text(forged) == m.t("authority.denied")
        forged = await chat.click({"atmt_card": "authority", "op": "nonsense"})
        assert only_text(forged) == m.t("card.expired")
    assert server.app[RUNTIME].service is not None


async def test_reports_directory_my_data_and_privacy(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    service = service_of(server)
    await make_active_grant(service)
    m = T.get("fi")

    approver = Chat(http, server, connector, email=APPROVER)
    [report] = _cards(await approver.say("raportti"))
    assert texts(report)[0] == m.t("report.title")
    [image] = [n for n in report["body"] if n.get("type") == "Image"]
    assert image["url"].startswith("data:image/png;base64,")
    png = base64.b64decode(image["url"].split(",", 1)[1])
    assert png.startswith(b"\x89PNG") and len(png) < 20_000
    status, data = await _get(http, server, _url(report, m.t("report.download.csv")))
    assert status == 200
    assert "aino" not in data.decode("utf-8-sig").lower() and "@" not in data.decode("utf-8-sig")

    admin = Chat(http, server, connector, email=ADMIN)
    [directory] = _cards(await admin.say("hakemisto"))
    assert "Laukaa" in json.dumps(directory, ensure_ascii=False)
    assert m.t("directory.file") in texts(directory)

    worker = Chat(http, server, connector, email=WORKER, locale="en-GB")
    en = T.get("en")
    [mine] = _cards(await worker.say("what do you hold about me?"))
    assert texts(mine)[0] == en.t("my_data.title")
    status, data = await _get(http, server, _url(mine, en.t("my_data.download")))
    assert status == 200
    document = json.loads(data)
    assert document["email"] == WORKER
    assert [g["worker_email"] for g in document["grants_about_me"]] == [WORKER]
    fi_worker = Chat(http, server, connector, email=WORKER)
    assert _cards(await fi_worker.say("mitä tietoja minusta"))

    [privacy] = _cards(await worker.say("tietosuoja"))
    shown = texts(privacy)  # in the reader's language, the others one click away
    assert shown[0] == en.t("privacy.title")
    assert T.get("fi").t("privacy.title") not in shown
    links = {a["title"]: a["url"] for a in privacy["actions"]}
    assert links[T.get("sv").language_name("sv")].endswith("/privacy?lang=sv")
    assert links[T.get("fi").language_name("fi")].endswith("/privacy?lang=fi")
    assert links[en.t("privacy.in_browser")].endswith("/privacy?lang=en")
    facts = json.dumps(privacy, ensure_ascii=False)
    assert "tietosuoja@pks-area.example.fi" in facts  # the area's data protection officer
    assert _cards(await worker.say("dataskydd")) and _cards(await worker.say("privacy"))
    # The area contact reads the controller of their own employment area.
    [own] = _cards(await approver.say("tietosuoja"))
    facts = json.dumps(own, ensure_ascii=False)
    assert "tietosuoja@pks-area.example.fi" in facts
    assert "tietosuoja@kuopio-area.example.fi" not in facts
    links = {a["title"]: a["url"] for a in own["actions"]}
    assert links[m.t("privacy.in_browser")].endswith(
        "/privacy?lang=fi&area=pohjoinen-keski-suomi"
    )
