"""Team figures drawn as SVG by pygal: the same charts serve pages and PDF packets."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

import pygal
from pygal.style import Style
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from compliance.cache import ProcessCache
from compliance.cases.models import OPEN_STATES, STATES, Case, CaseTransition
from compliance.extensions import db

STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1b2430",
    foreground_strong="#1b2430",
    foreground_subtle="#d9dee5",
    colors=("#1f4e8c", "#a32020", "#1e6b3a", "#8a5a00"),
    font_family="DejaVu Sans, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    value_font_size=11,
    title_font_size=14,
)
_COMMON = {"js": [], "style": STYLE, "show_legend": False, "height": 280, "width": 560}


def count_axis(values: list[int], ticks: int = 5) -> list[int]:
    """Whole-number labels for an axis of counts (pygal would divide 0..1 into tenths)."""
    top = max(values, default=0)
    step = max(1, -(-top // ticks))  # ceiling: at most `ticks` steps
    return list(range(0, max(top, 1) + step, step))


def cases_by_state_svg() -> str:
    """How many cases are in each workflow state."""
    counts = dict(db.session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
    chart = pygal.HorizontalBar(title="Cases by state", print_values=True, **_COMMON)
    chart.x_labels = [s.replace("_", " ") for s in STATES]
    values = [counts.get(s, 0) for s in STATES]
    chart.y_labels = count_axis(values)  # the value axis, though drawn horizontally
    chart.add("cases", values)
    return chart.render(is_unicode=True)


def new_cases_per_week_svg(now: datetime, weeks: int = 12) -> str:
    """Cases opened per ISO week, for the last `weeks` weeks."""
    start = (now - timedelta(weeks=weeks - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=start.weekday())
    opened = db.session.scalars(select(Case.created_at).where(Case.created_at >= start)).all()
    buckets = [0] * weeks
    for created in opened:
        index = (created - start).days // 7
        if 0 <= index < weeks:
            buckets[index] += 1
    chart = pygal.Bar(title="New cases per week", print_values=False, **_COMMON)
    chart.x_labels = [(start + timedelta(weeks=i)).strftime("%d %b") for i in range(weeks)]
    chart.x_label_rotation = 30
    chart.y_labels = count_axis(buckets)
    chart.add("new cases", buckets)
    return chart.render(is_unicode=True)


# Team figures read the whole history (the median every case that reached action_taken, the
# overdue count every late case): their cost grows with the data, and the dashboard shows them
# on every visit. A process keeps them for a minute per database; any case or transition this
# process writes drops them at once.
_team_figures = ProcessCache(60.0, Case, CaseTransition)


def median_days_to_action() -> float | None:
    """Median days from a case's creation to its first move to action_taken (cached briefly)."""
    return _team_figures.get("median_days_to_action", _median_days_to_action)


def _median_days_to_action() -> float | None:
    first_action = (
        select(CaseTransition.case_id, func.min(CaseTransition.occurred_at).label("at"))
        .where(CaseTransition.to_state == "action_taken")
        .group_by(CaseTransition.case_id)
        .subquery()
    )
    acted = aliased(first_action)
    rows = db.session.execute(
        select(Case.created_at, acted.c.at).join(acted, acted.c.case_id == Case.id)
    ).all()
    days = [(at - created).total_seconds() / 86400 for created, at in rows if at and created]
    return round(statistics.median(days), 1) if days else None


def overdue_review_count(now: datetime) -> int:
    """Open cases whose review date has passed (a team figure: cached briefly, like the median).

    Each person's own overdue reviews are listed exactly, from the review schedule.
    """
    return _team_figures.get(
        "overdue_review_count",
        lambda: db.session.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.next_review_at < now, Case.state.in_(OPEN_STATES))
        ),
    )
