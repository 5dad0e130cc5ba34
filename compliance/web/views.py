"""The landing page after sign-in: my work queue, then the team's figures."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    send_from_directory,
    url_for,
)
from flask_login import current_user, login_required

from compliance.auth.access import require
from compliance.auth.permissions import can
from compliance.cases import queries as cases
from compliance.db import utcnow
from compliance.packets.queries import packets_ready_to_send
from compliance.reviews.operations import my_reviews
from compliance.web import charts

bp = Blueprint("web", __name__)


@bp.route("/favicon.ico")
def favicon():
    """The tab icon; browsers and tools ask for /favicon.ico whatever the page links."""
    return send_from_directory(
        current_app.static_folder or "static",
        "favicon.ico",
        mimetype="image/vnd.microsoft.icon",
        max_age=86400,
    )


@bp.route("/")
@login_required
def dashboard():
    if not can(current_user, "case.view"):
        target = "auth.users" if can(current_user, "user.manage") else "auth.no_access"
        return redirect(url_for(target))
    now = utcnow()
    counsel = current_user.role == "counsel"
    # The week's reviews, soonest due first, as many as the other queues show: counsel's
    # include every unassigned case's, hundreds on a large team (My reviews lists them all).
    reviews = my_reviews(current_user, now, horizon_days=7, limit=cases.QUEUE_LIMIT + 1)
    shown = [
        (bucket, row)
        for bucket in ("overdue", "due", "upcoming")
        for row in getattr(reviews, bucket)
    ]
    return render_template(
        "web/dashboard.html",
        reviews=shown[: cases.QUEUE_LIMIT],
        more_reviews=len(shown) > cases.QUEUE_LIMIT,
        mine=cases.my_open_cases(current_user.id),
        waiting_approval=cases.awaiting_approval_by(current_user.id) if counsel else [],
        packets_ready=packets_ready_to_send() if counsel else [],
        new_reports=cases.new_reports(),
        median_days=charts.median_days_to_action(),
        overdue=charts.overdue_review_count(now),
        now=now,
    )


CHARTS = {
    "cases-by-state": charts.cases_by_state_svg,
    "new-cases-per-week": lambda: charts.new_cases_per_week_svg(utcnow()),
}


@bp.route("/charts/<name>.svg")
@require("case.view")
def chart(name: str):
    draw = CHARTS.get(name)
    if draw is None:
        return Response("no such chart", status=404, mimetype="text/plain")
    response = Response(draw(), mimetype="image/svg+xml")
    # Shown through <img>, where nothing runs; pygal's SVG carries its own <style>.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
