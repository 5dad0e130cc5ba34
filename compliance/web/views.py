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
from sqlalchemy import Row, and_, select

from compliance.auth.access import require
from compliance.auth.permissions import can
from compliance.cases.models import OPEN_STATES, Case, CaseTransition
from compliance.db import utcnow
from compliance.extensions import db
from compliance.packets.models import Packet
from compliance.reviews.operations import my_reviews
from compliance.web import charts

bp = Blueprint("web", __name__)
QUEUE_LIMIT = 10


# The queues read only the columns they show: whole cases (each with its owner joined) cost
# twice as much to load, for ten lines of links each.


def _awaiting_my_approval() -> list[Row]:
    """Cases in legal review that this counsel may approve (four-eyes: not the one who sent)."""
    sent_by_me = (
        select(CaseTransition.id)
        .where(
            CaseTransition.case_id == Case.id,
            CaseTransition.to_state == "legal_review",
            CaseTransition.actor_user_id == current_user.id,
        )
        .exists()
    )
    return db.session.execute(
        select(Case.ref, Case.title)
        .where(Case.state == "legal_review", ~sent_by_me)
        .order_by(Case.updated_at)
        .limit(QUEUE_LIMIT)
    ).all()


def _packets_ready() -> list[Row]:
    """Final packets built and stored, not yet recorded as sent."""
    return db.session.execute(
        select(
            Packet.packet_type, Packet.bates_prefix, Packet.bates_first, Case.ref.label("case_ref")
        )
        .join(Case, Case.id == Packet.case_id)
        .where(
            Packet.status == "stored",
            Packet.draft.is_(False),
            Packet.sent_on.is_(None),
            Packet.packet_type != "memo",
        )
        .order_by(Packet.requested_at.desc())
        .limit(QUEUE_LIMIT)
    ).all()


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
    reviews = my_reviews(current_user, now, horizon_days=7)
    counsel = current_user.role == "counsel"
    mine = db.session.execute(
        select(Case.ref, Case.title, Case.state, Case.next_review_at)
        .where(and_(Case.owner_id == current_user.id, Case.state.in_(OPEN_STATES)))
        .order_by(Case.next_review_at.asc().nulls_last(), Case.updated_at.desc())
        .limit(QUEUE_LIMIT)
    ).all()
    new_reports = db.session.execute(
        select(Case.ref, Case.title, Case.severity)
        .where(Case.state == "reported")
        .order_by(Case.created_at.desc())
        .limit(QUEUE_LIMIT)
    ).all()
    return render_template(
        "web/dashboard.html",
        reviews=reviews,
        mine=mine,
        waiting_approval=_awaiting_my_approval() if counsel else [],
        packets_ready=_packets_ready() if counsel else [],
        new_reports=new_reports,
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
