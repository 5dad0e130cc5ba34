"""The landing page after sign-in."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from compliance.auth.permissions import can
from compliance.cases.models import OPEN_STATES, STATES, Case
from compliance.db import utcnow
from compliance.extensions import db

bp = Blueprint("web", __name__)


@bp.route("/")
@login_required
def dashboard():
    if not can(current_user, "case.view"):
        return redirect(
            url_for("auth.users" if can(current_user, "user.manage") else "auth.no_access")
        )
    counts = dict(db.session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
    mine = db.session.scalars(
        select(Case)
        .where(Case.owner_id == current_user.id, Case.state.in_(OPEN_STATES))
        .order_by(Case.next_review_at.asc().nulls_last(), Case.updated_at.desc())
        .limit(20)
    ).all()
    waiting_approval = []
    if current_user.role == "counsel":
        waiting_approval = db.session.scalars(
            select(Case).where(Case.state == "legal_review").order_by(Case.updated_at).limit(20)
        ).all()
    new_cases = db.session.scalars(
        select(Case).where(Case.state == "reported").order_by(Case.created_at.desc()).limit(10)
    ).all()
    return render_template(
        "web/dashboard.html",
        counts=[(state, counts.get(state, 0)) for state in STATES],
        mine=mine,
        waiting_approval=waiting_approval,
        new_cases=new_cases,
        now=utcnow(),
    )
