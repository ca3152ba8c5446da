"""Reports: aggregate counts only (seed 003, DOMAIN rule 7), never a person.

One row per employment area, municipality and month (Finnish calendar months):

* requests made in the month, by kind (grant, change, revoke) and by what became of
  them (``approved`` = approved or further on the way to KEHA or done, ``rejected``,
  ``cancelled``, ``expired``, ``open`` = pending or returned);
* grants active at the end of the month (opened on or before, not removed by then);
* the median number of days from a request to its decision (approval or rejection)
  and from the decision to KEHA's confirmation, over the month's requests that got
  there (a revoke needs no approval: its decision time is when it was made).

The input is domain objects; the output holds codes and numbers only. Names, e-mails
and free texts never enter a report row (a test checks it).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from access.directory import Directory
from access.keha import table_csv, table_xlsx
from access.model import (
    AccessRequest,
    Decision,
    DecisionOutcome,
    Grant,
    GrantEventKind,
    KehaRow,
    KehaRowState,
    RequestKind,
    RequestState,
)

HELSINKI = ZoneInfo("Europe/Helsinki")

OUTCOMES: tuple[str, ...] = ("approved", "rejected", "cancelled", "expired", "open")
KINDS: tuple[str, ...] = tuple(k.value for k in RequestKind)

_OUTCOME_OF: Mapping[RequestState, str] = {
    RequestState.APPROVED: "approved",
    RequestState.QUEUED_FOR_KEHA: "approved",
    RequestState.SENT_TO_KEHA: "approved",
    RequestState.DONE: "approved",
    RequestState.REJECTED: "rejected",
    RequestState.CANCELLED: "cancelled",
    RequestState.EXPIRED: "expired",
    RequestState.PENDING: "open",
    RequestState.RETURNED: "open",
}


def outcome_of(state: RequestState) -> str:
    return _OUTCOME_OF[state]


def month_of(at: datetime) -> str:
    """``"2026-03"``: the Finnish calendar month of a timestamp."""
    return at.astimezone(HELSINKI).strftime("%Y-%m")


def months_between(first: date, last: date) -> list[str]:
    """Every month from ``first``'s to ``last``'s, inclusive, as ``"YYYY-MM"``."""
    out: list[str] = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def month_end(month: str) -> datetime:
    """The first instant after the month (Helsinki time)."""
    year, number = (int(p) for p in month.split("-"))
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return datetime(year, number, 1, tzinfo=HELSINKI)


@dataclass(frozen=True)
class ReportRow:
    area: str
    municipality: str
    month: str
    requests: Mapping[str, Mapping[str, int]]  # kind -> outcome -> count
    active_grants: int
    median_days_to_decision: float | None
    median_days_to_keha: float | None

    def submitted(self, kind: str | None = None) -> int:
        kinds = KINDS if kind is None else (kind,)
        return sum(self.requests[k][o] for k in kinds for o in OUTCOMES)

    def values(self, labels: Mapping[str, str] | None = None) -> tuple[str, ...]:
        """The file row; ``labels["month:YYYY-MM"]`` names the month (``joulukuu 2025``)."""
        counts = [str(self.requests[k][o]) for k in KINDS for o in OUTCOMES]
        return (
            self.area,
            self.municipality,
            (labels or {}).get(f"month:{self.month}", self.month),
            *counts,
            str(self.active_grants),
            _days(self.median_days_to_decision),
            _days(self.median_days_to_keha),
        )


def _days(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


REPORT_COLUMNS: tuple[str, ...] = (
    "area",
    "municipality",
    "month",
    *(f"{k}_{o}" for k in KINDS for o in OUTCOMES),
    "active_grants",
    "median_days_to_decision",
    "median_days_to_keha",
)
"""Column names in file order (catalog keys ``report.column.<name>`` title them)."""


@dataclass(frozen=True)
class Report:
    area: str
    first_month: str
    last_month: str
    rows: tuple[ReportRow, ...]

    def monthly_totals(self) -> list[tuple[str, int, int]]:
        """(month, requests made, grants active at month end) over the whole area."""
        months = self.months
        return [
            (
                month,
                sum(r.submitted() for r in self.rows if r.month == month),
                sum(r.active_grants for r in self.rows if r.month == month),
            )
            for month in months
        ]

    @property
    def months(self) -> list[str]:
        """Every month of the report, ``"YYYY-MM"``, oldest first."""
        return months_between(
            date.fromisoformat(self.first_month + "-01"),
            date.fromisoformat(self.last_month + "-01"),
        )

    def header(self, labels: Mapping[str, str] | None = None) -> list[str]:
        return [(labels or {}).get(c, c) for c in REPORT_COLUMNS]

    def csv(self, labels: Mapping[str, str] | None = None) -> bytes:
        """``labels``: column -> title and ``"month:YYYY-MM"`` -> the month's name, in
        the reader's language (without them: column names and ``YYYY-MM``)."""
        return table_csv(self.header(labels), [r.values(labels) for r in self.rows])

    def xlsx(self, labels: Mapping[str, str] | None = None, *, sheet: str = "Report") -> bytes:
        return table_xlsx(self.header(labels), [r.values(labels) for r in self.rows], sheet=sheet)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _decision_time(request: AccessRequest, decisions: Sequence[Decision]) -> datetime | None:
    for decision in decisions:
        if decision.outcome in (DecisionOutcome.APPROVED, DecisionOutcome.REJECTED):
            return decision.at
    if request.kind is RequestKind.REVOKE:
        return request.created_at  # needs no approval
    return None


