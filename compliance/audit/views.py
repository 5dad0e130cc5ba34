"""The audit trail for auditors and counsel: filterable, paginated by sequence number."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.auth.permissions import require
from compliance.extensions import db

bp = Blueprint("audit", __name__, url_prefix="/audit")
PER_PAGE = 50


@bp.route("/")
@require("audit.view")
def index():
    filters = {
        "actor": request.args.get("actor", "").strip(),
        "action": request.args.get("action", "").strip(),
        "case": request.args.get("case", "").strip(),
    }
    query = select(AuditEvent)
    if filters["actor"]:
        query = query.where(AuditEvent.actor == filters["actor"])
    if filters["action"]:
        query = query.where(AuditEvent.action == filters["action"])
    if filters["case"]:
        query = query.where(AuditEvent.case_ref == filters["case"])
    before = request.args.get("before", type=int)
    if before:
        query = query.where(AuditEvent.seq < before)
    # Keyset pagination on the sequence number: constant cost at any depth of the log.
    events = db.session.scalars(query.order_by(AuditEvent.seq.desc()).limit(PER_PAGE + 1)).all()
    has_more = len(events) > PER_PAGE
    events = events[:PER_PAGE]
    return render_template(
        "audit/index.html",
        events=events,
        filters=filters,
        next_before=events[-1].seq if has_more else None,
    )
