"""Completing a review: the record, the outcome and the next review date."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from compliance.actor import Actor
from compliance.audit.chain import record, text_fingerprint
from compliance.auth.permissions import require_permission
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, WorkflowRefused
from compliance.extensions import db
from compliance.reviews.models import (
    OUTCOMES,
    Review,
)
from compliance.reviews.operations.schedules import _set_schedule, cadence_due, find_schedule

MAX_NOTES = 50_000


# ---------------------------------------------------------------- completing reviews
def _review_by_token(token: str) -> Review | None:
    return db.session.scalar(select(Review).where(Review.form_token == token))


def _checked_next(
    requested: datetime | None, default: datetime | None, now: datetime
) -> datetime | None:
    if requested is None or default is None:
        return default
    if requested.tzinfo is None:
        raise InvalidInput("the next review date needs a time zone")
    if requested <= now:
        raise InvalidInput(
            "the next review must be in the future", details={"next_review_at": "after today"}
        )
    if requested > default:
        raise InvalidInput(
            "the next review may be brought forward, never pushed past the cadence",
            details={"next_review_at": f"on or before {default:%Y-%m-%d}"},
        )
    return requested


def _check_may_review(case: Case, actor: Actor, kind: str, outcome: str) -> None:
    """Who may review this kind of review, whether the case is in a state to have one."""
    if kind == "case":
        require_permission(actor, "review.complete")
        if not case.is_open:
            raise WorkflowRefused(f"{case.ref} is {case.state}: reopen it before reviewing it")
    elif kind == "hold":
        # A hold outlives its case's workflow: a closed case under hold is still reviewed.
        require_permission(actor, "hold.manage")
        if not case.legal_hold:
            raise WorkflowRefused(f"{case.ref} is not under legal hold")
    else:
        raise InvalidInput(f"unknown review kind {kind!r}")
    if outcome not in OUTCOMES:
        raise InvalidInput(
            "choose an outcome", details={"outcome": "one of " + ", ".join(OUTCOMES)}
        )


def complete_review(
    case: Case,
    actor: Actor,
    *,
    outcome: str,
    form_token: str,
    notes: str = "",
    next_review_at: datetime | None = None,
    kind: str = "case",
) -> Review:
    """Record a case (or legal-hold) review and set when the next one is due.

    Idempotent per `form_token`, a random value issued with each rendered form: a double
    click posts the same token twice and gets the one review back. A unique constraint on
    the token, not a "same reviewer within N seconds" heuristic, decides: it is exact, holds
    across concurrent requests and processes, and never merges two honest reviews.
    """
    token = (form_token or "").strip()
    if not token or len(token) > 64:
        raise InvalidInput("the review form is missing its token; reload the page")
    existing = _review_by_token(token)
    if existing is not None:
        if existing.subject_id != case.id or existing.kind != kind:
            raise Conflict("this form token was already used for another review")
        return existing

    _check_may_review(case, actor, kind, outcome)
    notes = (notes or "").strip()
    if len(notes) > MAX_NOTES:
        raise InvalidInput("the notes are too long", details={"notes": f"at most {MAX_NOTES}"})

    now = utcnow()
    due = _checked_next(next_review_at, cadence_due(kind, now, case.state), now)
    review = _new_review(case, actor, kind, outcome, notes, token, now, due)
    stored = _insert_once(review)
    if stored is review:
        _schedule_next_and_record(case, actor, review)
    return stored


def _new_review(
    case: Case,
    actor: Actor,
    kind: str,
    outcome: str,
    notes: str,
    token: str,
    now: datetime,
    due: datetime | None,
) -> Review:
    """The review row: who reviewed the case, in which state, when it was and will be due."""
    row = find_schedule(kind, "case", case.id)
    return Review(
        kind=kind,
        subject_type="case",
        subject_id=case.id,
        case_id=case.id,
        case_state=case.state,
        reviewer_id=actor.user_id,
        reviewer=actor.label,
        reviewer_name=actor.name or actor.label,
        reviewed_at=now,
        outcome=outcome,
        notes=notes,
        was_due_at=row.due_at if row is not None else None,
        next_review_at=due,
        form_token=token,
    )


def _insert_once(review: Review) -> Review:
    """Insert the review, or answer with the one its form token already stored."""
    try:
        with db.session.begin_nested():
            db.session.add(review)
    except IntegrityError:
        # The same form, submitted concurrently, won the race: answer with its review.
        winner = _review_by_token(review.form_token)
        if winner is None:
            raise
        return winner
    return review


def _schedule_next_and_record(case: Case, actor: Actor, review: Review) -> None:
    """Set when the next review is due (schedule, and case) and record the completed review."""
    kind, due = review.kind, review.next_review_at
    before = case.snapshot()
    _set_schedule(kind, "case", case.id, case.ref, due, case=case)
    if kind == "case":
        case.next_review_at = due
    db.session.flush()
    record(
        "review.completed",
        actor=actor,
        object_type="review",
        object_id=review.id,
        case=case,
        changes={"next_review_at": {"before": before["next_review_at"], "after": due}}
        if kind == "case"
        else None,
        details={
            "kind": kind,
            "outcome": review.outcome,
            "case_state": case.state,
            "was_due_at": review.was_due_at,
            "next_review_at": due,
            "notes": text_fingerprint(review.notes),
        },
    )


def reviews_for_case(case: Case) -> list[Review]:
    return list(
        db.session.scalars(
            select(Review)
            .where(Review.case_id == case.id)
            .order_by(Review.reviewed_at.desc(), Review.id.desc())
        )
    )
