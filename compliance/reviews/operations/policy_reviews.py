"""Annual reviews of policy documents (the policies capability keeps their dates)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.chain import record, text_fingerprint
from compliance.auth.models import User
from compliance.auth.permissions import require_permission
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput
from compliance.extensions import db
from compliance.policies.models import PolicyDocument
from compliance.policies.operations import schedule_review
from compliance.reviews.models import (
    OUTCOMES,
    Review,
)
from compliance.reviews.operations.completion import _review_by_token
from compliance.reviews.operations.schedules import _set_schedule, cadence_due, find_schedule


def policy_owner_id(policy_id: int) -> int | None:
    """The user (matched by e-mail) who owns a policy document, if that user exists."""
    document = db.session.get(PolicyDocument, policy_id)
    if document is None or not document.owner:
        return None
    return db.session.scalar(
        select(User.id).where(func.lower(User.email) == document.owner.strip().lower())
    )


def _policy_due(document: PolicyDocument) -> datetime:
    # A policy's review is kept as a calendar date: due at the start of that day, UTC.
    return datetime.combine(document.next_review_on, time.min, tzinfo=UTC)


def sync_policy_annual_reviews(now: datetime, actor: Actor) -> dict[str, int]:
    """Policy documents get an annual review, due on the date the policies capability keeps."""
    scheduled = 0
    for document in db.session.scalars(select(PolicyDocument).order_by(PolicyDocument.id)):
        due = _policy_due(document)
        row = find_schedule("policy", "policy", document.id)
        if row is not None and row.is_open and row.due_at == due:
            continue
        row = _set_schedule("policy", "policy", document.id, document.title, due)
        db.session.flush()
        record(
            "review.scheduled",
            actor=actor,
            object_type="policy_document",
            object_id=document.id,
            details={"kind": "policy", "due_at": due},
        )
        scheduled += 1
    return {"policy_reviews_scheduled": scheduled}


def complete_policy_review(
    document: PolicyDocument,
    actor: Actor,
    *,
    outcome: str,
    form_token: str,
    notes: str = "",
    next_review_on: date | None = None,
) -> Review:
    """Record a policy document's annual review and move its next review date (at most a
    year ahead). Counsel and admins review policies (`policy.review`)."""
    require_permission(actor, "policy.review")
    token = (form_token or "").strip()
    if not token or len(token) > 64:
        raise InvalidInput("the review form is missing its token; reload the page")
    existing = _review_by_token(token)
    if existing is not None:
        if existing.kind != "policy" or existing.subject_id != document.id:
            raise Conflict("this form token was already used for another review")
        return existing
    if outcome not in OUTCOMES:
        raise InvalidInput("choose an outcome", details={"outcome": ", ".join(OUTCOMES)})
    now = utcnow()
    default = cadence_due("policy", now).date()
    next_on = next_review_on or default
    if not now.date() < next_on <= default:
        raise InvalidInput(
            "the next policy review must fall within the coming year",
            details={"next_review_on": f"after today, on or before {default.isoformat()}"},
        )
    row = find_schedule("policy", "policy", document.id)
    review = Review(
        kind="policy",
        subject_type="policy",
        subject_id=document.id,
        reviewer_id=actor.user_id,
        reviewer=actor.label,
        reviewer_name=actor.name or actor.label,
        reviewed_at=now,
        outcome=outcome,
        notes=(notes or "").strip(),
        was_due_at=row.due_at if row is not None else _policy_due(document),
        next_review_at=datetime.combine(next_on, time.min, tzinfo=UTC),
        form_token=token,
    )
    db.session.add(review)
    schedule_review(actor, document, next_on)
    _set_schedule("policy", "policy", document.id, document.title, review.next_review_at)
    db.session.flush()
    record(
        "review.completed",
        actor=actor,
        object_type="policy_document",
        object_id=document.id,
        details={
            "kind": "policy",
            "outcome": outcome,
            "was_due_at": review.was_due_at,
            "next_review_at": review.next_review_at,
            "notes": text_fingerprint(review.notes),
        },
    )
    return review
