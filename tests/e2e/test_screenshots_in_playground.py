"""The pictures of docs/screenshots, in Finnish and Swedish, taken in the browser.

Each person picks their language with the language command, then: the manager asks
for access for a worker; the approver gets the request on a card (approver-card-XX)
and returns it with a question; the manager gets the notification
(notification-card-XX), opens the request from "my requests" and answers on the
returned-request form (returned-answer-XX); the approver approves the answer; the
authority's administrator hands it to KEHA and records the confirmation on the command
line; the worker opens their own view (worker-view-XX), with the acknowledgement. In a
second walk the approver approves and then stops the request before KEHA opens it
(approver-stop-XX, approver-stop-confirm-XX).

Elements are found by what stays when cards change: the request number, the worker's
name, the question typed, and the catalog's button and field texts. Run it with
``pytest tests/e2e/test_screenshots_in_playground.py`` (about a minute per language);
the PNGs are overwritten with the same names.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from access.directory import load_directory_file
from dialogs.i18n import Translator

pytestmark = pytest.mark.e2e

E2E = Path(__file__).resolve().parent
ROOT = E2E.parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
DIRECTORY = load_directory_file(ROOT / "examples" / "directory.yaml")
T = Translator.load()
en = T.get("en")

WORKER_NAME = "Veera Esimerkki"
WORKER_EMAIL = "worker.one@laukaa.example.fi"
JOB_TITLE = "Työhönvalmentaja"
ADMIN = "admin@pks-area.example.fi"
AREA = "pohjoinen-keski-suomi"
QUESTION = {
    "fi": "Mihin asiakaskohderyhmiin Veera tarvitsee pääsyn syksyllä?",
    "sv": "Vilka kundmålgrupper behöver Veera i höst?",
}
ANSWER = {
    "fi": "Veera ohjaa nuoria työnhakijoita Ohjaamossa koko vuoden.",
    "sv": "Veera handleder unga arbetssökande på Navigatorn hela året.",
}
REPLY = {
    "fi": "Nuoret työnhakijat ja yksilöohjaus, kuten hakemuksessa.",
    "sv": "Unga arbetssökande och individuell handledning, som i ansökan.",
}
NUMBER = re.compile(r"\d{4}-\d{6}")


def _problems(report: dict[str, Any]) -> list[str]:
    return [
        f"{card['as']}: card {card['title']!r}: {error}"
        for card in report["cards"]
        for error in card["errors"]
    ]


def _before(text: str) -> str:
    """The fixed text before a catalog text's first placeholder."""
    return re.split(r"\{\w+\}", text)[0].strip()


def _after(text: str) -> str:
    return re.split(r"\{\w+\}", text)[-1].strip(" .")


def _step(who: str, do: str, **more: Any) -> dict[str, Any]:
    return {"as": who, "do": do, **more}


def _shot(who: str, name: str, locale: str, **more: Any) -> dict[str, Any]:
    return _step(who, "screenshot", name=f"{name}-{locale}", settleMs=800, **more)


def _walk(
    drive: Callable[..., dict[str, Any]],
    clients: dict[str, str],
    steps: list[dict[str, Any]],
    locale: str,
    names: tuple[str, ...],
    *,
    timeout: int,
) -> dict[str, Any]:
    """Drive ``steps``; every step passes and the pictures ``names`` (in ``locale``) are
    in docs/screenshots, in that order, and not empty."""
    plan = {"clients": clients, "steps": steps, "screenshots": str(SCREENSHOTS)}
    report = drive(plan, timeout=timeout)
    assert report["error"] is None, report["error"] + "\n" + "\n".join(_problems(report))
    assert report["ok"], _problems(report)
    pictures = [Path(s["detail"]) for s in report["steps"] if s["do"] == "screenshot"]
    assert [p.name for p in pictures] == [f"{name}-{locale}.png" for name in names]
    assert all(p.parent == SCREENSHOTS and p.stat().st_size > 10_000 for p in pictures)
    return report


