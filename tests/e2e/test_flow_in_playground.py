"""One access request from start to end, clicked in the browser as the people would.

The manager asks for access for a worker on the request card, checks the summary and
confirms; the employment area's contact approves on the card that the bot sends; the
worker is told; the authority's administrator hands the change to KEHA and records
KEHA's confirmation on the ``atmt-bot keha`` command line (the one step outside the
browser: tests/e2e/keha_handoff.py), so that the grant is open; the manager revokes the
access. Each person has their own Playground (the Playground sends as its
``currentUser`` only), all open before anyone acts, since a page shows only what
arrives while it is open. Every card sent on the way is
validated with the ``adaptivecards`` SDK (tests/e2e/card_validator.js).

The activities of the Playground carry the locale en-US, so the bot answers in English.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dialogs.i18n import Translator

pytestmark = pytest.mark.e2e

en = Translator.load().get("en")

WORKER_NAME = "Veera Esimerkki"
WORKER_EMAIL = "worker.one@laukaa.example.fi"
JOB_TITLE = "Työhönvalmentaja"
ADMIN = "admin@pks-area.example.fi"
AREA = "pohjoinen-keski-suomi"
E2E = Path(__file__).resolve().parent
ROOT = E2E.parents[1]


def _problems(report: dict[str, Any]) -> list[str]:
    return [
        f"{card['as']}: card {card['title']!r}: {error}"
        for card in report["cards"]
        for error in card["errors"]
    ]


def _parts(key: str) -> list[str]:
    """The fixed parts of the English text of ``key`` around its placeholders."""
    template = en.t(key)  # placeholders without values stay as "{name}"
    return [part.strip(" .") for part in re.split(r"\{\w+\}", template) if part.strip(" .")]


def _before(key: str) -> str:
    """The text of ``key`` up to its first placeholder."""
    return _parts(key)[0]


def _after(key: str) -> str:
    """The text of ``key`` after its last placeholder."""
    return _parts(key)[-1]


def test_request_approve_notify_and_revoke_in_the_browser(
    playgrounds: Callable[..., dict[str, Any]],
    drive: Callable[[dict[str, Any]], dict[str, Any]],
    tmp_path: Path,
) -> None:
    people = playgrounds("manager", "approver", "worker")
    clients = {who: instance.url for who, instance in people.items()}

    def manager(do: str, **step: Any) -> dict[str, Any]:
        return {"as": "manager", "do": do, **step}

    def approver(do: str, **step: Any) -> dict[str, Any]:
        return {"as": "approver", "do": do, **step}

    def worker(do: str, **step: Any) -> dict[str, Any]:
        return {"as": "worker", "do": do, **step}

    welcome = en.t("welcome.title")
    steps = [
        # Everyone has the bot open before anything happens.
        worker("open"),
        approver("open"),
        manager("open"),
        manager("waitCard", text=welcome),
        # The manager fills the request card.
        manager("send", text=en.t("command.new")),
        manager("waitCard", text=en.t("manager.form.title.new")),
        manager("fill", label=en.t("manager.field.worker_name"), value=WORKER_NAME),
        manager("fill", label=en.t("manager.field.worker_email"), value=WORKER_EMAIL),
        manager("fill", label=en.t("manager.field.worker_job_title"), value=JOB_TITLE),
        # Tasks and level: the English names in examples/directory.yaml.
        manager("check", label="Young jobseekers (Ohjaamo)"),
        manager("check", label="Individual and career guidance"),
        manager("check", label="View customer data"),
        manager(
            "fill",
            label=en.t("manager.field.justification"),
            value="Veera starts as a job coach for young jobseekers in Laukaa.",
        ),
        manager("check", label=en.t("manager.confirm.customer_consent_form")),
        manager("check", label=en.t("manager.confirm.worker_agreement")),
        manager("screenshot", name="02-manager-fills-the-request"),
        manager("click", button=en.t("manager.action.continue")),
        manager("waitCard", text=en.t("manager.summary.title.new")),
        manager("waitText", text=WORKER_NAME),
        manager("screenshot", name="03-manager-checks-the-summary"),
        manager("click", button=en.t("manager.action.confirm")),
        manager("waitCard", text=_after("manager.sent.title.new")),
        manager("screenshot", name="04-manager-receipt"),
        # The contact person of the employment area gets the request on a card.
        approver("waitCard", text=_before("approval.title")),
        approver("waitText", text=WORKER_NAME),
        approver("screenshot", name="05-approver-gets-the-request"),
        approver("click", button=en.t("approval.action.approve")),
        approver("waitText", text=_before("approval.outcome.approved")),
        approver("screenshot", name="06-approver-card-shows-approved"),
        # The worker is told.
        worker("waitText", text=_before("request.approved.worker")),
        worker("screenshot", name="07-worker-is-told"),
        # The authority's administrator hands the change to KEHA and records KEHA's
        # confirmation (command line); the worker is told that the access is open.
        {
            "do": "exec",
            "argv": [sys.executable, str(E2E / "keha_handoff.py"), ADMIN, AREA],
            "env": {
                "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
                "ATMT_DIRECTORY": str(ROOT / "examples" / "directory.yaml"),
            },
        },
        worker(
            "waitText",
            text=_before("grant.opened.worker"),
        ),
        worker("screenshot", name="08-worker-access-is-open"),
        # The manager revokes the access: pick the grant, the reason, confirm.
        manager("send", text=en.word("command.revoke")),
        manager("waitCard", text=en.t("manager.pick.title.revoke")),
        manager("check", label=WORKER_NAME),
        manager("click", button=en.t("manager.action.choose")),
        manager("waitCard", text=en.t("manager.revoke.title")),
        manager("check", label=en.t("manager.revoke_reason.employment_ended")),
        manager("screenshot", name="09-manager-revokes"),
        manager("click", button=en.t("manager.action.continue")),
        manager("waitCard", text=en.t("manager.revoke.summary_title")),
        manager("click", button=en.t("manager.action.confirm_revoke")),
        manager("waitCard", text=_after("manager.revoke.sent_title")),
        manager("screenshot", name="10-manager-revocation-done"),
        # The worker and the contact person are told.
        worker("waitText", text=_before("revoke.requested.worker")),
        worker("screenshot", name="11-worker-is-told-of-the-revocation"),
        approver("waitText", text=_after("revoke.requested.approver")),
    ]
    report = drive({"clients": clients, "steps": steps}, timeout=300)

    assert report["error"] is None, report["error"] + "\n" + "\n".join(_problems(report))
    assert report["ok"], _problems(report)
    shown = {(step["as"], step["index"]): step["detail"] or "" for step in report["steps"]}
    said = {who: [text for (person, _), text in shown.items() if person == who] for who in clients}
    # One request number from start to end.
    number = re.search(r"\d{4}-\d{6}", "".join(said["approver"]))
    assert number, said["approver"]
    assert any(text == en.t("manager.sent.title.new", number=number[0]) for text in said["manager"])
    assert en.t("approval.title", number=number[0]) in said["approver"]
    assert f"{WORKER_NAME} ({WORKER_EMAIL})" in said["approver"]
    assert any(
        # the decider named as a person, with the e-mail after the name
        text.startswith("Approved by Aino Hyväksyjä, ") and "(contact@pks-area.example.fi)" in text
        for text in said["approver"]
    )
    assert en.t("request.approved.worker", number=number[0]) in said["worker"], said["worker"]
    # The revocation is a change of its own, with the next number.
    done = [t for t in said["manager"] if t.endswith(_after("manager.revoke.sent_title"))]
    revocation = re.search(r"\d{4}-\d{6}", "".join(done))
    assert revocation and revocation[0] != number[0], said["manager"]
    assert done == [en.t("manager.revoke.sent_title", number=revocation[0])]
    assert any(
        text.startswith(_before("grant.opened.worker")) and number[0] in text
        for text in said["worker"]
    ), said["worker"]
    assert any(
        _before("revoke.requested.worker") in text  # "URGENT: " first
        and revocation[0] in text
        and en.t("manager.revoke_reason.employment_ended") in text
        for text in said["worker"]
    ), said["worker"]
    # Every card of the flow was validated, and the people saw the cards they needed.
    titles = {(card["as"], card["title"]) for card in report["cards"]}
    for who, title in [
        ("manager", en.t("manager.form.title.new")),
        ("manager", en.t("manager.summary.title.new")),
        ("manager", en.t("manager.sent.title.new", number=number[0])),
        ("approver", en.t("approval.title", number=number[0])),
        ("manager", en.t("manager.pick.title.revoke")),
        ("manager", en.t("manager.revoke.title")),
        ("manager", en.t("manager.revoke.summary_title")),
        ("manager", en.t("manager.revoke.sent_title", number=revocation[0])),
    ]:
        assert (who, title) in titles, (who, title, sorted(titles))
    assert not _problems(report)
    screenshots = [Path(text) for text in shown.values() if text.endswith(".png")]
    assert len(screenshots) == 10  # 02-...-11-...; 01 is the help test
    assert all(path.stat().st_size > 10_000 for path in screenshots)
