"""Dashboard figures about notices: what is due next, and how fast each recipient answers.

Response times are counted in the recipient's business days (its jurisdiction's weekends and
public holidays, like its deadlines): from sending to acknowledgment, and from sending to
removal (resolved as removed or disabled).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import pygal
from sqlalchemy import select

from compliance.extensions import db
from compliance.notices import deadlines as bd
from compliance.notices.due_dates import NoticeDeadline, upcoming
from compliance.notices.models import Notice, Recipient
from compliance.web.charts import STYLE

REMOVED_OUTCOMES = ("removed", "disabled")
_CHART = {"js": [], "style": STYLE, "width": 560, "height": 320}


@dataclass(frozen=True)
class Spread:
    """Median and 90th percentile of a list of business-day counts (n of them)."""

    n: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, days: list[int]) -> Spread:
        if not days:
            return cls(0, None, None)
        if len(days) == 1:
            return cls(1, float(days[0]), float(days[0]))
        p90 = statistics.quantiles(days, n=10, method="inclusive")[-1]
        return cls(len(days), float(round(statistics.median(days), 1)), round(p90, 1))


@dataclass(frozen=True)
class RecipientTimes:
    """One recipient's response times."""

    recipient_id: int
    name: str
    sent: int
    acknowledgment: Spread
    removal: Spread


def response_times() -> list[RecipientTimes]:
    """Per directory recipient with at least one notice: time to acknowledgment and to removal."""
    rows = db.session.execute(
        select(
            Recipient.id,
            Recipient.name,
            Recipient.jurisdiction,
            Recipient.subdivision,
            Notice.sent_at,
            Notice.acknowledged_at,
            Notice.resolved_at,
            Notice.outcome,
        )
        .join(Notice, Notice.recipient_id == Recipient.id)
        .order_by(Recipient.name, Notice.id)
    ).all()
    grouped: dict[int, dict] = {}
    for rid, name, country, sub, sent_at, acked_at, resolved_at, outcome in rows:
        entry = grouped.setdefault(rid, {"name": name, "sent": 0, "ack": [], "removal": []})
        entry["sent"] += 1
        sent = sent_at.date()
        if acked_at is not None:
            entry["ack"].append(bd.business_days_between(sent, acked_at.date(), country, sub))
        if outcome in REMOVED_OUTCOMES and resolved_at is not None:
            entry["removal"].append(
                bd.business_days_between(sent, resolved_at.date(), country, sub)
            )
    return [
        RecipientTimes(
            rid,
            entry["name"],
            entry["sent"],
            Spread.of(entry["ack"]),
            Spread.of(entry["removal"]),
        )
        for rid, entry in grouped.items()
    ]


def by_next_deadline(limit: int = 10) -> list[tuple[Notice, NoticeDeadline]]:
    """Open notices by their next deadline, overdue first (the dashboard's list)."""
    return upcoming(limit=limit)


def response_times_svg() -> str:
    """Grouped bars per recipient: median and 90th percentile, to acknowledgment and removal."""
    times = [t for t in response_times() if t.acknowledgment.n or t.removal.n]
    chart = pygal.Bar(
        title="Recipients' response times (business days)",
        print_values=False,
        show_legend=True,
        legend_at_bottom=True,
        legend_at_bottom_columns=2,
        **_CHART,
    )
    chart.x_labels = [t.name if len(t.name) <= 28 else t.name[:27] + "…" for t in times]
    chart.x_label_rotation = 20 if len(times) > 3 else 0
    chart.add("acknowledged, median", [t.acknowledgment.median for t in times])
    chart.add("acknowledged, 90th pct", [t.acknowledgment.p90 for t in times])
    chart.add("removed, median", [t.removal.median for t in times])
    chart.add("removed, 90th pct", [t.removal.p90 for t in times])
    if not times:
        chart.no_data_text = "No answers recorded yet"
    return chart.render(is_unicode=True)


__all__ = ["RecipientTimes", "Spread", "by_next_deadline", "response_times", "response_times_svg"]
