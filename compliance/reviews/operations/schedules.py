"""Review schedules: cadences, scheduling case and hold reviews, what is due.

Operations flush and audit in the caller's transaction; they never commit. The scheduler's
jobs (tasks.py) call them and commit one subject at a time, so a job killed half-way keeps
what it finished and redoes the rest; unique constraints make a redo harmless.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, select

from compliance.actor import Actor
from compliance.audit.chain import PendingEvent, record, record_many
from compliance.audit.models import AuditEvent
from compliance.cases.models import Case
from compliance.db import chunked, utcnow
from compliance.errors import InvalidInput
from compliance.extensions import db
from compliance.reviews.models import (
    ReviewSchedule,
)

STATUS_RANK = {"scheduled": 0, "due": 1, "overdue": 2, "escalated": 3}


# ---------------------------------------------------------------- cadences
def cadence_days(state: str) -> int | None:
    """Days between reviews for a case in `state`; None for states that need no review."""
    return current_app.config["REVIEW_CADENCE_DAYS"].get(state)


def cadence_due(kind: str, start: datetime, state: str | None = None) -> datetime | None:
    """When the next review of this kind falls due, counting from `start`."""
    if kind == "case":
        days = cadence_days(state or "")
        return None if days is None else start + timedelta(days=days)
    if kind == "hold":
        return start + timedelta(days=current_app.config["HOLD_REVIEW_DAYS"])
    if kind == "policy":
        return start + timedelta(days=current_app.config["POLICY_REVIEW_DAYS"])
    raise InvalidInput(f"unknown review kind {kind!r}")


def status_at(due_at: datetime, now: datetime) -> str:
    """Where a review stands at `now`: scheduled, due (notice window), overdue or escalated."""
    config = current_app.config
    if now >= due_at + timedelta(days=config["REVIEW_ESCALATE_AFTER_DAYS"]):
        return "escalated"
    if now > due_at:
        return "overdue"
    if now >= due_at - timedelta(hours=config["REVIEW_DUE_NOTICE_HOURS"]):
        return "due"
    return "scheduled"


def find_schedule(kind: str, subject_type: str, subject_id: int) -> ReviewSchedule | None:
    return db.session.scalar(
        select(ReviewSchedule).where(
            ReviewSchedule.kind == kind,
            ReviewSchedule.subject_type == subject_type,
            ReviewSchedule.subject_id == subject_id,
        )
    )


def _set_schedule(
    kind: str,
    subject_type: str,
    subject_id: int,
    label: str,
    due_at: datetime,
    case: Case | None = None,
) -> ReviewSchedule:
    row = find_schedule(kind, subject_type, subject_id)
    if row is None:
        row = ReviewSchedule(kind=kind, subject_type=subject_type, subject_id=subject_id, case=case)
        db.session.add(row)
    return _reschedule(row, label, due_at)


def _reschedule(row: ReviewSchedule, label: str, due_at: datetime) -> ReviewSchedule:
    row.subject_label, row.due_at = label, due_at
    row.status, row.status_changed_at = "scheduled", utcnow()
    return row


def _close_schedule(row: ReviewSchedule | None) -> bool:
    if row is None or row.status == "done":
        return False
    row.status, row.status_changed_at = "done", utcnow()
    return True


def schedule_case_reviews(cases: list[Case], actor: Actor) -> None:
    """State-entered hook: a case's next review counts from the moment it enters a state.

    States without a cadence (closed, dismissed) clear the date: nothing is due for them.
    Takes several cases because a batch of findings opens tens at once: one query for their
    schedules and one audit append for all of them.
    """
    now = utcnow()
    schedules: dict[int, ReviewSchedule] = {}
    for chunk in chunked([case.id for case in cases]):
        schedules.update(
            (row.subject_id, row)
            for row in db.session.scalars(
                select(ReviewSchedule).where(
                    ReviewSchedule.kind == "case",
                    ReviewSchedule.subject_type == "case",
                    ReviewSchedule.subject_id.in_(chunk),
                )
            )
        )
    events: list[PendingEvent] = []
    for case in cases:
        due = cadence_due("case", now, case.state)
        row = schedules.get(case.id)
        if due is None:
            case.next_review_at = None
            if _close_schedule(row):
                events.append(
                    PendingEvent(
                        "review.cleared",
                        object_type="case",
                        object_id=case.id,
                        case=case,
                        details={"kind": "case", "state": case.state},
                    )
                )
            continue
        case.next_review_at = due
        if row is None:
            row = ReviewSchedule(kind="case", subject_type="case", subject_id=case.id, case=case)
            db.session.add(row)
        _reschedule(row, case.ref, due)
        events.append(
            PendingEvent(
                "review.scheduled",
                object_type="case",
                object_id=case.id,
                case=case,
                details={"kind": "case", "state": case.state, "due_at": due},
            )
        )
    record_many(events, actor=actor)  # flushes the schedules first


def reviews_reaching(statuses: Iterable[str], threshold: datetime) -> list[int]:
    """Ids of open schedule rows in `statuses` whose due date is at or before `threshold`."""
    return list(
        db.session.scalars(
            select(ReviewSchedule.id)
            .where(ReviewSchedule.status.in_(list(statuses)), ReviewSchedule.due_at <= threshold)
            .order_by(ReviewSchedule.due_at, ReviewSchedule.id)
        )
    )


def due_pass_candidates(now: datetime) -> list[int]:
    """Reviews not yet overdue whose notice window has opened."""
    notice = timedelta(hours=current_app.config["REVIEW_DUE_NOTICE_HOURS"])
    return reviews_reaching(("scheduled", "due"), now + notice)


def escalation_candidates(now: datetime) -> list[int]:
    """Reviews overdue past the escalation threshold and not yet escalated."""
    threshold = now - timedelta(days=current_app.config["REVIEW_ESCALATE_AFTER_DAYS"])
    return reviews_reaching(("scheduled", "due", "overdue"), threshold)


# ---------------------------------------------------------------- holds, case drift, policies
def _hold_placed_at(case: Case) -> datetime | None:
    return db.session.scalar(
        select(func.max(AuditEvent.occurred_at)).where(
            AuditEvent.case_id == case.id, AuditEvent.action == "hold.placed"
        )
    )


def _cases_without_open_schedule(kind: str, condition: Any) -> list[Case]:
    """Cases matching `condition` that have no open review schedule of this kind."""
    return list(
        db.session.scalars(
            select(Case)
            .outerjoin(
                ReviewSchedule,
                and_(
                    ReviewSchedule.kind == kind,
                    ReviewSchedule.subject_type == "case",
                    ReviewSchedule.subject_id == Case.id,
                    ReviewSchedule.status != "done",
                ),
            )
            .where(condition, ReviewSchedule.id.is_(None))
        )
    )


def sync_hold_reviews(now: datetime, actor: Actor) -> dict[str, int]:
    """Every case under legal hold has a hold review every HOLD_REVIEW_DAYS; released holds
    have none. Holds are placed by the cases capability, so this reconciles rather than hooks.
    """
    held_without = _cases_without_open_schedule("hold", Case.legal_hold.is_(True))
    for case in held_without:
        due = cadence_due("hold", _hold_placed_at(case) or now)
        row = _set_schedule("hold", "case", case.id, case.ref, due, case=case)
        db.session.flush()
        record(
            "review.scheduled",
            actor=actor,
            object_type="review_schedule",
            object_id=row.id,
            case=case,
            details={"kind": "hold", "due_at": due},
        )
    released = db.session.scalars(
        select(ReviewSchedule)
        .join(Case, Case.id == ReviewSchedule.case_id)
        .where(
            ReviewSchedule.kind == "hold",
            ReviewSchedule.status != "done",
            Case.legal_hold.is_(False),
        )
    ).all()
    for row in released:
        _close_schedule(row)
        db.session.flush()
        record(
            "review.cleared",
            actor=actor,
            object_type="review_schedule",
            object_id=row.id,
            case=row.case,
            details={"kind": "hold", "reason": "hold released"},
        )
    return {"hold_reviews_scheduled": len(held_without), "hold_reviews_cleared": len(released)}


def sync_case_reviews(now: datetime, actor: Actor) -> dict[str, int]:
    """Open cases without a scheduled review get one (nothing slips through unscheduled)."""
    from compliance.cases.models import OPEN_STATES

    missing = _cases_without_open_schedule("case", Case.state.in_(OPEN_STATES))
    for case in missing:
        due = case.next_review_at or cadence_due("case", now, case.state)
        case.next_review_at = due
        row = _set_schedule("case", "case", case.id, case.ref, due, case=case)
        db.session.flush()
        record(
            "review.scheduled",
            actor=actor,
            object_type="review_schedule",
            object_id=row.id,
            case=case,
            details={"kind": "case", "due_at": due, "reason": "case had no scheduled review"},
        )
    return {"case_reviews_scheduled": len(missing)}


# ---------------------------------------------------------------- cases merged away
def close_reviews_of_merged_case(source: Case, target: Case, actor: Actor) -> dict[str, int]:
    """Merge hook: the merged-away case needs no more reviews (the target keeps its own)."""
    rows = db.session.scalars(
        select(ReviewSchedule).where(
            ReviewSchedule.subject_type == "case",
            ReviewSchedule.subject_id == source.id,
            ReviewSchedule.status != "done",
        )
    ).all()
    for row in rows:
        _close_schedule(row)
    had_next_review = source.next_review_at is not None
    source.next_review_at = None
    db.session.flush()
    if rows or had_next_review:
        record(
            "review.cleared",
            actor=actor,
            object_type="case",
            object_id=source.id,
            case=source,
            details={
                "kinds": sorted({row.kind for row in rows}),
                "reason": f"merged into {target.ref}",
            },
        )
    return {"review_schedules_closed": len(rows)} if rows else {}
