"""Business rules for periodic reviews: cadences, completing reviews, due/overdue/escalation,
notifications and the e-mail outbox.

Operations flush and audit in the caller's transaction; they never commit. The scheduler's
jobs (tasks.py) call them and commit one subject at a time, so a job killed half-way keeps
what it finished and redoes the rest; unique constraints make a redo harmless.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from compliance.audit.chain import PendingEvent, record, record_many, text_fingerprint
from compliance.audit.models import AuditEvent
from compliance.auth.actor import Actor
from compliance.auth.models import User
from compliance.auth.permissions import can, require_permission
from compliance.cases.models import Case
from compliance.db import chunked, utcnow
from compliance.errors import Conflict, InvalidInput, PermissionDenied, WorkflowRefused
from compliance.extensions import db
from compliance.reviews.models import (
    OUTCOMES,
    Notification,
    OutboxEmail,
    Review,
    ReviewSchedule,
)

STATUS_RANK = {"scheduled": 0, "due": 1, "overdue": 2, "escalated": 3}
NOTIFICATION_FOR_STATUS = {
    "due": "review_due",
    "overdue": "review_overdue",
    "escalated": "review_escalated",
}
KIND_LABEL = {"case": "Case review", "hold": "Legal-hold review", "policy": "Annual policy review"}
MAX_NOTES = 50_000
MAX_EMAIL_ATTEMPTS = 5


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
    notes = (notes or "").strip()
    if len(notes) > MAX_NOTES:
        raise InvalidInput("the notes are too long", details={"notes": f"at most {MAX_NOTES}"})

    now = utcnow()
    due = _checked_next(next_review_at, cadence_due(kind, now, case.state), now)
    row = find_schedule(kind, "case", case.id)
    review = Review(
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
    try:
        with db.session.begin_nested():
            db.session.add(review)
    except IntegrityError:
        # The same form, submitted concurrently, won the race: answer with its review.
        winner = _review_by_token(token)
        if winner is None:
            raise
        return winner

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
            "outcome": outcome,
            "case_state": case.state,
            "was_due_at": review.was_due_at,
            "next_review_at": due,
            "notes": text_fingerprint(notes),
        },
    )
    return review


def reviews_for_case(case: Case) -> list[Review]:
    return list(
        db.session.scalars(
            select(Review)
            .where(Review.case_id == case.id)
            .order_by(Review.reviewed_at.desc(), Review.id.desc())
        )
    )


# ---------------------------------------------------------------- due, overdue, escalated
def _active_users(role: str) -> list[User]:
    return list(db.session.scalars(select(User).where(User.role == role, User.active)))


def recipients_for(row: ReviewSchedule, status: str) -> list[User]:
    """Who is told about this review: its owner; counsel when nobody owns it or it escalates."""
    people: list[User] = []
    if row.kind == "case" and row.case is not None:
        owner = row.case.owner
        if owner is not None and owner.active:
            people.append(owner)
        if not people or status == "escalated":
            people.extend(_active_users("counsel"))
    elif row.kind == "hold":
        people.extend(_active_users("counsel"))
    elif row.kind == "policy":
        owner_id = policy_owner_id(row.subject_id)
        owner = db.session.get(User, owner_id) if owner_id else None
        if owner is not None and owner.active:
            people.append(owner)
        if not people or status == "escalated":
            people.extend(_active_users("admin"))
    unique: dict[int, User] = {u.id: u for u in people}
    return list(unique.values())


def _link_for(row: ReviewSchedule) -> str:
    if row.subject_type == "case" and row.case is not None:
        return f"/cases/{row.case.ref}?tab=reviews"
    model = _policy_model() if row.kind == "policy" else None
    document = db.session.get(model, row.subject_id) if model is not None else None
    return f"/policies/{document.key}/" if document is not None else "/reviews/team"


def _message(row: ReviewSchedule, status: str) -> tuple[str, str]:
    what = f"{KIND_LABEL[row.kind]} of {row.subject_label}"
    when = row.due_at.strftime("%Y-%m-%d %H:%M UTC")
    if status == "due":
        return f"Review due: {row.subject_label}", f"{what} is due on {when}."
    if status == "overdue":
        return f"Review overdue: {row.subject_label}", f"{what} was due on {when} and is overdue."
    return (
        f"Escalated: review of {row.subject_label} overdue",
        f"{what} was due on {when}. It is overdue by more than "
        f"{current_app.config['REVIEW_ESCALATE_AFTER_DAYS']} days and has been escalated "
        "to counsel.",
    )


def _insert_ignoring_duplicates(values: dict[str, Any]) -> int | None:
    """Insert a notification unless the same one exists; the new id, or None if it existed.

    ON CONFLICT DO NOTHING rather than check-then-insert: two schedulers overlapping during a
    fail-over, or a job re-run after a crash, cannot create a second copy.
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(Notification)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["recipient_id", "subject_type", "subject_id", "due_at", "kind"]
        )
        .returning(Notification.id)
    )
    return db.session.execute(stmt).scalar()


