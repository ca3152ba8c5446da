"""The my-data download (GDPR art. 15) is read by a person: every time in it is
Helsinki local time to the minute, never UTC with microseconds."""

from __future__ import annotations

import json
import re

from authority_support import make_services, open_grant
from lifecycle_support import APPROVER, MANAGER, example_directory
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_TIME_KEYS = {"at", "created_at", "updated_at"}


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