def _languages(locale: str, people: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each person opens the chat and picks ``locale`` with the language command (the
    Playground says en-US)."""
    m = T.get(locale)
    steps: list[dict[str, Any]] = []
    for who in people:
        steps += [
            _step(who, "open"),
            _step(who, "waitCard", text=en.t("welcome.title")),
            _step(who, "send", text=en.word("command.language")),
            _step(who, "waitCard", text=en.t("language.title")),
            _step(who, "check", label=en.language_name(locale)),
            _step(who, "click", button=en.t("language.submit")),
            _step(who, "waitCard", text=m.t("language.title")),
        ]
    return steps


def _new_request(locale: str) -> list[dict[str, Any]]:
    """The manager asks for access for the worker, and the approver gets the card."""
    m = T.get(locale)
    youth = DIRECTORY.service_areas["youth"].name.get(locale)
    guidance = DIRECTORY.service_areas["guidance"].name.get(locale)
    view = DIRECTORY.access_levels["view"].name.get(locale)
    manager = "manager"
    return [
        _step(manager, "send", text=m.word("command.new")),
        _step(manager, "waitCard", text=m.t("manager.form.title.new")),
        _step(manager, "fill", label=m.t("manager.field.worker_name"), value=WORKER_NAME),
        _step(manager, "fill", label=m.t("manager.field.worker_email"), value=WORKER_EMAIL),
        _step(manager, "fill", label=m.t("manager.field.worker_job_title"), value=JOB_TITLE),
        _step(manager, "check", label=youth),
        _step(manager, "check", label=guidance),
        _step(manager, "check", label=view),
        _step(manager, "fill", label=m.t("manager.field.justification"), value=ANSWER[locale]),
        _step(manager, "check", label=m.t("manager.confirm.customer_consent_form")),
        _step(manager, "check", label=m.t("manager.confirm.worker_agreement")),
        _step(manager, "click", button=m.t("manager.action.continue")),
        _step(manager, "waitCard", text=m.t("manager.summary.title.new")),
        _step(manager, "click", button=m.t("manager.action.confirm")),
        _step(manager, "waitCard", text=_after(m.t("manager.sent.title.new"))),
        _step("approver", "waitCard", text=_before(m.t("approval.title"))),
        _step("approver", "waitText", text=WORKER_NAME),
    ]


@pytest.mark.parametrize("locale", ["fi", "sv"])
def test_screenshots_of_the_main_cards(
    locale: str,
    playgrounds: Callable[..., dict[str, Any]],
    drive: Callable[[dict[str, Any]], dict[str, Any]],
    tmp_path: Path,
) -> None:
    people = playgrounds("manager", "approver", "worker")
    clients = {who: instance.url for who, instance in people.items()}
    m = T.get(locale)

    def step(who: str, do: str, **more: Any) -> dict[str, Any]:
        return _step(who, do, **more)

    def shot(who: str, name: str) -> dict[str, Any]:
        return _shot(who, name, locale)

    steps = _languages(locale, ("worker", "approver", "manager")) + _new_request(locale)
    steps += [
        shot("approver", "approver-card"),
        # Returned with a question.
        step("approver", "click", button=m.t("approval.action.return")),
        step("approver", "fill", label=m.t("approval.field.question"), value=QUESTION[locale]),
        step("approver", "click", button=m.t("approval.action.send_return")),
        step("approver", "waitText", text=QUESTION[locale]),
        # The manager is told (the notification carries the question).
        step("manager", "waitText", text=QUESTION[locale]),
        shot("manager", "notification-card"),
        # The manager answers on the returned-request form, from "my requests".
        step("manager", "send", text=m.word("command.my_requests")),
        step("manager", "waitCard", text=m.t("manager.requests.title")),
    ]
    steps += [
        # The one request's row (its button names the request number).
        step("manager", "click", button=_before(m.t("manager.action.details_of")), prefix=True),
        step("manager", "waitText", text=QUESTION[locale]),
        step("manager", "click", button=m.t("manager.action.answer")),
        step("manager", "waitCard", text=m.t("manager.form.title.resubmit")),
        step("manager", "waitText", text=QUESTION[locale]),
        step("manager", "fill", label=m.t("manager.field.answer"), value=REPLY[locale]),
        shot("manager", "returned-answer"),
        step("manager", "click", button=m.t("manager.action.continue")),
        step("manager", "waitCard", text=m.t("manager.summary.title.resubmit")),
        step("manager", "click", button=m.t("manager.action.confirm")),
        step("manager", "waitCard", text=_after(m.t("manager.sent.title.resubmit"))),
        # Approved; handed to KEHA and confirmed (command line); the worker's view.
        step("approver", "waitText", text=m.t("approval.answer.title")),
        step("approver", "click", button=m.t("approval.action.approve")),
        step("approver", "waitText", text=_before(m.t("approval.outcome.approved"))),
        {
            "do": "exec",
            "argv": [sys.executable, str(E2E / "keha_handoff.py"), ADMIN, AREA],
            "env": {
                "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
                "ATMT_DIRECTORY": str(ROOT / "examples" / "directory.yaml"),
            },
        },
        step("worker", "waitText", text=_before(m.t("grant.opened.worker"))),
        step("worker", "send", text=m.word("command.my_access")),
        step("worker", "waitCard", text=m.t("manager.my_access.title")),
        step("worker", "click", button=m.t("manager.action.read_terms")),
        step("worker", "waitText", text=m.t("manager.ack.title")),
        shot("worker", "worker-view"),
    ]
    names = ("approver-card", "notification-card", "returned-answer", "worker-view")
    report = _walk(drive, clients, steps, locale, names, timeout=420)
    # One request from start to end: its number on the approver's card and the receipts.
    said = [str(s["detail"] or "") for s in report["steps"]]
    numbers = {n for text in said for n in NUMBER.findall(text)}
    assert len(numbers) == 1, numbers


@pytest.mark.parametrize("locale", ["fi", "sv"])
def test_screenshots_of_the_approvers_stop(
    locale: str,
    playgrounds: Callable[..., dict[str, Any]],
    drive: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """The approver approves, then stops the request before KEHA opens it: the stop form
    with the area's reasons (approver-stop-XX), the confirmation saying what happens
    (approver-stop-confirm-XX), and the card once stopped, with nothing left to press."""
    people = playgrounds("manager", "approver")
    clients = {who: instance.url for who, instance in people.items()}
    m = T.get(locale)
    steps = _languages(locale, ("approver", "manager")) + _new_request(locale)
    steps += [
        _step("approver", "click", button=m.t("approval.action.approve")),
        _step("approver", "waitText", text=_before(m.t("approval.outcome.approved"))),
        _step("approver", "click", button=m.t("approval.action.stop")),
        _step("approver", "waitText", text=m.t("manager.revoke_reason.agreement_breach")),
        _step("approver", "check", label=m.t("manager.revoke_reason.task_ended")),
        _shot("approver", "approver-stop", locale, centre=m.t("approval.stop.reason")),
        _step("approver", "click", button=m.t("approval.stop.continue")),
        _step("approver", "waitText", text=_before(m.t("approval.stop.confirm.title"))),
        _shot(
            "approver",
            "approver-stop-confirm",
            locale,
            centre=_before(m.t("approval.stop.confirm.title")),
        ),
        _step("approver", "click", button=m.t("approval.stop.confirm.yes")),
        _step("approver", "waitText", text=_before(m.t("approval.stop.saved.stopped"))),
        # The manager hears of it.
        _step("manager", "waitText", text=m.t("manager.revoke_reason.task_ended")),
    ]
    _walk(drive, clients, steps, locale, ("approver-stop", "approver-stop-confirm"), timeout=300)