def _grant_span(grant: Grant) -> tuple[datetime | None, datetime | None]:
    opened = next((e.at for e in grant.history if e.event is GrantEventKind.OPENED), None)
    removed = next((e.at for e in grant.history if e.event is GrantEventKind.REMOVED), None)
    return opened, removed


def build_report(
    directory: Directory,
    area: str,
    first: date,
    last: date,
    *,
    requests: Iterable[AccessRequest],
    decisions: Mapping[str, Sequence[Decision]],
    keha_rows: Iterable[KehaRow],
    grants: Iterable[Grant],
) -> Report:
    """The area's report for the months from ``first`` to ``last`` (inclusive).

    ``decisions``: request id -> its decisions, oldest first. Every municipality of the
    area gets a row for every month, zeros included, so sums are easy to check.
    """
    months = months_between(first, last)
    wanted = set(months)
    area_info = directory.area(area)
    municipalities = {m.code for m in area_info.municipalities} if area_info else set()
    requests = [r for r in requests if r.area == area]
    grants = [g for g in grants if g.area == area]
    municipalities |= {r.municipality for r in requests} | {g.municipality for g in grants}
    confirmed: dict[str, datetime] = {}
    for row in keha_rows:
        if row.state is KehaRowState.CONFIRMED and row.confirmed_at is not None:
            confirmed[row.request_id] = row.confirmed_at

    counts: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    to_decision: dict[tuple[str, str], list[float]] = {}
    to_keha: dict[tuple[str, str], list[float]] = {}
    for key in ((m, month) for m in municipalities for month in months):
        counts[key] = {k: dict.fromkeys(OUTCOMES, 0) for k in KINDS}
        to_decision[key] = []
        to_keha[key] = []
    for request in requests:
        month = month_of(request.created_at)
        if month not in wanted:
            continue
        key = (request.municipality, month)
        counts[key][request.kind.value][outcome_of(request.state)] += 1
        decided = _decision_time(request, decisions.get(request.id, ()))
        if decided is not None and request.kind is not RequestKind.REVOKE:
            to_decision[key].append((decided - request.created_at) / timedelta(days=1))
        done = confirmed.get(request.id)
        if decided is not None and done is not None:
            to_keha[key].append((done - decided) / timedelta(days=1))

    spans = [(g.municipality, *_grant_span(g)) for g in grants]
    rows: list[ReportRow] = []
    for municipality in sorted(municipalities):
        for month in months:
            end = month_end(month)
            active = sum(
                1
                for m, opened, removed in spans
                if m == municipality
                and opened is not None
                and opened < end
                and (removed is None or removed >= end)
            )
            key = (municipality, month)
            rows.append(
                ReportRow(
                    area=area,
                    municipality=municipality,
                    month=month,
                    requests=counts[key],
                    active_grants=active,
                    median_days_to_decision=_median(to_decision[key]),
                    median_days_to_keha=_median(to_keha[key]),
                )
            )
    return Report(area=area, first_month=months[0], last_month=months[-1], rows=tuple(rows))