def notify(
    row: ReviewSchedule, status: str, now: datetime, actor: Actor | None = None
) -> list[int]:
    """Create the in-app notification (and its e-mail) for each recipient, at most once each.

    Audited when it creates any (`actor` defaults to the notifying job's system actor).
    """
    kind = NOTIFICATION_FOR_STATUS[status]
    title, body = _message(row, status)
    link = _link_for(row)
    created = []
    for user in recipients_for(row, status):
        notification_id = _insert_ignoring_duplicates(
            {
                "recipient_id": user.id,
                "kind": kind,
                "subject_type": row.subject_type,
                "subject_id": row.subject_id,
                "due_at": row.due_at,
                "case_ref": row.case.ref if row.case is not None else None,
                "title": title,
                "body": body,
                "link": link,
                "created_at": now,
            }
        )
        if notification_id is None:
            continue
        created.append(notification_id)
        db.session.add(
            OutboxEmail(
                notification_id=notification_id,
                recipient=user.email,
                subject=f"[Compliance] {title}",
                body=f"{body}\n\nOpen: {current_app.config['PUBLIC_URL'].rstrip('/')}{link}\n",
                created_at=now,
                next_attempt_at=now,
            )
        )
    db.session.flush()
    if created:
        record(
            "notification.created",
            actor=actor or Actor.system("review-notifications"),
            object_type="review_schedule",
            object_id=row.id,
            case=row.case,
            details={"kind": kind, "subject": row.subject_label, "notification_ids": created},
        )
    return created


def advance_review(row: ReviewSchedule, target: str, now: datetime, actor: Actor) -> bool:
    """Move a scheduled review forward to `target` and tell the right people; False if no-op.

    After downtime a review may jump several steps at once (due -> escalated): the people are
    told about where it stands now, once, and the audit event names the skipped steps.
    """
    if row.status == "done" or STATUS_RANK[target] <= STATUS_RANK[row.status]:
        return False
    before = row.status
    row.status, row.status_changed_at = target, now
    created = notify(row, target, now, actor)
    record(
        f"review.{target}",
        actor=actor,
        object_type="review_schedule",
        object_id=row.id,
        case=row.case,
        changes={"status": {"before": before, "after": target}},
        details={
            "kind": row.kind,
            "subject": row.subject_label,
            "due_at": row.due_at,
            "notifications": len(created),
        },
    )
    return True


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


def _policy_model() -> Any:
    """The policies capability's document model, or None where it is not installed."""
    try:
        from compliance.policies.models import PolicyDocument
    except ImportError:
        return None
    return PolicyDocument


def policy_owner_id(policy_id: int) -> int | None:
    """The user (matched by e-mail) who owns a policy document, if that user exists."""
    model = _policy_model()
    document = db.session.get(model, policy_id) if model is not None else None
    if document is None or not document.owner:
        return None
    return db.session.scalar(
        select(User.id).where(func.lower(User.email) == document.owner.strip().lower())
    )


def _policy_due(document: Any) -> datetime:
    # A policy's review is kept as a calendar date: due at the start of that day, UTC.
    return datetime.combine(document.next_review_on, time.min, tzinfo=UTC)


def sync_policy_annual_reviews(now: datetime, actor: Actor) -> dict[str, int]:
    """Policy documents get an annual review, due on the date the policies capability keeps."""
    model = _policy_model()
    if model is None:
        return {"policy_reviews_scheduled": 0}
    scheduled = 0
    for document in db.session.scalars(select(model).order_by(model.id)):
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
    document: Any,
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
    from compliance.policies.operations import schedule_review

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


# ---------------------------------------------------------------- notifications for people
@dataclass(frozen=True)
class ReviewLists:
    overdue: list[ReviewSchedule]
    due: list[ReviewSchedule]
    upcoming: list[ReviewSchedule]


