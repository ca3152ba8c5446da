"""The report card: aggregates per month with a small server-rendered chart."""

from __future__ import annotations

from typing import Any

from access.directory import Directory
from access.reports import Report
from dialogs.cards.base import Card, card, text, title
from dialogs.charts import alt_values
from dialogs.i18n import Messages

__all__ = ["report_card"]


def report_card(
    m: Messages,
    directory: Directory,
    report: Report,
    chart: str,
    xlsx_url: str,
    csv_url: str,
) -> Card:
    """``chart``: a ``data:image/png`` URI of the monthly request counts."""
    info = directory.area(report.area)
    totals = report.monthly_totals()
    body: list[dict[str, Any]] = [
        title(m.t("report.title")),
        text(info.name.get(m.locale) if info else report.area, subtle=True),
        text(
            m.t(
                "report.period",
                first=m.format_month(report.first_month),
                last=m.format_month(report.last_month),
            )
        ),
        {
            "type": "Image",
            "url": chart,
            # The numbers the bars show, for whoever does not see the picture.
            "altText": m.t(
                "report.chart_alt_values",
                values=alt_values(
                    [m.format_month(month) for month, _, _ in totals],
                    [requests for _, requests, _ in totals],
                ),
            ),
            "size": "Stretch",
        },
        {
            "type": "FactSet",
            "facts": [
                {
                    "title": m.format_month(month),
                    "value": f"{m.n('report.month_requests', requests)}, "
                    f"{m.n('report.month_active', active)}",
                }
                for month, requests, active in totals
            ],
        },
        text(m.t("report.aggregates_only"), subtle=True),
    ]
    actions = [
        {"type": "Action.OpenUrl", "title": m.t("report.download.xlsx"), "url": xlsx_url},
        {"type": "Action.OpenUrl", "title": m.t("report.download.csv"), "url": csv_url},
    ]
    return card(body, actions)
