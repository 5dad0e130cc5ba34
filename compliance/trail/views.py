"""The audit trail for auditors and counsel: filters, chain status, verification, export.

Pages read the last recorded verification and checkpoint instead of re-verifying a million
events per view; an auditor can start a full verification from the page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from compliance.audit.models import AuditCheckpoint, AuditEvent
from compliance.auth.access import current_actor, require
from compliance.auth.permissions import can
from compliance.backup import last_drill
from compliance.cases.models import Case
from compliance.errors import InvalidInput
from compliance.extensions import db
from compliance.trail.checkpoints import (
    checkpoint_file,
    last_verification,
    latest_checkpoint,
    run_verification,
)
from compliance.trail.export import FORMATS, export_audit
from compliance.trail.present import present_events
from compliance.web.paging import int_arg
from compliance.web.transaction import transactional

bp = Blueprint("audit", __name__, url_prefix="/audit")
PER_PAGE = 50
FILTERS = ("since", "until", "actor", "action", "case", "object_type", "object_id")


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip() or request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as error:
        raise InvalidInput(f"{name}: not an ISO 8601 date or time", {name: raw}) from error
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _seq_bound(since: datetime | None, until: datetime | None) -> tuple[int | None, int | None]:
    """Time filters become seq bounds (two index lookups), so every filter pages by seq."""
    low = high = None
    if since is not None:
        low = db.session.scalar(
            select(func.min(AuditEvent.seq)).where(AuditEvent.occurred_at >= since)
        )
        low = low if low is not None else 1 << 62
    if until is not None:
        high = db.session.scalar(
            select(func.max(AuditEvent.seq)).where(AuditEvent.occurred_at < until)
        )
        high = high if high is not None else 0
    return low, high


@bp.route("/")
@require("audit.view")
def index():
    filters = {name: request.args.get(name, "").strip() for name in FILTERS}
    query = select(AuditEvent)
    for name, column in (
        ("actor", AuditEvent.actor),
        ("action", AuditEvent.action),
        ("case", AuditEvent.case_ref),
        ("object_type", AuditEvent.object_type),
        ("object_id", AuditEvent.object_id),
    ):
        if filters[name]:
            query = query.where(column == filters[name])
    low, high = _seq_bound(_time_arg("since"), _time_arg("until"))
    if low is not None:
        query = query.where(AuditEvent.seq >= low)
    if high is not None:
        query = query.where(AuditEvent.seq <= high)
    before = int_arg("before")
    if before:
        query = query.where(AuditEvent.seq < before)
    # Keyset pagination on the sequence number: constant cost at any depth of the log.
    events = db.session.scalars(query.order_by(AuditEvent.seq.desc()).limit(PER_PAGE + 1)).all()
    has_more = len(events) > PER_PAGE
    events = events[:PER_PAGE]
    head = db.session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return render_template(
        "audit/index.html",
        events=present_events(events, link=url_for),
        filters=filters,
        active_filters={k: v for k, v in filters.items() if v},
        next_before=events[-1].seq if has_more and events else None,
        head=head,
        verification=last_verification(),
        checkpoint=latest_checkpoint(),
        drill=last_drill(),
        formats=FORMATS,
    )


@bp.route("/verify", methods=["POST"])
@require("audit.view")
@transactional
def verify():
    report = run_verification(current_actor())
    if report.ok:
        flash(
            f"Audit chain verified: {report.count} events, head seq={report.head_seq}.", "success"
        )
    else:
        flash(f"Audit chain BROKEN at seq={report.bad_seq}: {report.problem}", "error")
    return redirect(url_for("audit.index"))


@bp.route("/checkpoints/<int:checkpoint_id>")
@require("audit.view")
def checkpoint_download(checkpoint_id: int):
    """The signed checkpoint file, from the evidence store (whichever host wrote it)."""
    checkpoint = db.session.get(AuditCheckpoint, checkpoint_id) or abort(404)
    return Response(
        checkpoint_file(checkpoint),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{checkpoint.file_name}"',
            "X-Content-SHA256": checkpoint.sha256 or "",
        },
    )


@bp.route("/export", methods=["POST"])
@require("audit.export")
@transactional
def export():
    export = export_audit(
        current_actor(),
        request.form.get("format", "json"),
        since=_time_arg("since"),
        until=_time_arg("until"),
        case_ref=request.form.get("case", "").strip() or None,
    )
    return Response(
        export.content,
        mimetype=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.file_name}"',
            "X-Content-SHA256": export.sha256,
        },
    )


CASE_TAB_EVENTS = 50


def _links_for(actor: Any):
    """URLs for the case tab: a person links to their audit trail only for who may read it."""
    if can(actor, "audit.view"):
        return url_for
    return lambda endpoint, **values: (
        None if endpoint == "audit.index" else url_for(endpoint, **values)
    )


def _case_audit(case: Case, actor: Any) -> dict[str, Any]:
    """The case's audit tab: its own events and those of every case merged into it."""
    from compliance.cases.retention import history_refs

    refs = history_refs(case.ref)
    query = select(AuditEvent).where(AuditEvent.case_ref.in_(refs))
    before = int_arg("before")
    if before:
        query = query.where(AuditEvent.seq < before)
    events = db.session.scalars(
        query.order_by(AuditEvent.seq.desc()).limit(CASE_TAB_EVENTS + 1)
    ).all()
    has_more = len(events) > CASE_TAB_EVENTS
    events = events[:CASE_TAB_EVENTS]
    return {
        "events": present_events(events, link=_links_for(actor)),
        "merged_refs": refs[1:],
        "next_before": events[-1].seq if has_more and events else None,
        "newest": bool(before),
    }


# The audit trail owns the case's audit tab: selecting by ref keeps merged cases' histories
# (and survives row-id reuse after a deletion on SQLite). Replaces the foundation's version.
