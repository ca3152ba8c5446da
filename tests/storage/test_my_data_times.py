"""The my-data download (GDPR art. 15) is read by a person: every time in it is
Helsinki local time to the minute, never UTC with microseconds; it holds every matter
of suspected misuse that concerns the person."""

from __future__ import annotations

import json
import re

from authority_support import make_services, open_grant
from lifecycle_support import ADMIN, APPROVER, MANAGER, example_directory
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.misuse import MisuseReports
from access.model import MatterOutcome
from access.ports import UuidIds
from dialogs.cards.my_data import my_data_card
from dialogs.i18n import Translator
from storage.repositories import unit_of_work_factory

T = Translator.load()

_TIME_KEYS = {"at", "created_at", "updated_at", "reported_at", "closed_at"}


def _times(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [str(v) for k, v in node.items() if k in _TIME_KEYS]
        return found + [t for v in node.values() for t in _times(v)]
    if isinstance(node, list):
        return [t for v in node for t in _times(v)]
    return []


async def test_my_data_times_are_helsinki_minutes(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_services(session_factory, example_directory())
    s.clock.advance(seconds=17.123456)
    await open_grant(s, 1)
    for who in (MANAGER, APPROVER):
        document = (await s.authority.my_data_export(who)).document
        times = _times(document)
        assert times, who
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", t) for t in times), times
        assert document["time_zone"] == "Europe/Helsinki"
        json.dumps(document)  # still plain JSON
    made = (await s.authority.my_data_export(MANAGER)).document["requests_made_by_me"]
    assert made[0]["created_at"] == "2026-03-02 10:30"  # type: ignore[index]  # 08:30:17 UTC


async def test_suspected_misuse_is_in_the_my_data_of_the_worker_reporter_and_closer(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The worker sees that misuse of their access was suspected and how it ended, not
    who reported it or what was written; the reporter and the approver who closed it see
    the matter with what they themselves wrote. People with no matter see no such row."""
    s = make_services(session_factory, example_directory())
    grant = await open_grant(s, 1)
    reports = MisuseReports(
        unit_of_work_factory(session_factory), example_directory(), s.clock, UuidIds()
    )
    report = await reports.report(
        MANAGER, grant.id, "Hakuja ilman asiakkuutta", idempotency_key="m"
    )
    await reports.close(
        APPROVER, report.matter_id, MatterOutcome.UNFOUNDED, "Selvitetty", idempotency_key="c"
    )

    worker = (await s.authority.my_data_export(grant.worker.email)).document
    [about] = worker["misuse_matters_about_me"]  # type: ignore[misc]
    assert about == {
        "id": report.matter_id,
        "grant_id": grant.id,
        "municipality": "laukaa",
        "area": grant.area,
        "reported_at": about["reported_at"],  # type: ignore[index]
        "outcome": "unfounded",
        "closed_at": about["closed_at"],  # type: ignore[index]
    }
    shown = json.dumps(worker["misuse_matters_about_me"])
    assert "Hakuja" not in shown and "Selvitetty" not in shown and MANAGER not in shown
    assert worker["misuse_matters_by_me"] == []

    [made] = (await s.authority.my_data_export(MANAGER)).document["misuse_matters_by_me"]  # type: ignore[misc]
    assert (made["note"], made["closing_note"]) == ("Hakuja ilman asiakkuutta", None)  # type: ignore[index]
    [closed] = (await s.authority.my_data_export(APPROVER)).document["misuse_matters_by_me"]  # type: ignore[misc]
    assert (closed["note"], closed["closing_note"]) == (None, "Selvitetty")  # type: ignore[index]
    assert (closed["reported_by_me"], closed["closed_by_me"]) == (False, True)  # type: ignore[index]
    assert (await s.authority.my_data_export(ADMIN)).document["misuse_matters_by_me"] == []

    data = await s.access.queries.my_data(grant.worker.email)
    card = my_data_card(T.get("fi"), example_directory(), data, "https://bot.example.fi/x")
    assert [T.get("fi").t("my_data.matters_about_me"), "1"] in [
        [f["title"], f["value"]] for f in card["body"][2]["facts"]
    ]
