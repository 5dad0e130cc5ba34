"""Review pages: my reviews, the team's review calendar, the case page's Reviews tab,
notifications with the top-bar bell, and the admin's outbox and job log."""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from compliance.auth.access import current_actor, require
from compliance.cases import operations as cases
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.reviews import operations, queries
from compliance.reviews.forms import ReviewForm
from compliance.reviews.mail import smtp_configured
from compliance.web.paging import page_arg
from compliance.web.transaction import on_refusal, transactional

bp = Blueprint("reviews", __name__)


@bp.app_template_global()
def unread_notification_count() -> int:
    """The bell's number: one indexed COUNT for the signed-in user."""
    if not current_user.is_authenticated:
        return 0
    return operations.unread_count(current_user.id)


@bp.app_template_global()
def review_overdue(case: Case) -> bool:
    """True when an open case's next review date has passed (the case list's badge)."""
    return bool(case.is_open and case.next_review_at and case.next_review_at < utcnow())


@bp.app_template_global()
def review_status(row: Any) -> str:
    """scheduled, due, overdue or escalated: where a scheduled review stands now."""
    return operations.status_at(row.due_at, utcnow())


@bp.route("/reviews/mine")
@require("review.complete")
def mine():
    lists = operations.my_reviews(current_user, utcnow())
    return render_template("reviews/mine.html", lists=lists, now=utcnow())


@dataclass(frozen=True)
class MonthGrid:
    """One month of the review calendar: weeks of days (Monday first) and reviews per day."""

    first: date
    weeks: list[list[date]]
    counts: dict[date, int]
    overdue: int  # open reviews due before this month

    @property
    def previous(self) -> date:
        return (self.first - timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> date:
        return (self.first + timedelta(days=31)).replace(day=1)


def _month_arg(today: date) -> date:
    year, _, month = request.args.get("month", "").partition("-")
    try:
        return date(int(year), int(month), 1) if 1900 < int(year) < 9000 else today.replace(day=1)
    except ValueError:
        return today.replace(day=1)


def month_grid(first: date) -> MonthGrid:
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    last = weeks[-1][-1]
    rows = operations.open_reviews(datetime.combine(last, time.max, tzinfo=UTC))
    counts = Counter(row.due_at.date() for row in rows)
    overdue = sum(n for day, n in counts.items() if day < first)
    return MonthGrid(first, weeks, counts, overdue)


@bp.route("/reviews/team")
@require("case.view")
def team():
    now = utcnow()
    days = min(max(request.args.get("days", 30, type=int), 1), 366)
    rows = operations.open_reviews(now + timedelta(days=days))
    by_day = [(day, list(items)) for day, items in groupby(rows, key=lambda r: r.due_at.date())]
    grid = month_grid(_month_arg(now.date()))
    return render_template(
        "reviews/team.html",
        by_day=by_day,
        days=days,
        now=now,
        grid=grid,
        listed={d for d, _ in by_day},
    )


@bp.route("/cases/<ref>/reviews", methods=["POST"])
@require("review.complete")
@transactional
def complete(ref: str):
    case = cases.get_case(ref)
    form = ReviewForm()
    if not form.validate_on_submit():
        flash("The review is incomplete: " + _errors(form), "error")
        return redirect(url_for("cases.view", ref=ref, tab="reviews"))
    next_at = None
    if form.next_review_on.data:
        next_at = datetime.combine(form.next_review_on.data, utcnow().time(), tzinfo=UTC)
    on_refusal(url_for("cases.view", ref=ref, tab="reviews"))
    review = operations.complete_review(
        case,
        current_actor(),
        kind=form.kind.data,
        outcome=form.outcome.data,
        notes=form.notes.data or "",
        next_review_at=next_at,
        form_token=form.form_token.data,
    )
    when = review.next_review_at.strftime("%Y-%m-%d") if review.next_review_at else "—"
    flash(f"Review recorded ({review.outcome_label}); next review {when}.", "success")
    return redirect(url_for("cases.view", ref=ref, tab="reviews"))


def _errors(form: ReviewForm) -> str:
    return "; ".join(
        f"{getattr(form, k).label.text}: {' '.join(v)}" for k, v in form.errors.items()
    )


def reviews_tab(case: Case, actor: Any) -> dict[str, Any]:
    schedules = {kind: operations.find_schedule(kind, "case", case.id) for kind in ("case", "hold")}
    now = utcnow()
    return {
        "reviews": operations.reviews_for_case(case),
        "schedules": {k: v for k, v in schedules.items() if v is not None and v.is_open},
        "review_form": ReviewForm.fresh("case"),
        "hold_review_form": ReviewForm.fresh("hold"),
        "default_next": operations.cadence_due("case", now, case.state),
        "default_hold_next": operations.cadence_due("hold", now),
        "now": now,
    }


@bp.route("/notifications")
@login_required
def notifications():
    found = queries.notifications_of(current_user.id, page_arg())
    return render_template(
        "reviews/notifications.html", items=found.items, page=found.page, pages=found.pages
    )


@bp.route("/notifications/read", methods=["POST"])
@login_required
@transactional
def mark_read():
    ids = [int(i) for i in request.form.getlist("id") if i.isdigit()]
    count = operations.mark_read(current_actor(), ids or None)
    target = request.form.get("next")
    if target and ids and len(ids) == 1 and target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    flash(f"{count} notification{'s' if count != 1 else ''} marked read.", "success")
    return redirect(url_for("reviews.notifications"))


@bp.route("/admin/outbox")
@require("user.manage")
def outbox():
    status = request.args.get("status") or None
    found = queries.outbox(status)
    return render_template(
        "reviews/outbox.html",
        emails=found.emails,
        counts=found.counts,
        status=status,
        runs=found.runs,
        smtp=smtp_configured(current_app.config),
    )