def open_reviews(until: datetime, user: User | None = None) -> list[ReviewSchedule]:
    """Open scheduled reviews due up to `until`, in due order; for one user when given."""
    query = select(ReviewSchedule).where(
        ReviewSchedule.status != "done", ReviewSchedule.due_at <= until
    )
    order = (ReviewSchedule.due_at, ReviewSchedule.id)
    if user is None:
        return list(db.session.scalars(query.order_by(*order)))
    # One query per kind, merged by due date: an OR across the case owner and the kind would
    # walk every open schedule of the team (all cases' rows) to find one person's.
    my_cases = select(Case.id).where(Case.owner_id == user.id)
    parts = [query.where(ReviewSchedule.kind == "case", ReviewSchedule.case_id.in_(my_cases))]
    if user.role == "counsel":
        # Nobody owns these cases (or their owner left): counsel are told of their reviews
        # (recipients_for), so counsel find them among their own work too.
        unowned = (
            select(Case.id)
            .outerjoin(User, User.id == Case.owner_id)
            .where(or_(Case.owner_id.is_(None), User.active.is_(False)))
        )
        parts.append(
            query.where(ReviewSchedule.kind == "case", ReviewSchedule.case_id.in_(unowned))
        )
    kinds = [k for k, p in (("hold", "hold.manage"), ("policy", "policy.review")) if can(user, p)]
    if kinds:
        parts.append(query.where(ReviewSchedule.kind.in_(kinds)))
    rows = [row for part in parts for row in db.session.scalars(part)]
    return sorted(rows, key=lambda row: (row.due_at, row.id))


def my_reviews(user: User, now: datetime, horizon_days: int = 30) -> ReviewLists:
    """A reviewer's work: overdue, due (notice window open) and upcoming within the horizon."""
    rows = open_reviews(now + timedelta(days=horizon_days), user)
    buckets: dict[str, list[ReviewSchedule]] = {"overdue": [], "due": [], "upcoming": []}
    for row in rows:
        state = status_at(row.due_at, now)
        bucket = {"escalated": "overdue", "scheduled": "upcoming"}.get(state, state)
        buckets[bucket].append(row)
    return ReviewLists(**buckets)


def unread_count(user_id: int) -> int:
    return db.session.scalar(
        select(func.count(Notification.id)).where(
            Notification.recipient_id == user_id, Notification.read_at.is_(None)
        )
    )


def mark_read(actor: Actor, notification_ids: list[int] | None = None) -> int:
    """Mark the actor's own notifications read (all unread when no ids are given)."""
    if actor.user_id is None:
        raise PermissionDenied("only a signed-in user has notifications")
    where = [Notification.recipient_id == actor.user_id, Notification.read_at.is_(None)]
    if notification_ids is not None:
        where.append(Notification.id.in_(notification_ids))
    ids = list(db.session.scalars(select(Notification.id).where(*where)))
    if not ids:
        return 0
    db.session.execute(
        update(Notification).where(Notification.id.in_(ids)).values(read_at=utcnow())
    )
    record(
        "notification.read",
        actor=actor,
        object_type="notification",
        object_id=ids[0] if len(ids) == 1 else None,
        details={"notification_ids": ids},
    )
    return len(ids)


# ---------------------------------------------------------------- e-mail outbox
def sendable_emails(now: datetime, limit: int = 50) -> list[int]:
    return list(
        db.session.scalars(
            select(OutboxEmail.id)
            .where(OutboxEmail.status == "queued", OutboxEmail.next_attempt_at <= now)
            .order_by(OutboxEmail.id)
            .limit(limit)
        )
    )


def record_email_attempt(
    email: OutboxEmail, now: datetime, actor: Actor, error: str | None = None
) -> None:
    """Note the outcome of one delivery attempt; retry with back-off, give up after a few."""
    email.attempts += 1
    if error is None:
        email.status, email.sent_at, email.last_error = "sent", now, None
    else:
        email.last_error = error[:2000]
        if email.attempts >= MAX_EMAIL_ATTEMPTS:
            email.status = "failed"
        else:
            email.next_attempt_at = now + timedelta(minutes=2**email.attempts)
    db.session.flush()
    retrying = email.status == "queued"
    record(
        "email.retry_scheduled" if retrying else f"email.{email.status}",
        actor=actor,
        object_type="outbox_email",
        object_id=email.id,
        details={
            "recipient": email.recipient,
            "subject": email.subject,
            "attempts": email.attempts,
            "error": email.last_error,
            **({"next_attempt_at": email.next_attempt_at} if retrying else {}),
        },
    )


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
